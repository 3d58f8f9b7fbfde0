//! Conformance runner for the hardware-captured 80286 real-mode
//! single-instruction tests (`shared/singlestep-80286`, a cut-down copy of
//! SingleStepTests/80286 `v1_real_mode`). See that folder's README for the
//! format and the rules implemented here.
//!
//! Per test: load the `INIT` registers (flag bits 12–15 cleared) and RAM into
//! a real-mode CPU, run until it executes a HLT, then compare registers, flags
//! (under the file's `recommended_mask`), and memory (every `FINA` byte, every
//! `INIT`-only byte unchanged, the exception frame's FLAGS word under the
//! mask). Tests that a 386+ legitimately runs differently (LOCK on a
//! non-lockable instruction, instructions over 10 bytes, MOV to/from FS/GS)
//! and revoked tests are skipped and counted per reason. Two 386+ fault
//! behaviours recognised at run time ([`AcceptReason`]: #SS instead of #13
//! for stack-segment overruns, restartable #13 in word string ops) are
//! counted separately too, as neither passes nor failures.
//!
//! To tell which vector the CPU took, every IVT entry the test does not
//! supply points at its own HLT stub (`0050:n`). A failing test is re-run
//! on a fresh CPU (the first few per file, or all with a filter) to report
//! deterministically and to catch state leaking between tests.

use crate::moo::{self, reg, Test};
use emu_core::{Cpu, NullBus, RunExit, SegReg};
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Guest RAM: at least 0x110000 (FFFF:FFFF with A20 open), rounded up.
pub const RAM_BYTES: usize = 2 << 20;

/// Instruction cap per test. A correct CPU executes the instruction under
/// test (REP counts are below 128) and one HLT, with at most one interrupt
/// delivery in between.
pub const MAX_INSTRUCTIONS: u64 = 1000;

/// Real-mode segment of the per-vector HLT stubs used to tell which vector
/// the CPU took: IVT entry `n` (unless the test supplies it) points at
/// `STUB_SEG:n`, which holds F4. A CPU that lands there took vector `n`.
const STUB_SEG: u16 = 0x0050;
const STUB_BASE: u32 = (STUB_SEG as u32) << 4;
/// Bytes `0..STUB_END` hold the stub IVT and the stub HLTs.
const STUB_END: u32 = STUB_BASE + 0x100;

/// Env var: data directory override.
pub const ENV_DIR: &str = "FERRITE_SINGLESTEP_DIR";
/// Env var: comma-separated filter, items `FILE`, `FILE:INDEX` or a test hash.
pub const ENV_FILTER: &str = "FERRITE_SINGLESTEP_FILTER";
/// Env var: number of worker threads (default: available parallelism).
pub const ENV_THREADS: &str = "FERRITE_SINGLESTEP_THREADS";

/// Why a test was not run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SkipReason {
    /// Its hash is in `revocation_list.txt`.
    Revoked,
    /// More than 10 bytes: #13 on a 286, executes on a 386+.
    Length,
    /// `8C /4 /5` or `8E /4 /5`: #UD on a 286, MOV FS/GS on a 386+.
    FsGs,
    /// LOCK (F0) on an instruction a 386+ refuses to lock (#UD there).
    Lock,
}

impl SkipReason {
    pub const ALL: [SkipReason; 4] = [
        SkipReason::Revoked,
        SkipReason::Length,
        SkipReason::FsGs,
        SkipReason::Lock,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SkipReason::Revoked => "revoked",
            SkipReason::Length => "length>10",
            SkipReason::FsGs => "mov-fs/gs",
            SkipReason::Lock => "lock-#UD",
        }
    }
}

/// A test that does not match the 286 but shows correct 386+ behaviour,
/// recognised at run time. Counted on its own: neither passed nor failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AcceptReason {
    /// The 286 raised #13 for a stack-segment overrun; the CPU raised #SS
    /// (12), and everything else matches.
    SsForGp,
    /// The 286 raised #13 for a word string op at offset FFFFh after
    /// already stepping SI/DI (and CX under REP) for the faulting iteration;
    /// the CPU's fault is restartable and left them as before that
    /// iteration, and everything else matches.
    Restartable,
}

impl AcceptReason {
    pub const ALL: [AcceptReason; 2] = [AcceptReason::SsForGp, AcceptReason::Restartable];

    pub fn name(self) -> &'static str {
        match self {
            AcceptReason::SsForGp => "#SS-for-#13",
            AcceptReason::Restartable => "restartable-#13",
        }
    }
}

/// What went wrong in a failing test (a failure may have several).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailClass {
    /// The CPU did not execute a HLT within the instruction cap.
    NoHalt,
    /// Took a different interrupt/exception than expected (or one when none
    /// was expected, or none when one was).
    Vector,
    /// A general, segment or IP register differs.
    Regs,
    /// FLAGS differ under the mask.
    Flags,
    /// A memory byte differs.
    Mem,
    /// Passed on a fresh CPU but failed on the reused one: state leaks
    /// between tests (stale code cache, halted state, ...).
    Leak,
}

impl FailClass {
    pub const ALL: [FailClass; 6] = [
        FailClass::NoHalt,
        FailClass::Vector,
        FailClass::Regs,
        FailClass::Flags,
        FailClass::Mem,
        FailClass::Leak,
    ];

