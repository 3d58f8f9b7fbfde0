//! The host side: runs a case's instruction on this CPU, in 64-bit mode.
//!
//! The instruction is wrapped in a stub written into an executable page. The
//! stub takes a pointer to a [`Frame`] (in RDI), keeps it in R15 — which an
//! instruction without REX cannot name — loads EFLAGS (arithmetic flags and
//! DF), EAX..EDI and then ESP from the frame, runs the instruction, and stores
//! ESP, EFLAGS and the rest back. For x87 cases FRSTOR before and FNSAVE after
//! carry the FPU state. RSP is the case's ESP for exactly the instruction (the
//! real one waits in R14), so ESP is an ordinary operand and base register.
//!
//! The scratch area is mapped at the same low linear address as in ferrite,
//! and the instruction carries an address-size prefix, so its 32-bit
//! effective address is computed exactly as in a 32-bit code segment.

use super::{Case, Outcome, FPU_IMAGE, SCRATCH_LEN, TRACKED_FLAGS};
use std::mem::offset_of;
use std::sync::atomic::{AtomicU64, Ordering};

/// What the stub reads and writes. Offsets are baked into the stub.
#[repr(C)]
struct Frame {
    regs: [u32; 8],
    rflags: u64,
    fpu_in: [u8; FPU_IMAGE],
    fpu_out: [u8; FPU_IMAGE],
}

/// Host CPU features the generator needs to know about.
#[derive(Clone, Copy, Debug)]
pub struct Features {
    /// LAHF/SAHF are valid in 64-bit mode (CPUID.80000001H:ECX[0]).
    pub lahf: bool,
}

pub fn host_features() -> Features {
    #[allow(unused_unsafe)] // safe to call from Rust 1.89 on
    // SAFETY: CPUID exists on every x86-64 processor.
    let (max, ecx) = unsafe {
        (
            std::arch::x86_64::__cpuid(0x8000_0000).eax,
            std::arch::x86_64::__cpuid(0x8000_0001).ecx,
        )
    };
    let lahf = max >= 0x8000_0001 && ecx & 1 != 0;
    Features { lahf }
}

/// The executable page and the scratch mapping for one seed.
pub struct Native {
    code: *mut u8,
    scratch: *mut u8,
    map_base: *mut libc::c_void,
    map_len: usize,
    frame: Box<Frame>,
}

const CODE_LEN: usize = 4096;

fn mmap_anon(hint: usize, len: usize, prot: i32, fixed: bool) -> *mut libc::c_void {
    #[cfg(target_os = "linux")]
    let extra = if fixed { libc::MAP_FIXED_NOREPLACE } else { 0 };
    #[cfg(not(target_os = "linux"))]
    let extra = {
        let _ = fixed;
        0
    };
    // SAFETY: an anonymous private mapping; the hint never replaces anything
    // (MAP_FIXED_NOREPLACE, or a plain hint elsewhere).
    unsafe {
        libc::mmap(
            hint as *mut libc::c_void,
            len,
            prot,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | extra,
            -1,
            0,
        )
    }
}

impl Native {
    /// Maps the scratch area at linear `scratch` and an executable page.
    pub fn new(scratch: u32) -> Result<Native, String> {
        let page = 4096usize;
        let base = scratch as usize & !(page - 1);
        let end = (scratch as usize + SCRATCH_LEN).next_multiple_of(page);
        let len = end - base;
        let m = mmap_anon(base, len, libc::PROT_READ | libc::PROT_WRITE, true);
        if m == libc::MAP_FAILED || m as usize != base {
            if m != libc::MAP_FAILED {
                // SAFETY: unmapping what was just mapped.
                unsafe { libc::munmap(m, len) };
            }
            return Err(format!(
                "cannot map the scratch area at {base:#x} in the test process \
                 (it must sit at the same linear address as in ferrite)"
            ));
        }
        let code = mmap_anon(
            0,
            CODE_LEN,
            libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC,
            false,
        );
        if code == libc::MAP_FAILED {
            // SAFETY: unmapping the scratch mapping made above.
            unsafe { libc::munmap(m, len) };
            return Err("cannot map a writable and executable page".into());
        }
        install_crash_reporter();
        Ok(Native {
            code: code as *mut u8,
            scratch: scratch as usize as *mut u8,
            map_base: m,
            map_len: len,
            frame: Box::new(Frame {
                regs: [0; 8],
                rflags: 0,
                fpu_in: [0; FPU_IMAGE],
                fpu_out: [0; FPU_IMAGE],
            }),
        })
    }

