//! The host CPU as an oracle: differential tests of 32-bit instructions.
//!
//! Each case is one instruction — an encoding (prefixes, opcode, ModRM/SIB,
//! displacement, immediates) plus random register, flag, memory and (for
//! x87) FPU state — or, in the `flag-chains` class, a flag-setting
//! instruction followed by one to three that pass its flags along or consume
//! them, so that ferrite's lazy flags are read back through every path. It
//! runs twice:
//!
//! * natively, in 64-bit mode, from an executable page: a stub loads the
//!   register file and flags from a [`native`] frame, executes the
//!   instruction, and stores everything back. Without a REX prefix, a 32-bit
//!   operand-size instruction computes in 64-bit mode exactly what it computes
//!   in a 32-bit code segment; the instruction gets an address-size prefix
//!   (67h), so that its effective address is the same 32-bit sum of the same
//!   32-bit register values, wrapping at 4 GiB, as in ferrite. The scratch
//!   memory is mapped at the same (low) linear address in both worlds.
//! * on ferrite's [`Cpu`](emu_core::Cpu) in flat 32-bit protected mode
//!   ([`ferrite`]).
//!
//! Then every general register, the arithmetic flags and DF, the 256-byte
//! scratch area and (x87) the FPU image that FNSAVE writes are compared.
//! Flags an instruction leaves undefined are masked per case, with the SDM
//! entry that says so in [`Check::why`]; nothing *defined* is masked. Where
//! the host's silicon and the SDM's wording disagree on a defined result, the
//! host is taken as the truth and the difference is documented where the
//! case is generated (see [`x87`]). BSF/BSR with a zero source are compared
//! in full: the SDM calls the destination undefined, the host leaves it
//! unchanged (as AMD documents), and so must ferrite.
//!
//! ferrite places a quarter of the cases so that their code straddles a page
//! boundary, and the scratch area straddles one too, so instruction fetch and
//! data accesses across pages are exercised.
//!
//! What the harness leaves to the other oracles: encodings that are invalid
//! or change meaning in 64-bit mode (40h–4Fh, PUSH/POP, BCD, segment
//! instructions, 63h, 82h, D6h, far transfers), 16-bit addressing (64-bit
//! mode has none), control transfers, I/O, and FS/GS overrides (their bases
//! differ natively).
//!
//! The generator is deterministic per (seed, case index), so any case can be
//! rerun alone (`FERRITE_HOSTDIFF_SEED`, `FERRITE_HOSTDIFF_CASE`); every
//! failure prints a one-line reproducer.

pub mod ferrite;
pub mod gen;
pub mod integer;
#[cfg(all(target_arch = "x86_64", unix))]
pub mod native;
pub mod x87;

use crate::rng::Rng;
use emu_core::cpu::flags::{AF, ARITH, CF, DF, OF, PF, SF, ZF};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Bytes of scratch memory a case may touch; all of it is compared.
pub const SCRATCH_LEN: usize = 256;
/// The EFLAGS bits the harness sets up and compares.
pub const TRACKED_FLAGS: u32 = ARITH | DF;
/// Size of the FNSAVE/FRSTOR image (32-bit protected-mode format).
pub const FPU_IMAGE: usize = 108;

/// The linear address of the scratch area for `seed`: the same in both
/// worlds, low enough to be RAM in ferrite, and straddling a page boundary
/// (offset 0x80 is the first byte of the second page) so that accesses that
/// cross pages are covered. Seeds that differ modulo 32 never share it, so
/// concurrent seeds can each map their own.
pub fn scratch_for_seed(seed: u64) -> u32 {
    0x0100_0000 + (seed % 32) as u32 * 0x2_0000 + 0x1000 - 0x80
}

/// A scratch address no seed uses, for [`run_pair`] in the harness's own tests.
pub const SELF_TEST_SCRATCH: u32 = 0x0140_0000 + 0x1000 - 0x80;
/// Another, for [`x87_self_check`] (tests run concurrently).
#[cfg(all(target_arch = "x86_64", unix))]
const X87_CHECK_SCRATCH: u32 = 0x0142_0000 + 0x1000 - 0x80;