    fn bit(self) -> u8 {
        1 << self as u8
    }

    pub fn name(self) -> &'static str {
        match self {
            FailClass::NoHalt => "nohalt",
            FailClass::Vector => "vector",
            FailClass::Regs => "regs",
            FailClass::Flags => "flags",
            FailClass::Mem => "mem",
            FailClass::Leak => "leak",
        }
    }
}

/// Options for [`run_suite`].
#[derive(Clone, Debug)]
pub struct Options {
    /// The suite folder (holding `v1_real_mode/`, `flags_mask.csv`, ...).
    pub dir: PathBuf,
    /// Only run what matches; `None` runs everything.
    pub filter: Option<Filter>,
    /// Worker threads (at least 1).
    pub threads: usize,
    /// Print every failing test in full (set when a filter is given).
    pub verbose: bool,
}

impl Options {
    /// Options from the environment: [`ENV_DIR`] (default
    /// `<tests crate>/../../shared/singlestep-80286`), [`ENV_FILTER`],
    /// [`ENV_THREADS`].
    pub fn from_env() -> Options {
        let dir = std::env::var_os(ENV_DIR)
            .map(PathBuf::from)
            .unwrap_or_else(default_data_dir);
        let filter = std::env::var(ENV_FILTER)
            .ok()
            .filter(|s| !s.trim().is_empty())
            .map(|s| Filter::parse(&s));
        let threads = std::env::var(ENV_THREADS)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
            .max(1);
        Options {
            dir,
            verbose: filter.is_some(),
            filter,
            threads,
        }
    }
}

/// `<ferrite-tests>/../../shared/singlestep-80286`.
pub fn default_data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/singlestep-80286")
}

/// Which files/tests to run.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// Upper-cased file stems (e.g. `F6.7`) with an optional test index.
    files: Vec<(String, Option<u32>)>,
    /// Lower-cased test hashes (any file).
    hashes: Vec<String>,
}

impl Filter {
    /// Parses `F6.7`, `F6.7:12`, `00,01:3`, or a 40-digit test hash.
    pub fn parse(s: &str) -> Filter {
        let mut f = Filter::default();
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            if item.len() == 40 && item.chars().all(|c| c.is_ascii_hexdigit()) {
                f.hashes.push(item.to_ascii_lowercase());
                continue;
            }
            let (file, idx) = match item.split_once(':') {
                Some((a, b)) => (a, b.trim().parse().ok()),
                None => (item, None),
            };
            let file = file
                .trim()
                .trim_end_matches(".gz")
                .trim_end_matches(".MOO")
                .trim_end_matches(".moo");
            f.files.push((file.to_ascii_uppercase(), idx));
        }
        f
    }

    fn wants_file(&self, stem: &str) -> bool {
        !self.hashes.is_empty() || self.files.iter().any(|(f, _)| f == stem)
    }

    fn wants_test(&self, stem: &str, t: &Test) -> bool {
        if !self.hashes.is_empty() && self.hashes.contains(&t.hash_hex()) {
            return true;
        }
        self.files
            .iter()
            .any(|(f, i)| f == stem && i.is_none_or(|i| i == t.index))
    }
}

/// A failing test and what differed.
#[derive(Clone, Debug)]
pub struct Failure {
    pub index: u32,
    pub name: String,
    pub hash: String,
    pub bytes: Vec<u8>,
    /// Bitset of [`FailClass`].
    classes: u8,
    /// One line per difference.
    pub diffs: Vec<String>,
    /// Full dump of the test (only in verbose mode).
    pub detail: Option<String>,
}

impl Failure {
    pub fn has(&self, c: FailClass) -> bool {
        self.classes & c.bit() != 0
    }

    /// One-line reproducer.
    pub fn summary(&self, file: &str) -> String {
        const SHOWN: usize = 6;
        let mut d = self.diffs[..self.diffs.len().min(SHOWN)].join("; ");
        if self.diffs.len() > SHOWN {
            let _ = write!(d, "; (+{} more)", self.diffs.len() - SHOWN);
        }
        format!(
            "{file}:{} \"{}\" [{}] {d}",
            self.index,
            self.name,
            hex(&self.bytes)
        )
    }
}

/// Results for one test file.
#[derive(Clone, Debug, Default)]
pub struct FileReport {
    /// File stem, e.g. `F6.7`.
    pub file: String,
    pub mnemonic: String,
    pub total: u64,
    pub passed: u64,
    pub failed: u64,
    /// Indexed like [`SkipReason::ALL`].
    pub skipped: [u64; 4],
    /// Tests showing accepted 386+ behaviour, indexed like
    /// [`AcceptReason::ALL`]: neither passed nor failed.
    pub accepted: [u64; 2],
    /// Failures per class, indexed like [`FailClass::ALL`].
    pub classes: [u64; 6],
    /// The first failure, or every failure in verbose mode.
    pub failures: Vec<Failure>,
    /// The file could not be read or has no flag mask.
    pub error: Option<String>,
}

/// Results of a run.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    pub files: Vec<FileReport>,
}