    /// Runs `case` on the host CPU.
    pub fn run(&mut self, case: &Case) -> Outcome {
        let x87 = case.fpu.is_some();
        let mut code = Vec::with_capacity(160);
        stub_prologue(&mut code, x87);
        code.extend_from_slice(&case.native);
        stub_epilogue(&mut code, x87);
        assert!(code.len() <= CODE_LEN);
        let f = &mut *self.frame;
        f.regs = case.regs;
        // Bit 1 is fixed; IF is ignored by POPFQ at CPL 3 but keep it set.
        f.rflags = (case.eflags & TRACKED_FLAGS) as u64 | 0x202;
        if let Some(img) = &case.fpu {
            f.fpu_in = *img;
        }
        // SAFETY: `scratch` is our mapping of at least SCRATCH_LEN bytes and
        // `code` our executable page; the stub preserves every callee-saved
        // register, returns with DF clear and the stack as it found it, and
        // the instruction (no REX, 67h prefix) can reach only the frame's
        // registers and the scratch area.
        unsafe {
            std::ptr::copy_nonoverlapping(case.mem.as_ptr(), self.scratch, SCRATCH_LEN);
            std::ptr::copy_nonoverlapping(code.as_ptr(), self.code, code.len());
            std::sync::atomic::compiler_fence(Ordering::SeqCst);
            let entry: extern "sysv64" fn(*mut Frame) = std::mem::transmute(self.code);
            entry(f as *mut Frame);
            std::sync::atomic::compiler_fence(Ordering::SeqCst);
        }
        let mut mem = [0u8; SCRATCH_LEN];
        // SAFETY: as above.
        unsafe { std::ptr::copy_nonoverlapping(self.scratch, mem.as_mut_ptr(), SCRATCH_LEN) };
        Outcome {
            regs: f.regs,
            eflags: f.rflags as u32 & TRACKED_FLAGS,
            mem,
            fpu: x87.then_some(f.fpu_out),
            fault: None,
        }
    }
}

impl Drop for Native {
    fn drop(&mut self) {
        // SAFETY: both mappings are ours and nothing refers to them any more.
        unsafe {
            libc::munmap(self.map_base, self.map_len);
            libc::munmap(self.code as *mut libc::c_void, CODE_LEN);
        }
    }
}

// The stub. R15 = &Frame, R14 = the real RSP. Memory operands use
// [r15 + disp32] (REX.B, mod=10, r/m=111).
const REGS: usize = offset_of!(Frame, regs);
const RFLAGS: usize = offset_of!(Frame, rflags);
const FPU_IN: usize = offset_of!(Frame, fpu_in);
const FPU_OUT: usize = offset_of!(Frame, fpu_out);

/// `op [r15 + disp]` with `reg` in the ModRM reg field.
fn r15_mem(code: &mut Vec<u8>, rex: u8, op: &[u8], reg: u8, disp: usize) {
    code.push(rex);
    code.extend_from_slice(op);
    code.push(0x80 | (reg << 3) | 7);
    code.extend_from_slice(&(disp as u32).to_le_bytes());
}

/// Load order: ESP last, so that RSP is the case's only for the instruction.
const LOAD_ORDER: [u8; 8] = [0, 1, 2, 3, 5, 6, 7, 4];

fn stub_prologue(code: &mut Vec<u8>, x87: bool) {
    code.extend_from_slice(&[0x53, 0x55, 0x41, 0x56, 0x41, 0x57]); // push rbx, rbp, r14, r15
    code.extend_from_slice(&[0x49, 0x89, 0xFF]); // mov r15, rdi
    if x87 {
        r15_mem(code, 0x41, &[0xDD], 4, FPU_IN); // frstor [r15+fpu_in]
    }
    code.extend_from_slice(&[0x49, 0x89, 0xE6]); // mov r14, rsp
    r15_mem(code, 0x41, &[0xFF], 6, RFLAGS); // push qword [r15+rflags]
    code.push(0x9D); // popfq
    for r in LOAD_ORDER {
        r15_mem(code, 0x41, &[0x8B], r, REGS + 4 * r as usize); // mov r32, [r15+..]
    }
}

fn stub_epilogue(code: &mut Vec<u8>, x87: bool) {
    r15_mem(code, 0x41, &[0x89], 4, REGS + 16); // mov [r15+esp], esp
    code.extend_from_slice(&[0x4C, 0x89, 0xF4]); // mov rsp, r14
    if x87 {
        r15_mem(code, 0x41, &[0xDD], 6, FPU_OUT); // fnsave [r15+fpu_out]
    }
    code.push(0x9C); // pushfq
    r15_mem(code, 0x41, &[0x8F], 0, RFLAGS); // pop qword [r15+rflags]
    code.push(0xFC); // cld
    for r in [0u8, 1, 2, 3, 5, 6, 7] {
        r15_mem(code, 0x41, &[0x89], r, REGS + 4 * r as usize); // mov [r15+..], r32
    }
    code.extend_from_slice(&[0x41, 0x5F, 0x41, 0x5E, 0x5D, 0x5B, 0xC3]); // pop r15, r14, rbp, rbx; ret
}