/// What to compare after a case: everything, minus what the SDM leaves
/// undefined for this instruction and these operands.
#[derive(Clone, Debug)]
pub struct Check {
    /// EFLAGS bits compared (a subset of [`TRACKED_FLAGS`]).
    pub flags: u32,
    /// Bits compared in each of EAX..EDI.
    pub regs: [u32; 8],
    /// A scratch range (offset, length) whose contents are undefined.
    pub mem_skip: Option<(usize, usize)>,
    /// The SDM entries behind every mask above ("" when nothing is masked).
    pub why: &'static str,
    /// The x87 comparison, for x87 cases.
    pub x87: Option<x87::Check>,
}

impl Default for Check {
    fn default() -> Check {
        Check {
            flags: TRACKED_FLAGS,
            regs: [!0; 8],
            mem_skip: None,
            why: "",
            x87: None,
        }
    }
}

/// One generated instruction with its starting state.
#[derive(Clone, Debug)]
pub struct Case {
    /// The instruction class (for the statistics and the reproducer).
    pub class: &'static str,
    /// The encoding ferrite runs (32-bit code segment).
    pub bytes: Vec<u8>,
    /// The same instruction for the host in 64-bit mode: 67h first, and the
    /// one ModRM form that means something else in 64-bit mode (mod=00
    /// r/m=101, disp32, which is RIP-relative there) re-encoded through a SIB
    /// byte with no base and no index.
    pub native: Vec<u8>,
    /// EAX, ECX, EDX, EBX, ESP, EBP, ESI, EDI.
    pub regs: [u32; 8],
    /// The arithmetic flags and DF (other bits are zero).
    pub eflags: u32,
    /// The scratch area.
    pub mem: [u8; SCRATCH_LEN],
    /// The FRSTOR image the instruction starts from (x87 cases).
    pub fpu: Option<[u8; FPU_IMAGE]>,
    /// The scratch offset of the memory operand, for the reproducer.
    pub focus: Option<usize>,
    pub check: Check,
}

/// The state after a case ran.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub regs: [u32; 8],
    pub eflags: u32,
    pub mem: [u8; SCRATCH_LEN],
    pub fpu: Option<[u8; FPU_IMAGE]>,
    /// The instruction did not complete normally (ferrite: an exception or a
    /// shutdown), described.
    pub fault: Option<String>,
}

/// What [`run`] is asked to do.
#[derive(Clone, Debug)]
pub struct Config {
    pub seeds: Vec<u64>,
    pub cases_per_seed: u64,
    /// Run only this case index of each seed, and print it in full.
    pub only_case: Option<u64>,
    /// Failures printed in full (the count is always exact).
    pub max_reports: usize,
    pub threads: usize,
}

/// The result of a run.
#[derive(Debug, Default)]
pub struct Summary {
    pub passed: u64,
    pub failed: u64,
    /// Per class: (passed, failed).
    pub classes: BTreeMap<&'static str, (u64, u64)>,
    /// Failure reproducers, one line each (at most `max_reports`).
    pub reports: Vec<String>,
    /// Things worth saying once (x87 skipped, host features missing).
    pub notes: Vec<String>,
    /// Full dumps for `only_case`.
    pub dumps: Vec<String>,
    /// Informational: per (class, flag), how many cases ended with that
    /// *undefined* (masked) flag different in ferrite and on the host.
    pub undefined: BTreeMap<(&'static str, &'static str), u64>,
}

/// A per-case generator: the same (seed, index) always gives the same case.
pub fn case_rng(seed: u64, index: u64) -> Rng {
    // splitmix64 of the pair, so neighbouring indices are unrelated.
    let mut z = seed
        .wrapping_mul(0xD6E8_FEB8_6659_FD93)
        .wrapping_add(index)
        .wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    Rng::new(z ^ (z >> 31))
}