impl Summary {
    pub fn passed(&self) -> u64 {
        self.files.iter().map(|f| f.passed).sum()
    }
    pub fn failed(&self) -> u64 {
        self.files.iter().map(|f| f.failed).sum()
    }
    pub fn skipped(&self, r: SkipReason) -> u64 {
        self.files.iter().map(|f| f.skipped[r as usize]).sum()
    }
    pub fn accepted(&self, r: AcceptReason) -> u64 {
        self.files.iter().map(|f| f.accepted[r as usize]).sum()
    }
    pub fn errors(&self) -> impl Iterator<Item = &FileReport> {
        self.files.iter().filter(|f| f.error.is_some())
    }

    /// The per-file failure table, the skip line and the final
    /// `N passed, N failed` line.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let failing: Vec<&FileReport> = self
            .files
            .iter()
            .filter(|f| f.failed > 0 || f.error.is_some())
            .collect();
        if !failing.is_empty() {
            let _ = write!(
                s,
                "{:<6} {:<8} {:>5} {:>5} {:>5}",
                "file", "mnem", "run", "pass", "fail"
            );
            for c in FailClass::ALL {
                let _ = write!(s, " {:>6}", c.name());
            }
            s.push('\n');
            for f in &failing {
                if let Some(e) = &f.error {
                    let _ = writeln!(s, "{:<6} ERROR: {e}", f.file);
                    continue;
                }
                let _ = write!(
                    s,
                    "{:<6} {:<8} {:>5} {:>5} {:>5}",
                    f.file,
                    f.mnemonic,
                    f.passed + f.failed,
                    f.passed,
                    f.failed
                );
                for n in f.classes {
                    let _ = write!(s, " {n:>6}");
                }
                s.push('\n');
                if let Some(first) = f.failures.first() {
                    let _ = writeln!(s, "       first: {}", first.summary(&f.file));
                }
            }
            let _ = write!(
                s,
                "{:<6} {:<8} {:>5} {:>5} {:>5}",
                "total",
                "",
                self.passed() + self.failed(),
                self.passed(),
                self.failed()
            );
            for (i, _) in FailClass::ALL.iter().enumerate() {
                let n: u64 = self.files.iter().map(|f| f.classes[i]).sum();
                let _ = write!(s, " {n:>6}");
            }
            s.push('\n');
        }
        let _ = write!(s, "skipped:");
        for r in SkipReason::ALL {
            let _ = write!(s, " {} {}", r.name(), self.skipped(r));
        }
        let _ = write!(s, "; accepted 386+ behaviour:");
        for r in AcceptReason::ALL {
            let _ = write!(s, " {} {}", r.name(), self.accepted(r));
        }
        let _ = writeln!(s);
        let _ = writeln!(s, "{} passed, {} failed", self.passed(), self.failed());
        s
    }

    /// Every failure in full (verbose mode).
    pub fn render_details(&self) -> String {
        let mut s = String::new();
        for f in &self.files {
            for fail in &f.failures {
                if let Some(d) = &fail.detail {
                    let _ = writeln!(s, "==== {}:{} ====\n{d}", f.file, fail.index);
                }
            }
        }
        s
    }
}

/// `recommended_mask` per file stem from `flags_mask.csv`.
pub fn load_masks(dir: &Path) -> Result<HashMap<String, u16>, String> {
    let path = dir.join("flags_mask.csv");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split(',').collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| h.trim() == name)
            .ok_or_else(|| format!("{}: no column {name}", path.display()))
    };
    let (fcol, mcol) = (col("file")?, col("recommended_mask")?);
    let mut masks = HashMap::new();
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let cells: Vec<&str> = line.split(',').collect();
        let (Some(file), Some(mask)) = (cells.get(fcol), cells.get(mcol)) else {
            return Err(format!("{}: short row {line:?}", path.display()));
        };
        let m = mask.trim();
        let m = m
            .strip_prefix("0x")
            .or_else(|| m.strip_prefix("0X"))
            .unwrap_or(m);
        let mask = u16::from_str_radix(m, 16)
            .map_err(|e| format!("{}: bad mask in {line:?}: {e}", path.display()))?;
        masks.insert(file.trim().to_ascii_uppercase(), mask);
    }
    Ok(masks)
}