// A crash of the host process (an instruction the generator should not have
// produced) would otherwise say nothing about which case it was: each worker
// thread notes its current case, and a handler for the fatal signals prints
// it before the process dies.

thread_local! {
    static SLOT: std::cell::Cell<usize> = const { std::cell::Cell::new(usize::MAX) };
}
const SLOTS: usize = 64;
static CURRENT: [[AtomicU64; 2]; SLOTS] =
    [const { [const { AtomicU64::new(u64::MAX) }; 2] }; SLOTS];
static NEXT_SLOT: AtomicU64 = AtomicU64::new(0);

/// Records the case this thread is about to run natively.
pub fn note_case(seed: u64, index: u64) {
    let slot = SLOT.with(|s| {
        if s.get() == usize::MAX {
            s.set(NEXT_SLOT.fetch_add(1, Ordering::Relaxed) as usize % SLOTS);
        }
        s.get()
    });
    CURRENT[slot][0].store(seed, Ordering::Relaxed);
    CURRENT[slot][1].store(index, Ordering::Relaxed);
}

fn write_num(buf: &mut [u8], mut at: usize, v: u64) -> usize {
    let mut digits = [0u8; 20];
    let mut n = 0;
    let mut v = v;
    loop {
        digits[n] = b'0' + (v % 10) as u8;
        n += 1;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    while n > 0 && at < buf.len() {
        n -= 1;
        buf[at] = digits[n];
        at += 1;
    }
    at
}

fn write_str(buf: &mut [u8], at: usize, s: &[u8]) -> usize {
    let n = s.len().min(buf.len() - at);
    buf[at..at + n].copy_from_slice(&s[..n]);
    at + n
}

extern "C" fn on_fatal_signal(sig: libc::c_int) {
    let slot = SLOT.with(|s| s.get());
    let mut buf = [0u8; 256];
    let mut at = write_str(&mut buf, 0, b"\nhostdiff: the host died of signal ");
    at = write_num(&mut buf, at, sig as u64);
    if slot < SLOTS {
        let seed = CURRENT[slot][0].load(Ordering::Relaxed);
        let index = CURRENT[slot][1].load(Ordering::Relaxed);
        at = write_str(&mut buf, at, b" running FERRITE_HOSTDIFF_SEED=");
        at = write_num(&mut buf, at, seed);
        at = write_str(&mut buf, at, b" FERRITE_HOSTDIFF_CASE=");
        at = write_num(&mut buf, at, index);
    }
    at = write_str(&mut buf, at, b"\n");
    // SAFETY: write(2) and signal(2) are async-signal-safe; restoring the
    // default action and returning re-runs the faulting instruction, which
    // then kills the process with the original signal.
    unsafe {
        libc::write(2, buf.as_ptr() as *const libc::c_void, at);
        libc::signal(sig, libc::SIG_DFL);
    }
}

fn install_crash_reporter() {
    thread_local! {
        static ALT_STACK: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }
    // The case's ESP is live during the instruction, so the handler needs a
    // stack of its own, per thread.
    ALT_STACK.with(|done| {
        if done.get() {
            return;
        }
        done.set(true);
        let size = 256 * 1024;
        let stack = mmap_anon(0, size, libc::PROT_READ | libc::PROT_WRITE, false);
        if stack == libc::MAP_FAILED {
            return;
        }
        let ss = libc::stack_t {
            ss_sp: stack,
            ss_flags: 0,
            ss_size: size,
        };
        // SAFETY: the stack is ours for the life of the process (it is
        // never unmapped: the thread may still be on it at exit).
        unsafe { libc::sigaltstack(&ss, std::ptr::null_mut()) };
    });
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        for sig in [libc::SIGSEGV, libc::SIGILL, libc::SIGFPE, libc::SIGBUS] {
            // SAFETY: installing a handler that only writes and restores.
            unsafe {
                let mut sa: libc::sigaction = std::mem::zeroed();
                sa.sa_sigaction = on_fatal_signal as *const () as usize;
                sa.sa_flags = libc::SA_ONSTACK;
                libc::sigemptyset(&mut sa.sa_mask);
                libc::sigaction(sig, &sa, std::ptr::null_mut());
            }
        }
    });
}
