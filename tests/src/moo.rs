//! Reader for MOO files (the SingleStepTests "machine opcode operation" format,
//! MOO 1.x), as used by the hardware-captured 80286 single-instruction tests.
//!
//! Layout (all integers little-endian): a sequence of chunks, each
//! `tag[4] | len: u32 | payload[len]`. The file starts with a `MOO ` chunk,
//! optionally followed by `META`, then one `TEST` chunk per test. A `TEST`
//! payload is `index: u32` followed by sub-chunks (`NAME`, `BYTS`, `INIT`,
//! `FINA`, `EXCP`, `HASH`, ...). `INIT`/`FINA` contain `REGS` and `RAM `
//! sub-chunks. Unknown chunks are skipped by their length at every level.
//!
//! All parsing errors are reported as [`MooError`]; the reader never panics
//! on malformed input.

use std::fmt;
use std::io::Read;
use std::path::Path;

/// Error while reading or parsing a MOO file.
#[derive(Debug)]
pub enum MooError {
    /// I/O error (including gzip decoding errors).
    Io(std::io::Error),
    /// The file does not start with a `MOO ` chunk.
    BadMagic([u8; 4]),
    /// A chunk or field runs past the end of its enclosing data.
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Byte offset (within the enclosing payload) where it started.
        offset: usize,
    },
    /// A chunk has an inconsistent or invalid payload.
    Invalid {
        /// What was being read.
        what: &'static str,
        /// Description of the problem.
        detail: String,
    },
    /// A required sub-chunk of a test is absent.
    Missing {
        /// Index of the test (from its `TEST` chunk).
        test: u32,
        /// Tag of the missing chunk.
        chunk: &'static str,
    },
}

impl fmt::Display for MooError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MooError::Io(e) => write!(f, "I/O error: {e}"),
            MooError::BadMagic(m) => write!(f, "not a MOO file (magic {m:02x?})"),
            MooError::Truncated { what, offset } => {
                write!(f, "truncated {what} at offset {offset}")
            }
            MooError::Invalid { what, detail } => write!(f, "invalid {what}: {detail}"),
            MooError::Missing { test, chunk } => {
                write!(f, "test {test}: missing {chunk} chunk")
            }
        }
    }
}

impl std::error::Error for MooError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            MooError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<std::io::Error> for MooError {
    fn from(e: std::io::Error) -> Self {
        MooError::Io(e)
    }
}

/// Register indices in a `REGS` chunk (bit numbers of its mask).
pub mod reg {
    pub const AX: usize = 0;
    pub const BX: usize = 1;
    pub const CX: usize = 2;
    pub const DX: usize = 3;
    pub const CS: usize = 4;
    pub const SS: usize = 5;
    pub const DS: usize = 6;
    pub const ES: usize = 7;
    pub const SP: usize = 8;
    pub const BP: usize = 9;
    pub const SI: usize = 10;
    pub const DI: usize = 11;
    pub const IP: usize = 12;
    pub const FLAGS: usize = 13;
    /// Number of registers in a 16-bit `REGS` chunk.
    pub const COUNT: usize = 14;
    /// Register names, indexed by bit number.
    pub const NAMES: [&str; COUNT] = [
        "ax", "bx", "cx", "dx", "cs", "ss", "ds", "es", "sp", "bp", "si", "di", "ip", "flags",
    ];
}

/// A 16-bit register set: `mask` bit `i` set means `values[i]` is present.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Regs {
    pub mask: u16,
    pub values: [u16; reg::COUNT],
}

impl Regs {
    /// The value of register `i` if present.
    pub fn get(&self, i: usize) -> Option<u16> {
        (i < reg::COUNT && self.mask & (1 << i) != 0).then(|| self.values[i])
    }

    /// `base` with every register present in `self` overwritten.
    pub fn overlay(&self, base: &Regs) -> Regs {
        let mut out = base.clone();
        for i in 0..reg::COUNT {
            if let Some(v) = self.get(i) {
                out.values[i] = v;
                out.mask |= 1 << i;
            }
        }
        out
    }
}

/// CPU state (registers plus RAM bytes) of an `INIT` or `FINA` chunk.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct State {
    pub regs: Regs,
    /// `(physical address, value)` pairs, in file order.
    pub ram: Vec<(u32, u8)>,
}

/// `EXCP` chunk: an exception or interrupt was taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exception {
    pub number: u8,
    /// Physical address of the pushed FLAGS word as recorded upstream
    /// (one byte too low when SP was odd; see the suite's README).
    pub flags_address: u32,
}