const REG_NAMES: [&str; 8] = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"];

const FLAG_NAMES: [(u32, &str); 7] = [
    (CF, "CF"),
    (PF, "PF"),
    (AF, "AF"),
    (ZF, "ZF"),
    (SF, "SF"),
    (OF, "OF"),
    (DF, "DF"),
];

fn flag_names(bits: u32) -> String {
    let mut s = String::new();
    for (b, n) in FLAG_NAMES {
        if bits & b != 0 {
            if !s.is_empty() {
                s.push('|');
            }
            s.push_str(n);
        }
    }
    if s.is_empty() {
        s.push('-');
    }
    s
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// The instruction in Intel syntax, as decoded for a 32-bit code segment.
pub fn disassemble(bytes: &[u8]) -> String {
    use iced_x86::{Decoder, DecoderOptions, FastFormatter};
    let mut d = Decoder::with_ip(32, bytes, 0, DecoderOptions::NONE);
    let i = d.decode();
    let mut out = String::new();
    FastFormatter::new().format(&i, &mut out);
    out
}

/// Compares the two outcomes of `case`; returns the differences, described.
pub fn compare(case: &Case, host: &Outcome, emu: &Outcome) -> Vec<String> {
    let mut diffs = Vec::new();
    if let Some(f) = &host.fault {
        diffs.push(format!("host: {f}"));
    }
    if let Some(f) = &emu.fault {
        diffs.push(format!("ferrite: {f}"));
        return diffs;
    }
    for (r, name) in REG_NAMES.iter().enumerate() {
        let m = case.check.regs[r];
        if (host.regs[r] ^ emu.regs[r]) & m != 0 {
            diffs.push(format!(
                "{} host={:08x} ferrite={:08x}",
                name.to_uppercase(),
                host.regs[r],
                emu.regs[r]
            ));
        }
    }
    let fm = case.check.flags;
    let d = (host.eflags ^ emu.eflags) & fm;
    if d != 0 {
        diffs.push(format!(
            "flags {} differ: host={} ferrite={}",
            flag_names(d),
            flag_names(host.eflags & fm),
            flag_names(emu.eflags & fm)
        ));
    }
    let skip = case.check.mem_skip.unwrap_or((0, 0));
    let differs = |i: usize| host.mem[i] != emu.mem[i] && !(i >= skip.0 && i < skip.0 + skip.1);
    if let Some(first) = (0..SCRATCH_LEN).find(|&i| differs(i)) {
        let last = (0..SCRATCH_LEN).rev().find(|&i| differs(i)).unwrap();
        let end = (last + 1).min(first + 16);
        diffs.push(format!(
            "mem+{first:#x}..{:#x} host=[{}] ferrite=[{}]",
            last + 1,
            hex(&host.mem[first..end]),
            hex(&emu.mem[first..end])
        ));
    }
    if let (Some(x), Some(h), Some(e)) = (&case.check.x87, &host.fpu, &emu.fpu) {
        x87::compare(x, h, e, &mut diffs);
    }
    diffs
}

/// The one-line description of a case's input.
pub fn describe(case: &Case) -> String {
    let mut s = format!(
        "{} [{}] code={} host={} in:",
        case.class,
        disassemble(&case.bytes),
        hex(&case.bytes),
        hex(&case.native)
    );
    for (name, v) in REG_NAMES.iter().zip(case.regs) {
        let _ = write!(s, " {name}={v:08x}");
    }
    let _ = write!(s, " flags={}", flag_names(case.eflags));
    if let Some(off) = case.focus {
        let lo = off.saturating_sub(4);
        let hi = (off + 12).min(SCRATCH_LEN);
        let _ = write!(s, " mem+{lo:#x}=[{}]", hex(&case.mem[lo..hi]));
    }
    if let Some(img) = &case.fpu {
        let _ = write!(s, " {}", x87::describe_image(img));
    }
    s
}

#[cfg(all(target_arch = "x86_64", unix))]
fn dump(case: &Case, host: &Outcome, emu: &Outcome, scratch: u32) -> String {
    let mut s = format!("{}\n  scratch at {scratch:#x}\n", describe(case));
    for (name, o) in [("host", host), ("ferrite", emu)] {
        let _ = write!(s, "  {name:8}:");
        for (name, v) in REG_NAMES.iter().zip(o.regs) {
            let _ = write!(s, " {name}={v:08x}");
        }
        let _ = writeln!(s, " flags={}", flag_names(o.eflags));
        if let Some(f) = &o.fault {
            let _ = writeln!(s, "    fault: {f}");
        }
        if let Some(img) = &o.fpu {
            let _ = writeln!(s, "    {}", x87::describe_image(img));
        }
    }
    let _ = writeln!(
        s,
        "  compared flags={} why={}",
        flag_names(case.check.flags),
        case.check.why
    );
    s
}

/// Whether this host can run the native side; `Err` says why not.
pub fn host_supported() -> Result<(), String> {
    #[cfg(all(target_arch = "x86_64", unix))]
    {
        Ok(())
    }
    #[cfg(not(all(target_arch = "x86_64", unix)))]
    {
        Err("the host is not an x86-64 Unix machine, so it cannot be the oracle".into())
    }
}

/// Runs `config.seeds`, each for `config.cases_per_seed` cases, spread over
/// `config.threads` threads. `Err` means the run could not start (and says
/// why): the caller prints it and skips.
pub fn run(config: &Config) -> Result<Summary, String> {
    host_supported()?;
    #[cfg(all(target_arch = "x86_64", unix))]
    {
        run_native(config)
    }
    #[cfg(not(all(target_arch = "x86_64", unix)))]
    {
        let _ = config;
        unreachable!()
    }
}

/// Runs one hand-made case on both sides with the scratch area at
/// `scratch`, for the harness's own tests; `Err` if the host cannot be the
/// oracle.
pub fn run_pair(scratch: u32, case: &Case) -> Result<(Outcome, Outcome), String> {
    host_supported()?;
    #[cfg(all(target_arch = "x86_64", unix))]
    {
        let mut host = native::Native::new(scratch)?;
        let mut emu = ferrite::Ferrite::new(scratch);
        native::note_case(u64::MAX, u64::MAX);
        Ok((host.run(case), emu.run(case)))
    }
    #[cfg(not(all(target_arch = "x86_64", unix)))]
    {
        let _ = (scratch, case);
        unreachable!()
    }
}

/// Runs `cases` x87 cases of `seed` on the host only, twice each, and
/// returns how many did not agree with themselves under [`compare`] — so
/// the x87 generator, stub and comparison are exercised even when ferrite
/// has no FPU. `Err` if the host cannot be the oracle.
pub fn x87_self_check(seed: u64, cases: u64) -> Result<u64, String> {
    host_supported()?;
    #[cfg(all(target_arch = "x86_64", unix))]
    {
        let mut host = native::Native::new(X87_CHECK_SCRATCH)?;
        let mut bad = 0;
        for index in 0..cases {
            let mut rng = case_rng(seed, index);
            let mut g = gen::Gen::new(&mut rng, X87_CHECK_SCRATCH);
            let class = x87::generate(&mut g);
            let case = g.finish(class);
            native::note_case(seed, index);
            let a = host.run(&case);
            let b = host.run(&case);
            if !compare(&case, &a, &b).is_empty() || a.fpu.is_none() {
                bad += 1;
            }
        }
        Ok(bad)
    }
    #[cfg(not(all(target_arch = "x86_64", unix)))]
    {
        let _ = (seed, cases);
        unreachable!()
    }
}

#[cfg(all(target_arch = "x86_64", unix))]
fn run_native(config: &Config) -> Result<Summary, String> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;
    let total = Mutex::new(Summary::default());
    let next = AtomicUsize::new(0);
    let error = Mutex::new(None::<String>);
    let features = native::host_features();
    // Probe ferrite's FPU once: the x87 classes are generated only if FNINIT,
    // FRSTOR and FNSAVE work.
    let x87_on = match ferrite::Ferrite::new(scratch_for_seed(0)).probe_fpu() {
        Ok(()) => {
            total
                .lock()
                .unwrap()
                .notes
                .push("x87: compared (ferrite has an FPU)".into());
            true
        }
        Err(why) => {
            total
                .lock()
                .unwrap()
                .notes
                .push(format!("x87: skipped, ferrite has no FPU yet ({why})"));
            false
        }
    };
    if !features.lahf {
        total
            .lock()
            .unwrap()
            .notes
            .push("LAHF/SAHF: skipped, not available in the host's 64-bit mode".into());
    }
    let opts = gen::Options {
        x87: x87_on,
        lahf: features.lahf,
    };
    std::thread::scope(|s| {
        for _ in 0..config.threads.max(1) {
            s.spawn(|| loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                let Some(&seed) = config.seeds.get(k) else {
                    break;
                };
                match run_seed(config, seed, &opts) {
                    Ok(part) => {
                        let mut t = total.lock().unwrap();
                        t.passed += part.passed;
                        t.failed += part.failed;
                        for (c, (p, f)) in part.classes {
                            let e = t.classes.entry(c).or_default();
                            e.0 += p;
                            e.1 += f;
                        }
                        let room = config.max_reports.saturating_sub(t.reports.len());
                        t.reports.extend(part.reports.into_iter().take(room));
                        t.dumps.extend(part.dumps);
                        for (k, n) in part.undefined {
                            *t.undefined.entry(k).or_default() += n;
                        }
                    }
                    Err(e) => {
                        *error.lock().unwrap() = Some(e);
                        break;
                    }
                }
            });
        }
    });
    if let Some(e) = error.into_inner().unwrap() {
        return Err(e);
    }
    Ok(total.into_inner().unwrap())
}