/// Lower-case hashes listed in `revocation_list.txt` (absent file: none).
pub fn load_revoked(dir: &Path) -> HashSet<String> {
    std::fs::read_to_string(dir.join("revocation_list.txt"))
        .unwrap_or_default()
        .lines()
        .map(|l| {
            l.split('#')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .filter(|l| !l.is_empty())
        .collect()
}

/// The test files (`v1_real_mode/*.MOO.gz`), sorted, as `(stem, path)`.
pub fn list_files(dir: &Path) -> Result<Vec<(String, PathBuf)>, String> {
    let sub = dir.join("v1_real_mode");
    let mut files = Vec::new();
    for e in std::fs::read_dir(&sub).map_err(|e| format!("{}: {e}", sub.display()))? {
        let p = e.map_err(|e| e.to_string())?.path();
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let upper = name.to_ascii_uppercase();
        let stem = upper
            .strip_suffix(".MOO.GZ")
            .or_else(|| upper.strip_suffix(".MOO"));
        if let Some(stem) = stem {
            files.push((stem.to_string(), p.clone()));
        }
    }
    files.sort();
    Ok(files)
}

/// Prefix bytes a 286 test may carry.
fn is_prefix(b: u8) -> bool {
    matches!(b, 0x26 | 0x2E | 0x36 | 0x3E | 0xF0 | 0xF2 | 0xF3)
}

/// Whether a 386+ accepts LOCK on the instruction (after its prefixes) `insn`:
/// a read-modify-write of a memory operand.
pub fn lockable(insn: &[u8]) -> bool {
    let (Some(&op), Some(&modrm)) = (insn.first(), insn.get(1)) else {
        return false;
    };
    let mem = modrm >> 6 != 3;
    let r = (modrm >> 3) & 7;
    mem && match op {
        // ADD OR ADC SBB AND SUB XOR r/m,reg
        0x00 | 0x01 | 0x08 | 0x09 | 0x10 | 0x11 | 0x18 | 0x19 | 0x20 | 0x21 | 0x28 | 0x29
        | 0x30 | 0x31 => true,
        // group 1 except CMP
        0x80..=0x83 => r != 7,
        // XCHG
        0x86 | 0x87 => true,
        // NOT NEG
        0xF6 | 0xF7 => r == 2 || r == 3,
        // INC DEC
        0xFE | 0xFF => r <= 1,
        _ => false,
    }
}

/// Why `t` is skipped, if it is.
pub fn skip_reason(t: &Test, revoked: &HashSet<String>) -> Option<SkipReason> {
    if !revoked.is_empty() && revoked.contains(&t.hash_hex()) {
        return Some(SkipReason::Revoked);
    }
    if t.bytes.len().saturating_sub(1) > 10 {
        return Some(SkipReason::Length);
    }
    let npfx = t.bytes.iter().take_while(|&&b| is_prefix(b)).count();
    let insn = &t.bytes[npfx..];
    if let (Some(0x8C | 0x8E), Some(&modrm)) = (insn.first(), insn.get(1)) {
        if matches!((modrm >> 3) & 7, 4 | 5) {
            return Some(SkipReason::FsGs);
        }
    }
    if t.bytes[..npfx].contains(&0xF0) && !lockable(insn) {
        return Some(SkipReason::Lock);
    }
    None
}

/// Whether the instruction may make a stack-segment access that a 386+
/// reports as #SS rather than #13 when it runs past the limit: an implicit
/// stack operation, an explicit SS override, or a BP-based memory operand
/// without override.
pub fn stack_fault_possible(bytes: &[u8]) -> bool {
    let npfx = bytes.iter().take_while(|&&b| is_prefix(b)).count();
    let seg = bytes[..npfx]
        .iter()
        .rev()
        .find(|&&b| matches!(b, 0x26 | 0x2E | 0x36 | 0x3E));
    let insn = &bytes[npfx..];
    let Some(&op) = insn.first() else {
        return false;
    };
    let modrm = insn.get(1).copied().unwrap_or(0);
    let reg = (modrm >> 3) & 7;
    let implicit = match op {
        0x06
        | 0x07
        | 0x0E
        | 0x16
        | 0x17
        | 0x1E
        | 0x1F
        | 0x50..=0x61
        | 0x68
        | 0x6A
        | 0x8F
        | 0x9A
        | 0x9C
        | 0x9D
        | 0xC2
        | 0xC3
        | 0xC8
        | 0xC9
        | 0xCA..=0xCF
        | 0xE8 => true,
        0xFF => matches!(reg, 2 | 3 | 6),
        _ => false,
    };
    if implicit || seg == Some(&0x36) {
        return true;
    }
    // ALU r/m forms 00–3B, and the other opcodes with a ModRM byte.
    let has_modrm = (op < 0x40 && op & 7 < 4)
        || matches!(
            op,
            0x62 | 0x69 | 0x6B | 0x80..=0x8F | 0xC0 | 0xC1 | 0xC4..=0xC7 | 0xD0..=0xD3 | 0xD8..=0xDF
                | 0xF6 | 0xF7 | 0xFE | 0xFF
        );
    let (md, rm) = (modrm >> 6, modrm & 7);
    seg.is_none() && has_modrm && md != 3 && (rm == 2 || rm == 3 || (rm == 6 && md != 0))
}

fn hex(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Flag letters of the bits set in `bits`.
fn flag_names(bits: u16) -> String {
    const NAMES: [(u16, &str); 12] = [
        (0x0001, "CF"),
        (0x0004, "PF"),
        (0x0010, "AF"),
        (0x0040, "ZF"),
        (0x0080, "SF"),
        (0x0100, "TF"),
        (0x0200, "IF"),
        (0x0400, "DF"),
        (0x0800, "OF"),
        (0x3000, "IOPL"),
        (0x4000, "NT"),
        (0x8000, "b15"),
    ];
    let mut v: Vec<&str> = NAMES
        .iter()
        .filter(|(m, _)| bits & m != 0)
        .map(|(_, n)| *n)
        .collect();
    if bits & 0x002A != 0 {
        v.push("reserved");
    }
    v.join(",")
}

// ---------------------------------------------------------------------------
// The CPU side. Everything that touches the emu-core API is in this section.

/// Register order of `Cpu::regs` (x86 encoding) as MOO register indices.
const GPR_ORDER: [usize; 8] = [
    reg::AX,
    reg::CX,
    reg::DX,
    reg::BX,
    reg::SP,
    reg::BP,
    reg::SI,
    reg::DI,
];
const SEGS: [(usize, SegReg); 4] = [
    (reg::CS, SegReg::CS),
    (reg::SS, SegReg::SS),
    (reg::DS, SegReg::DS),
    (reg::ES, SegReg::ES),
];

/// A CPU prepared for running tests: A20 open, stub IVT installed.
fn new_cpu() -> Cpu {
    let mut cpu = Cpu::new(RAM_BYTES);
    reset_cpu(&mut cpu);
    cpu
}

/// Resets all CPU state (memory is kept, the stub area rewritten), for use
/// after a test that ran away and may have left the CPU in another mode.
fn reset_cpu(cpu: &mut Cpu) {
    cpu.reset();
    cpu.mem.set_a20(true);
    for a in 0..STUB_END {
        cpu.mem.write_u8(a, stub_byte(a));
    }
}

/// The stub-area content at physical `a` (< `STUB_END`).
fn stub_byte(a: u32) -> u8 {
    if a < 0x400 {
        // IVT entry a/4 = STUB_SEG:(a/4)
        let v = a / 4;
        match a % 4 {
            0 => v as u8,
            1 => (v >> 8) as u8,
            2 => STUB_SEG as u8,
            _ => (STUB_SEG >> 8) as u8,
        }
    } else if a >= STUB_BASE {
        0xF4
    } else {
        0
    }
}

/// Puts back the stub bytes a test may have changed.
fn restore_stubs(cpu: &mut Cpu, t: &Test) {
    for &(a, _) in t.init.ram.iter().chain(&t.fina.ram) {
        if a < STUB_END {
            cpu.mem.write_u8(a, stub_byte(a));
        }
    }
}

/// Final CPU state as 14 MOO registers (plus full 32-bit GPRs and EIP).
struct Outcome {
    exit: String,
    halted: bool,
    regs: [u16; reg::COUNT],
    regs32: [u32; 8],
    eip: u32,
    eflags: u32,
}

fn load_and_run(cpu: &mut Cpu, t: &Test) -> Outcome {
    cpu.halted = false;
    cpu.shutdown = false;
    // The 80286 under test had no FPU: give the ESC instructions an FPU in
    // its FNINIT state (every exception masked) so that none is ever
    // reported and the integer state is all that each test sees.
    cpu.fpu = Default::default();
    let init = &t.init.regs;
    for (i, &r) in GPR_ORDER.iter().enumerate() {
        cpu.regs[i] = init.values[r] as u32;
    }
    cpu.eip = init.values[reg::IP] as u32;
    cpu.set_eflags((init.values[reg::FLAGS] & 0x0FFF) as u32);
    for (r, s) in SEGS {
        cpu.load_seg_real(s, init.values[r]);
    }
    cpu.load_seg_real(SegReg::FS, 0);
    cpu.load_seg_real(SegReg::GS, 0);
    for &(a, v) in &t.init.ram {
        cpu.mem.write_u8(a, v);
    }

    let exit = cpu.run(&mut NullBus, MAX_INSTRUCTIONS);
    let halted = matches!(exit, RunExit::Halted);

    let mut regs = [0u16; reg::COUNT];
    for (i, &r) in GPR_ORDER.iter().enumerate() {
        regs[r] = cpu.regs[i] as u16;
    }
    for (r, s) in SEGS {
        regs[r] = cpu.seg_selector(s);
    }
    regs[reg::IP] = cpu.eip as u16;
    regs[reg::FLAGS] = cpu.eflags() as u16;
    Outcome {
        exit: format!("{exit:?}"),
        halted,
        regs,
        regs32: cpu.regs,
        eip: cpu.eip,
        eflags: cpu.eflags(),
    }
}

// ---------------------------------------------------------------------------

/// The vector the CPU's final CS:IP says it took, if it ended in a stub.
fn stub_vector(o: &Outcome) -> Option<u8> {
    (o.regs[reg::CS] == STUB_SEG && (1..=0x100).contains(&o.regs[reg::IP]))
        .then(|| (o.regs[reg::IP] - 1) as u8)
}

/// Compares the outcome with the test's expectation; returns the class
/// bitset and one line per difference (empty: pass).
///
/// Two 386+ behaviours are recognised ([`AcceptReason`]): if the 286 raised
/// #13 for what a 386+ treats as a stack-segment overrun and the CPU took #SS
/// (12) instead, the CPU is expected to end in the vector-12 stub; if the 286
/// raised #13 after stepping SI/DI/CX for the faulting string iteration and
/// the CPU did not, those registers are not reported. Everything else must
/// still match; the returned reason says which rule applied.
fn compare(
    cpu: &mut Cpu,
    t: &Test,
    mask: u16,
    o: &Outcome,
) -> (u8, Vec<String>, Option<AcceptReason>) {
    let mut classes = 0u8;
    let mut diffs = Vec::new();
    let mut init_regs = t.init.regs.clone();
    init_regs.values[reg::FLAGS] &= 0x0FFF;
    let mut exp = t.fina.regs.overlay(&init_regs).values;
    let ss_for_gp = t.exception.is_some_and(|e| e.number == 13)
        && stub_vector(o) == Some(12)
        && stack_fault_possible(&t.bytes);
    if ss_for_gp {
        exp[reg::CS] = STUB_SEG;
        exp[reg::IP] = 12 + 1;
    }
    let mut accepted = ss_for_gp.then_some(AcceptReason::SsForGp);

    if !o.halted {
        classes |= FailClass::NoHalt.bit();
        diffs.push(format!("did not halt: {}", o.exit));
    }

    // Which interrupt was taken.
    let at_expected_end = o.regs[reg::CS] == exp[reg::CS] && o.regs[reg::IP] == exp[reg::IP];
    let took = stub_vector(o);
    if !at_expected_end {
        match (t.exception, took) {
            (Some(e), Some(v)) => {
                classes |= FailClass::Vector.bit();
                diffs.push(format!(
                    "expected int {:#04x}, cpu took int {v:#04x}",
                    e.number
                ));
            }
            (Some(e), None) => {
                classes |= FailClass::Vector.bit();
                diffs.push(format!(
                    "expected int {:#04x}, cpu ended at {:04x}:{:04x}",
                    e.number,
                    o.regs[reg::CS],
                    o.regs[reg::IP]
                ));
            }
            (None, Some(v)) => {
                classes |= FailClass::Vector.bit();
                diffs.push(format!("expected no interrupt, cpu took int {v:#04x}"));
            }
            (None, None) => {}
        }
    }

    let gp_fault = t.exception.is_some_and(|e| e.number == 13);
    for (i, (&want, &got)) in exp.iter().zip(&o.regs).enumerate() {
        // The 286 updates SI/DI (and CX under REP) for the string
        // iteration that faults; a 386+ leaves them as before it.
        let undone = got == t.init.regs.values[i]
            || match i {
                reg::SI | reg::DI => matches!(want.wrapping_sub(got), 2 | 0xFFFE),
                reg::CX => got == want.wrapping_add(1),
                _ => false,
            };
        if gp_fault && want != got && matches!(i, reg::SI | reg::DI | reg::CX) && undone {
            accepted = accepted.or(Some(AcceptReason::Restartable));
            continue;
        }
        if i != reg::FLAGS && want != got {
            classes |= FailClass::Regs.bit();
            diffs.push(format!(
                "{}: expected {want:04x}, got {got:04x}",
                reg::NAMES[i]
            ));
        }
    }
    for (i, &r) in GPR_ORDER.iter().enumerate() {
        if o.regs32[i] >> 16 != 0 {
            classes |= FailClass::Regs.bit();
            diffs.push(format!(
                "e{}: upper half set: {:08x}",
                reg::NAMES[r],
                o.regs32[i]
            ));
        }
    }
    if o.eip >> 16 != 0 {
        classes |= FailClass::Regs.bit();
        diffs.push(format!("eip: upper half set: {:08x}", o.eip));
    }
    let (ef, xf) = (o.regs[reg::FLAGS], exp[reg::FLAGS]);
    if (ef ^ xf) & mask != 0 {
        classes |= FailClass::Flags.bit();
        diffs.push(format!(
            "flags: expected {xf:04x}, got {ef:04x} (differ: {})",
            flag_names((ef ^ xf) & mask)
        ));
    }
    if o.eflags >> 16 != 0 {
        classes |= FailClass::Flags.bit();
        diffs.push(format!("eflags: upper half set: {:08x}", o.eflags));
    }

    // Memory. The pushed FLAGS word of an exception frame is compared under
    // the mask at SS:SP+4 (final SS:SP), the rest byte for byte.
    let frame: Option<[u32; 2]> = t.exception.map(|_| {
        let base = (exp[reg::SS] as u32) << 4;
        let sp = exp[reg::SP];
        [
            base + sp.wrapping_add(4) as u32,
            base + sp.wrapping_add(5) as u32,
        ]
    });
    let expected_byte = |a: u32| -> Option<u8> {
        t.fina
            .ram
            .iter()
            .chain(&t.init.ram)
            .find(|&&(x, _)| x == a)
            .map(|&(_, v)| v)
    };
    let mut check = |a: u32, want: u8, byte_mask: u8, diffs: &mut Vec<String>| {
        let got = cpu.mem.read_u8(a);
        if (got ^ want) & byte_mask != 0 {
            classes |= FailClass::Mem.bit();
            diffs.push(format!("mem[{a:05x}]: expected {want:02x}, got {got:02x}"));
        }
    };
    if let Some(fr) = frame {
        for (k, &a) in fr.iter().enumerate() {
            if let Some(want) = expected_byte(a) {
                check(a, want, (mask >> (8 * k)) as u8, &mut diffs);
            }
        }
    }
    let in_frame = |a: u32| frame.is_some_and(|f| f.contains(&a));
    for &(a, v) in &t.fina.ram {
        if !in_frame(a) {
            check(a, v, 0xFF, &mut diffs);
        }
    }
    for &(a, v) in &t.init.ram {
        if !in_frame(a) && !t.fina.ram.iter().any(|&(x, _)| x == a) {
            check(a, v, 0xFF, &mut diffs);
        }
    }
    (classes, diffs, accepted)
}

/// A full description of a test and the CPU's outcome.
fn describe(t: &Test, mask: u16, o: &Outcome, diffs: &[String]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "name:  {}", t.name);
    let _ = writeln!(s, "hash:  {}", t.hash_hex());
    let _ = writeln!(s, "bytes: {}", hex(&t.bytes));
    let _ = writeln!(s, "mask:  {mask:04x}");
    if let Some(e) = t.exception {
        let _ = writeln!(
            s,
            "excp:  int {:#04x} (flags_address {:05x})",
            e.number, e.flags_address
        );
    }
    let exp = t.fina.regs.overlay(&t.init.regs);
    let _ = writeln!(s, "reg     init  expect   cpu");
    for i in 0..reg::COUNT {
        let mark = if exp.values[i] != o.regs[i] { " *" } else { "" };
        let _ = writeln!(
            s,
            "{:<5}   {:04x}   {:04x}   {:04x}{mark}",
            reg::NAMES[i],
            t.init.regs.values[i],
            exp.values[i],
            o.regs[i]
        );
    }
    let _ = writeln!(s, "exit:  {}", o.exit);
    let ram = |r: &[(u32, u8)]| {
        r.iter()
            .map(|(a, v)| format!("{a:05x}={v:02x}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let _ = writeln!(s, "init ram: {}", ram(&t.init.ram));
    let _ = writeln!(s, "fina ram: {}", ram(&t.fina.ram));
    for d in diffs {
        let _ = writeln!(s, "  {d}");
    }
    s
}

/// The result of one test.
enum Verdict {
    Pass,
    /// Matches except for an accepted 386+ behaviour.
    Accepted(AcceptReason),
    Fail(Box<Failure>),
}

/// Runs one test on `cpu`. A failing test is re-run on a fresh CPU when
/// `rerun` is set (for a deterministic report and to detect state leaking
/// between tests). After a failure the CPU is reset (it may have run wild).
fn run_one(cpu: &mut Cpu, t: &Test, mask: u16, rerun: bool, verbose: bool) -> Verdict {
    let o = load_and_run(cpu, t);
    let (mut classes, mut diffs, accepted) = compare(cpu, t, mask, &o);
    if diffs.is_empty() {
        restore_stubs(cpu, t);
        return accepted.map_or(Verdict::Pass, Verdict::Accepted);
    }
    let mut last = o;
    if rerun {
        *cpu = new_cpu();
        let o2 = load_and_run(cpu, t);
        let (classes2, diffs2, _) = compare(cpu, t, mask, &o2);
        if diffs2.is_empty() {
            classes |= FailClass::Leak.bit();
            diffs.insert(0, "passes on a fresh CPU, fails on a reused one".into());
        } else {
            (classes, diffs, last) = (classes2, diffs2, o2);
        }
    }
    let detail = verbose.then(|| describe(t, mask, &last, &diffs));
    reset_cpu(cpu);
    Verdict::Fail(Box::new(Failure {
        index: t.index,
        name: t.name.clone(),
        hash: t.hash_hex(),
        bytes: t.bytes.clone(),
        classes,
        diffs,
        detail,
    }))
}

/// Failures per file that are re-run on a fresh CPU (all in verbose mode).
const RERUNS_PER_FILE: u64 = 3;

struct Ctx<'a> {
    masks: &'a HashMap<String, u16>,
    revoked: &'a HashSet<String>,
    filter: Option<&'a Filter>,
    verbose: bool,
}

fn run_file(cpu: &mut Cpu, stem: &str, path: &Path, ctx: &Ctx) -> FileReport {
    let mut rep = FileReport {
        file: stem.to_string(),
        ..Default::default()
    };
    let Some(&mask) = ctx.masks.get(stem) else {
        rep.error = Some("no entry in flags_mask.csv".into());
        return rep;
    };
    let file = match moo::read_file(path) {
        Ok(f) => f,
        Err(e) => {
            rep.error = Some(format!("{}: {e}", path.display()));
            return rep;
        }
    };
    rep.mnemonic = file
        .meta
        .as_ref()
        .map(|m| m.mnemonic.clone())
        .unwrap_or_default();
    for t in &file.tests {
        if ctx.filter.is_some_and(|f| !f.wants_test(stem, t)) {
            continue;
        }
        rep.total += 1;
        if let Some(r) = skip_reason(t, ctx.revoked) {
            rep.skipped[r as usize] += 1;
            continue;
        }
        let rerun = ctx.verbose || rep.failed < RERUNS_PER_FILE;
        match run_one(cpu, t, mask, rerun, ctx.verbose) {
            Verdict::Pass => rep.passed += 1,
            Verdict::Accepted(r) => rep.accepted[r as usize] += 1,
            Verdict::Fail(f) => {
                rep.failed += 1;
                for (i, c) in FailClass::ALL.iter().enumerate() {
                    if f.has(*c) {
                        rep.classes[i] += 1;
                    }
                }
                if ctx.verbose || rep.failures.is_empty() {
                    rep.failures.push(*f);
                }
            }
        }
    }
    rep
}

/// Runs the suite (or the filtered part of it).
pub fn run_suite(opts: &Options) -> Result<Summary, String> {
    let masks = load_masks(&opts.dir)?;
    let revoked = load_revoked(&opts.dir);
    let mut files = list_files(&opts.dir)?;
    if let Some(f) = &opts.filter {
        files.retain(|(stem, _)| f.wants_file(stem));
        if files.is_empty() {
            return Err("filter matches no test file".into());
        }
    }
    // Biggest files first for better balance.
    files.sort_by_key(|(_, p)| std::cmp::Reverse(std::fs::metadata(p).map_or(0, |m| m.len())));
    let ctx = Ctx {
        masks: &masks,
        revoked: &revoked,
        filter: opts.filter.as_ref(),
        verbose: opts.verbose,
    };
    let next = AtomicUsize::new(0);
    let reports = Mutex::new(Vec::new());
    let threads = opts.threads.clamp(1, files.len().max(1));
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                let mut cpu = new_cpu();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((stem, path)) = files.get(i) else {
                        break;
                    };
                    let rep = run_file(&mut cpu, stem, path, &ctx);
                    reports.lock().unwrap_or_else(|e| e.into_inner()).push(rep);
                }
            });
        }
    });
    let mut files = reports.into_inner().unwrap_or_else(|e| e.into_inner());
    files.sort_by(|a, b| a.file.cmp(&b.file));
    Ok(Summary { files })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_with(bytes: &[u8]) -> Test {
        Test {
            index: 0,
            name: String::new(),
            bytes: bytes.to_vec(),
            init: Default::default(),
            fina: Default::default(),
            exception: None,
            hash: None,
        }
    }

    #[test]
    fn skip_rules() {
        let none = HashSet::new();
        let r = |b: &[u8]| skip_reason(&test_with(b), &none);
        assert_eq!(r(&[0x00, 0x07, 0xf4]), None);
        assert_eq!(r(&[0xf0, 0x00, 0x07, 0xf4]), None);
        assert_eq!(r(&[0x26, 0xf0, 0x2e, 0x00, 0x07, 0xf4]), None);
        assert_eq!(r(&[0xf0, 0x00, 0xc7, 0xf4]), Some(SkipReason::Lock));
        assert_eq!(r(&[0xf0, 0x02, 0x07, 0xf4]), Some(SkipReason::Lock));
        assert_eq!(r(&[0xf0, 0x80, 0x3f, 0x01, 0xf4]), Some(SkipReason::Lock));
        assert_eq!(r(&[0xf0, 0x80, 0x37, 0x01, 0xf4]), None);
        assert_eq!(r(&[0xf0, 0xf6, 0x17, 0xf4]), None);
        assert_eq!(r(&[0xf0, 0xf6, 0x27, 0xf4]), Some(SkipReason::Lock));
        assert_eq!(r(&[0xf0, 0x90, 0xf4]), Some(SkipReason::Lock));
        assert_eq!(r(&[0x8c, 0xe0, 0xf4]), Some(SkipReason::FsGs));
        assert_eq!(r(&[0x2e, 0x8e, 0x2f, 0xf4]), Some(SkipReason::FsGs));
        assert_eq!(r(&[0x8e, 0x37, 0xf4]), None);
        assert_eq!(r(&[0x26; 12]), Some(SkipReason::Length));
        assert_eq!(r(&[0x26; 11]), None);
        let mut t = test_with(&[0x90, 0xf4]);
        t.hash = Some([0xAB; 20]);
        let revoked: HashSet<String> = ["ab".repeat(20)].into_iter().collect();
        assert_eq!(skip_reason(&t, &revoked), Some(SkipReason::Revoked));
    }

    #[test]
    fn stack_faults() {
        assert!(stack_fault_possible(&[0xc3, 0xf4]));
        assert!(stack_fault_possible(&[0x26, 0x5b, 0xf4]));
        assert!(stack_fault_possible(&[0x26, 0x36, 0x8b, 0x07, 0xf4]));
        assert!(!stack_fault_possible(&[0x36, 0x26, 0x8b, 0x07, 0xf4]));
        assert!(stack_fault_possible(&[0x8b, 0x46, 0x00, 0xf4]));
        assert!(stack_fault_possible(&[0x01, 0x03, 0xf4]));
        assert!(!stack_fault_possible(&[0x3e, 0x8b, 0x46, 0x00, 0xf4]));
        assert!(!stack_fault_possible(&[0x8b, 0x06, 0x00, 0x10, 0xf4]));
        assert!(!stack_fault_possible(&[0x8b, 0xc6, 0xf4]));
        assert!(!stack_fault_possible(&[0x04, 0x46, 0xf4]));
        assert!(stack_fault_possible(&[0xff, 0x36, 0x00, 0x10, 0xf4]));
        assert!(!stack_fault_possible(&[0xff, 0x06, 0x00, 0x10, 0xf4]));
    }

    #[test]
    fn filter_parsing() {
        let f = Filter::parse("f6.7, 00:12");
        assert!(f.wants_file("F6.7") && f.wants_file("00") && !f.wants_file("01"));
        let mut t = test_with(&[]);
        assert!(f.wants_test("F6.7", &t));
        assert!(!f.wants_test("00", &t));
        t.index = 12;
        assert!(f.wants_test("00", &t));
    }
}