/// One test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Test {
    /// Index from the `TEST` chunk.
    pub index: u32,
    /// Disassembly (`NAME`).
    pub name: String,
    /// Instruction bytes including prefixes, normally followed by F4 (`BYTS`).
    pub bytes: Vec<u8>,
    pub init: State,
    /// Final state: only registers and bytes that changed.
    pub fina: State,
    pub exception: Option<Exception>,
    /// SHA-1 identity of the test (`HASH`), if present.
    pub hash: Option<[u8; 20]>,
}

impl Test {
    /// The hash as lowercase hex (empty if absent).
    pub fn hash_hex(&self) -> String {
        self.hash
            .map(|h| h.iter().map(|b| format!("{b:02x}")).collect())
            .unwrap_or_default()
    }
}

/// `META` chunk.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Meta {
    pub set_major: u8,
    pub set_minor: u8,
    pub cpu_type: u8,
    pub opcode: u32,
    /// Mnemonic with the space padding removed.
    pub mnemonic: String,
    pub test_ct: u32,
    pub file_seed: u64,
    pub cpu_mode: u8,
    pub extension: u8,
}

/// A parsed MOO file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MooFile {
    pub major: u8,
    pub minor: u8,
    /// Test count declared in the header.
    pub test_count: u32,
    pub cpu_id: [u8; 4],
    pub meta: Option<Meta>,
    pub tests: Vec<Test>,
}

/// Reads a MOO file, gunzipping it if it starts with the gzip magic.
pub fn read_file(path: impl AsRef<Path>) -> Result<MooFile, MooError> {
    let raw = std::fs::read(path)?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut data = Vec::with_capacity(raw.len() * 8);
        flate2::read::GzDecoder::new(&raw[..]).read_to_end(&mut data)?;
        parse(&data)
    } else {
        parse(&raw)
    }
}