#[cfg(all(target_arch = "x86_64", unix))]
fn run_seed(config: &Config, seed: u64, opts: &gen::Options) -> Result<Summary, String> {
    let scratch = scratch_for_seed(seed);
    let mut host = native::Native::new(scratch)?;
    let mut emu = ferrite::Ferrite::new(scratch);
    let mut sum = Summary::default();
    let range = match config.only_case {
        Some(i) => i..i + 1,
        None => 0..config.cases_per_seed,
    };
    for index in range {
        let mut rng = case_rng(seed, index);
        let case = gen::generate(&mut rng, scratch, opts);
        if config.only_case.is_some() {
            // Before running it: if the host dies of it, this is all there is.
            eprintln!("hostdiff: seed={seed} case={index}: {}", describe(&case));
        }
        native::note_case(seed, index);
        let h = host.run(&case);
        let e = emu.run(&case);
        let diffs = compare(&case, &h, &e);
        let loose = (h.eflags ^ e.eflags) & TRACKED_FLAGS & !case.check.flags;
        if loose != 0 && e.fault.is_none() {
            for (b, n) in FLAG_NAMES {
                if loose & b != 0 {
                    *sum.undefined.entry((case.class, n)).or_default() += 1;
                }
            }
        }
        let entry = sum.classes.entry(case.class).or_default();
        if diffs.is_empty() {
            sum.passed += 1;
            entry.0 += 1;
        } else {
            sum.failed += 1;
            entry.1 += 1;
            if sum.reports.len() < config.max_reports {
                sum.reports.push(format!(
                    "FAIL seed={seed} case={index} {} | {} | masked: {} | rerun: FERRITE_HOSTDIFF_SEED={seed} FERRITE_HOSTDIFF_CASE={index}",
                    describe(&case),
                    diffs.join("; "),
                    if case.check.why.is_empty() { "nothing" } else { case.check.why },
                ));
            }
        }
        if config.only_case.is_some() {
            sum.dumps.push(dump(&case, &h, &e, scratch));
        }
    }
    Ok(sum)
}