/// Little-endian cursor over a byte slice with typed truncation errors.
struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(data: &'a [u8]) -> Self {
        Cursor { data, pos: 0 }
    }

    fn at_end(&self) -> bool {
        self.pos >= self.data.len()
    }

    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], MooError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.data.len())
            .ok_or(MooError::Truncated {
                what,
                offset: self.pos,
            })?;
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], MooError> {
        let s = self.take(N, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, MooError> {
        Ok(self.array::<1>(what)?[0])
    }

    fn u16(&mut self, what: &'static str) -> Result<u16, MooError> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, MooError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    fn u64(&mut self, what: &'static str) -> Result<u64, MooError> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// Reads a chunk header and returns `(tag, payload)`.
    fn chunk(&mut self) -> Result<([u8; 4], &'a [u8]), MooError> {
        let tag = self.array::<4>("chunk tag")?;
        let len = self.u32("chunk length")? as usize;
        let payload = self.take(len, "chunk payload")?;
        Ok((tag, payload))
    }

    /// Requires that the whole payload was consumed.
    fn finish(&self, what: &'static str) -> Result<(), MooError> {
        if self.at_end() {
            Ok(())
        } else {
            Err(MooError::Invalid {
                what,
                detail: format!(
                    "{} trailing bytes after {} consumed",
                    self.data.len() - self.pos,
                    self.pos
                ),
            })
        }
    }
}

/// Parses an (uncompressed) MOO file.
pub fn parse(data: &[u8]) -> Result<MooFile, MooError> {
    let mut cur = Cursor::new(data);
    let (tag, payload) = match cur.chunk() {
        Ok(c) => c,
        Err(e) => {
            // Report a wrong magic in preference to a truncation error.
            if data.len() >= 4 && &data[..4] != b"MOO " {
                let mut m = [0u8; 4];
                m.copy_from_slice(&data[..4]);
                return Err(MooError::BadMagic(m));
            }
            return Err(e);
        }
    };
    if &tag != b"MOO " {
        return Err(MooError::BadMagic(tag));
    }
    let mut h = Cursor::new(payload);
    let mut file = MooFile {
        major: h.u8("MOO header")?,
        minor: h.u8("MOO header")?,
        ..Default::default()
    };
    h.take(2, "MOO header")?;
    file.test_count = h.u32("MOO header")?;
    file.cpu_id = h.array("MOO header")?;
    if file.major != 1 {
        return Err(MooError::Invalid {
            what: "MOO header",
            detail: format!("unsupported major version {}", file.major),
        });
    }
    file.tests.reserve(file.test_count.min(1 << 20) as usize);

    while !cur.at_end() {
        let (tag, payload) = cur.chunk()?;
        match &tag {
            b"META" => file.meta = Some(parse_meta(payload)?),
            b"TEST" => file.tests.push(parse_test(payload)?),
            _ => {}
        }
    }
    if file.tests.len() != file.test_count as usize {
        return Err(MooError::Invalid {
            what: "MOO header",
            detail: format!(
                "header declares {} tests, file holds {}",
                file.test_count,
                file.tests.len()
            ),
        });
    }
    Ok(file)
}

fn parse_meta(payload: &[u8]) -> Result<Meta, MooError> {
    let mut c = Cursor::new(payload);
    let set_major = c.u8("META")?;
    let set_minor = c.u8("META")?;
    let cpu_type = c.u8("META")?;
    let opcode = c.u32("META")?;
    let mnemonic = c.take(8, "META")?;
    let mnemonic = String::from_utf8_lossy(mnemonic).trim_end().to_string();
    let test_ct = c.u32("META")?;
    let file_seed = c.u64("META")?;
    let cpu_mode = c.u8("META")?;
    // Optional trailing bytes: the first is the group extension.
    let extension = if c.at_end() { 0 } else { c.u8("META")? };
    Ok(Meta {
        set_major,
        set_minor,
        cpu_type,
        opcode,
        mnemonic,
        test_ct,
        file_seed,
        cpu_mode,
        extension,
    })
}

/// Parses a length-prefixed byte string (`n: u32 | n bytes`) filling `payload`.
fn parse_counted<'a>(payload: &'a [u8], what: &'static str) -> Result<&'a [u8], MooError> {
    let mut c = Cursor::new(payload);
    let n = c.u32(what)? as usize;
    let s = c.take(n, what)?;
    c.finish(what)?;
    Ok(s)
}

fn parse_test(payload: &[u8]) -> Result<Test, MooError> {
    let mut c = Cursor::new(payload);
    let index = c.u32("TEST index")?;
    let mut name = None;
    let mut bytes = None;
    let mut init = None;
    let mut fina = None;
    let mut exception = None;
    let mut hash = None;
    while !c.at_end() {
        let (tag, p) = c.chunk()?;
        match &tag {
            b"NAME" => {
                name = Some(String::from_utf8_lossy(parse_counted(p, "NAME")?).into_owned());
            }
            b"BYTS" => bytes = Some(parse_counted(p, "BYTS")?.to_vec()),
            b"INIT" => init = Some(parse_state(p)?),
            b"FINA" => fina = Some(parse_state(p)?),
            b"EXCP" => {
                let mut e = Cursor::new(p);
                let number = e.u8("EXCP")?;
                let flags_address = e.u32("EXCP")?;
                e.finish("EXCP")?;
                exception = Some(Exception {
                    number,
                    flags_address,
                });
            }
            b"HASH" => {
                let mut h = Cursor::new(p);
                hash = Some(h.array::<20>("HASH")?);
                h.finish("HASH")?;
            }
            _ => {}
        }
    }
    let missing = |chunk| MooError::Missing { test: index, chunk };
    Ok(Test {
        index,
        name: name.unwrap_or_default(),
        bytes: bytes.ok_or_else(|| missing("BYTS"))?,
        init: init.ok_or_else(|| missing("INIT"))?,
        fina: fina.ok_or_else(|| missing("FINA"))?,
        exception,
        hash,
    })
}

fn parse_state(payload: &[u8]) -> Result<State, MooError> {
    let mut c = Cursor::new(payload);
    let mut state = State::default();
    while !c.at_end() {
        let (tag, p) = c.chunk()?;
        match &tag {
            b"REGS" => state.regs = parse_regs(p)?,
            b"RAM " => {
                let mut r = Cursor::new(p);
                let count = r.u32("RAM count")? as usize;
                if count.checked_mul(5) != Some(p.len() - 4) {
                    return Err(MooError::Invalid {
                        what: "RAM",
                        detail: format!("count {count} does not match length {}", p.len()),
                    });
                }
                state.ram.reserve(count);
                for _ in 0..count {
                    let addr = r.u32("RAM entry")?;
                    let val = r.u8("RAM entry")?;
                    state.ram.push((addr, val));
                }
            }
            _ => {}
        }
    }
    Ok(state)
}

fn parse_regs(payload: &[u8]) -> Result<Regs, MooError> {
    let mut c = Cursor::new(payload);
    let mask = c.u16("REGS mask")?;
    if mask >> reg::COUNT != 0 {
        return Err(MooError::Invalid {
            what: "REGS",
            detail: format!("mask {mask:#06x} has bits beyond register {}", reg::COUNT),
        });
    }
    let mut regs = Regs {
        mask,
        ..Default::default()
    };
    for (i, v) in regs.values.iter_mut().enumerate() {
        if mask & (1 << i) != 0 {
            *v = c.u16("REGS value")?;
        }
    }
    c.finish("REGS")?;
    Ok(regs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(tag: &[u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut v = tag.to_vec();
        v.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        v.extend_from_slice(payload);
        v
    }

    fn counted(b: &[u8]) -> Vec<u8> {
        let mut v = (b.len() as u32).to_le_bytes().to_vec();
        v.extend_from_slice(b);
        v
    }

    fn sample() -> Vec<u8> {
        let mut header = vec![1, 0, 0, 0];
        header.extend_from_slice(&1u32.to_le_bytes());
        header.extend_from_slice(b"C286");
        let mut meta = vec![1, 0, 6];
        meta.extend_from_slice(&0x90u32.to_le_bytes());
        meta.extend_from_slice(b"nop     ");
        meta.extend_from_slice(&1u32.to_le_bytes());
        meta.extend_from_slice(&0xdeadbeefu64.to_le_bytes());
        meta.extend_from_slice(&[0, 0, 0, 0]);

        let mut regs = 0x3FFFu16.to_le_bytes().to_vec();
        for i in 0..14u16 {
            regs.extend_from_slice(&(i * 0x101).to_le_bytes());
        }
        let mut ram = 2u32.to_le_bytes().to_vec();
        ram.extend_from_slice(&[0x10, 0, 0, 0, 0x90, 0x11, 0, 0, 0, 0xf4]);
        let mut init = chunk(b"REGS", &regs);
        init.extend(chunk(b"RAM ", &ram));
        let mut fregs = (1u16 << reg::IP).to_le_bytes().to_vec();
        fregs.extend_from_slice(&0x12u16.to_le_bytes());
        let mut fina = chunk(b"REGS", &fregs);
        fina.extend(chunk(b"RAM ", &0u32.to_le_bytes()));

        let mut test = 0u32.to_le_bytes().to_vec();
        test.extend(chunk(b"NAME", &counted(b"nop")));
        test.extend(chunk(b"BYTS", &counted(&[0x90, 0xf4])));
        test.extend(chunk(b"INIT", &init));
        test.extend(chunk(b"FINA", &fina));
        test.extend(chunk(b"XTRA", &[1, 2, 3]));
        let mut excp = vec![6];
        excp.extend_from_slice(&0x1234u32.to_le_bytes());
        test.extend(chunk(b"EXCP", &excp));
        test.extend(chunk(b"HASH", &[0xab; 20]));

        let mut file = chunk(b"MOO ", &header);
        file.extend(chunk(b"META", &meta));
        file.extend(chunk(b"JUNK", &[9; 7]));
        file.extend(chunk(b"TEST", &test));
        file
    }

    #[test]
    fn parses_sample() {
        let f = parse(&sample()).unwrap();
        assert_eq!(f.test_count, 1);
        assert_eq!(&f.cpu_id, b"C286");
        let m = f.meta.unwrap();
        assert_eq!(m.opcode, 0x90);
        assert_eq!(m.mnemonic, "nop");
        assert_eq!(f.tests.len(), 1);
        let t = &f.tests[0];
        assert_eq!(t.name, "nop");
        assert_eq!(t.bytes, [0x90, 0xf4]);
        assert_eq!(t.init.regs.get(reg::BX), Some(0x101));
        assert_eq!(t.init.ram, [(0x10, 0x90), (0x11, 0xf4)]);
        assert_eq!(t.fina.regs.get(reg::IP), Some(0x12));
        assert_eq!(t.fina.regs.get(reg::AX), None);
        let full = t.fina.regs.overlay(&t.init.regs);
        assert_eq!(full.values[reg::IP], 0x12);
        assert_eq!(full.values[reg::AX], 0);
        assert_eq!(
            t.exception,
            Some(Exception {
                number: 6,
                flags_address: 0x1234
            })
        );
        assert_eq!(t.hash_hex(), "ab".repeat(20));
    }

    #[test]
    fn every_truncation_is_an_error() {
        let data = sample();
        for n in 0..data.len() {
            assert!(parse(&data[..n]).is_err(), "prefix of {n} bytes parsed");
        }
    }

    #[test]
    fn bad_magic() {
        let mut data = sample();
        data[0] = b'X';
        assert!(matches!(parse(&data), Err(MooError::BadMagic(_))));
    }

    #[test]
    fn corrupted_lengths_do_not_panic() {
        let data = sample();
        for i in 0..data.len() {
            for v in [0u8, 1, 0x7f, 0xff] {
                let mut d = data.clone();
                d[i] = v;
                let _ = parse(&d);
            }
        }
    }
}
