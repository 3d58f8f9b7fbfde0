//! The case generator: picks an instruction class, an encoding and a
//! starting state, deterministically from the case's [`Rng`].
//!
//! Memory operands are real: the generator picks an addressing form (any
//! ModRM/SIB combination with a base, an index, both or neither, scales 1–8,
//! no/8-bit/32-bit displacement, ESP and EBP as bases), a target in the
//! scratch area, and then solves for the base (or index, or displacement)
//! value that makes the effective address land there — with wrap-around at
//! 4 GiB, which both worlds compute the same way. Those registers are then
//! "pinned": later set-up leaves them alone.
//!
//! The classes themselves are in [`super::integer`] and [`super::x87`].

use super::integer::CLASSES;
use super::{x87, Case, Check, SCRATCH_LEN};
use crate::rng::Rng;
use emu_core::cpu::flags::{ARITH, DF};

/// What the generator may produce.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Generate x87 cases (ferrite has an FPU).
    pub x87: bool,
    /// LAHF/SAHF run natively (they need CPUID.80000001H:ECX[0] in 64-bit mode).
    pub lahf: bool,
}

/// An operand's place: a register (by encoding, so 4..7 are AH..BH for
/// byte operands) or a scratch offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loc {
    Reg(u8),
    Mem(usize),
}

/// Case under construction.
pub struct Gen<'a> {
    pub rng: &'a mut Rng,
    pub(super) scratch: u32,
    pub regs: [u32; 8],
    pub mem: [u8; SCRATCH_LEN],
    pub eflags: u32,
    /// Registers holding parts of an address (bit per register).
    pinned: u8,
    prefixes: Vec<u8>,
    opcode: Vec<u8>,
    rm_emu: Vec<u8>,
    rm_host: Vec<u8>,
    imm: Vec<u8>,
    /// Finished instructions (flag pairs have two).
    code_emu: Vec<u8>,
    code_host: Vec<u8>,
    pub check: Check,
    pub(super) focus: Option<usize>,
    fpu: Option<[u8; super::FPU_IMAGE]>,
}

const fn mask(w: u32) -> u32 {
    u32::MAX >> (32 - w)
}

impl<'a> Gen<'a> {
    pub fn new(rng: &'a mut Rng, scratch: u32) -> Gen<'a> {
        let mut g = Gen {
            rng,
            scratch,
            regs: [0; 8],
            mem: [0; SCRATCH_LEN],
            eflags: 0,
            pinned: 0,
            prefixes: Vec::new(),
            opcode: Vec::new(),
            rm_emu: Vec::new(),
            rm_host: Vec::new(),
            imm: Vec::new(),
            code_emu: Vec::new(),
            code_host: Vec::new(),
            check: Check::default(),
            focus: None,
            fpu: None,
        };
        g.reset();
        g
    }

    /// A fresh random state and an empty encoding.
    fn reset(&mut self) {
        for r in 0..8 {
            self.regs[r] = self.val(32);
        }
        let mut mem = [0u8; SCRATCH_LEN];
        self.rng.fill(&mut mem);
        self.mem = mem;
        self.eflags = self.rng.next_u32() & (ARITH | DF);
        self.pinned = 0;
        self.prefixes.clear();
        self.opcode.clear();
        self.rm_emu.clear();
        self.rm_host.clear();
        self.imm.clear();
        self.code_emu.clear();
        self.code_host.clear();
        self.check = Check::default();
        self.focus = None;
        self.fpu = None;
    }

    pub fn below(&mut self, n: u32) -> u32 {
        self.rng.below(n)
    }

    pub fn chance(&mut self, one_in: u32) -> bool {
        self.rng.below(one_in) == 0
    }

    /// An interesting value of `w` bits: uniform half the time, otherwise
    /// small, negative-small, a power of two, a boundary or a sparse value.
    pub fn val(&mut self, w: u32) -> u32 {
        let msb = 1u32 << (w - 1);
        let m = mask(w);
        let v = match self.rng.below(12) {
            0..=5 => self.rng.next_u32(),
            6 => self.rng.below(17),
            7 => 0u32.wrapping_sub(self.rng.below(17)),
            8 => {
                let specials = [
                    0,
                    1,
                    msb,
                    msb - 1,
                    msb + 1,
                    m,
                    m - 1,
                    0x5555_5555,
                    0xAAAA_AAAA,
                    msb | 1,
                ];
                specials[self.rng.below(specials.len() as u32) as usize]
            }
            9 => (1u32 << self.rng.below(w)).wrapping_add(self.rng.below(3).wrapping_sub(1)),
            10 => self.rng.next_u32() & self.rng.next_u32() & self.rng.next_u32(),
            _ => self.rng.next_u32() >> self.rng.below(32),
        };
        v & m
    }

    /// 8, 16 or 32.
    pub fn width(&mut self) -> u32 {
        [8, 16, 32][self.rng.below(3) as usize]
    }

    /// 16 or 32.
    pub fn width_wd(&mut self) -> u32 {
        if self.chance(2) {
            16
        } else {
            32
        }
    }

    /// The operand-size prefix for `w` (and, rarely, a redundant one on a
    /// byte instruction, which must be ignored).
    pub fn opsize(&mut self, w: u32) {
        if w == 16 || (w == 8 && self.chance(16)) {
            self.prefixes.push(0x66);
        }
    }

    pub fn prefix(&mut self, p: u8) {
        self.prefixes.push(p);
    }

    pub fn op(&mut self, bytes: &[u8]) {
        self.opcode.extend_from_slice(bytes);
    }

    pub fn imm(&mut self, w: u32, v: u32) {
        self.imm
            .extend_from_slice(&v.to_le_bytes()[..(w / 8) as usize]);
    }

    /// The 32-bit register holding register operand `r` of width `w`.
    fn reg32(r: u8, w: u32) -> usize {
        if w == 8 {
            (r & 3) as usize
        } else {
            r as usize
        }
    }

    pub fn get(&self, loc: Loc, w: u32) -> u32 {
        match loc {
            Loc::Reg(r) if w == 8 => {
                let v = self.regs[(r & 3) as usize];
                if r < 4 {
                    v & 0xFF
                } else {
                    (v >> 8) & 0xFF
                }
            }
            Loc::Reg(r) => self.regs[r as usize] & mask(w),
            Loc::Mem(off) => {
                let mut b = [0u8; 4];
                let n = (w / 8) as usize;
                b[..n].copy_from_slice(&self.mem[off..off + n]);
                u32::from_le_bytes(b)
            }
        }
    }

    /// Sets an operand's starting value; false if it is (part of) a pinned
    /// address register.
    pub fn set(&mut self, loc: Loc, w: u32, v: u32) -> bool {
        match loc {
            Loc::Reg(r) => {
                let r32 = Self::reg32(r, w);
                if self.pinned & (1 << r32) != 0 {
                    return false;
                }
                let old = self.regs[r32];
                self.regs[r32] = match w {
                    8 if r < 4 => (old & !0xFF) | (v & 0xFF),
                    8 => (old & !0xFF00) | ((v & 0xFF) << 8),
                    16 => (old & !0xFFFF) | (v & 0xFFFF),
                    _ => v,
                };
                true
            }
            Loc::Mem(off) => {
                let n = (w / 8) as usize;
                self.mem[off..off + n].copy_from_slice(&v.to_le_bytes()[..n]);
                true
            }
        }
    }

    /// Gives an operand an interesting value (half the time).
    pub fn spice(&mut self, loc: Loc, w: u32) {
        if self.chance(2) {
            let v = self.val(w);
            self.set(loc, w, v);
        }
    }

    /// Marks the flags in `bits` undefined (not compared), with the reason.
    pub fn undefined(&mut self, bits: u32, why: &'static str) {
        if bits != 0 {
            self.check.flags &= !bits;
            self.check.why = why;
        }
    }

    /// A register operand number (0..7).
    pub fn any_reg(&mut self) -> u8 {
        self.rng.below(8) as u8
    }

    /// ModRM with `reg` in the reg field and a register (mod=11) or memory
    /// r/m operand of `size` bytes. `mem`: None = either, Some(b) = forced.
    /// `align`: the memory operand is naturally aligned (LOCKed accesses must
    /// not split cache lines). `avoid`: registers not to use for addressing.
    pub fn modrm(&mut self, reg: u8, size: u32, mem: Option<bool>, align: bool, avoid: u8) -> Loc {
        let mem = mem.unwrap_or_else(|| self.chance(2));
        if !mem {
            let rm = self.any_reg();
            let b = 0xC0 | (reg << 3) | rm;
            self.rm_emu.push(b);
            self.rm_host.push(b);
            return Loc::Reg(rm);
        }
        let off = self.mem_offset(size, align);
        self.address(reg, off, avoid, false);
        Loc::Mem(off)
    }

    /// A scratch offset for a `size`-byte operand, leaving room around it for
    /// string steps and bit-string offsets.
    pub fn mem_offset(&mut self, size: u32, align: bool) -> usize {
        let off = if align {
            64 + self.rng.below(120 / size) * size
        } else {
            64 + self.rng.below(120)
        } as usize;
        self.focus = Some(off);
        off
    }

    /// Encodes a memory ModRM (+SIB, +displacement) for `reg` whose effective
    /// address is scratch + `off`, setting (pinning) the address registers.
    /// With `free` (LEA), registers and displacement stay random instead.
    pub fn address(&mut self, reg: u8, off: usize, avoid: u8, free: bool) {
        let target = self.scratch.wrapping_add(off as u32);
        let allowed = |r: u32| avoid & (1 << r) == 0;
        loop {
            let mut md = self.rng.below(3); // 0: no disp, 1: disp8, 2: disp32
            let sib = self.chance(2);
            let (base, index, scale) = if sib {
                let base = self.rng.below(8);
                let index = self.rng.below(8);
                let scale = self.rng.below(4);
                (
                    if md == 0 && base == 5 {
                        None
                    } else {
                        Some(base)
                    },
                    if index == 4 { None } else { Some(index) },
                    scale,
                )
            } else {
                let rm = [0, 1, 2, 3, 5, 6, 7][self.rng.below(7) as usize];
                (if md == 0 && rm == 5 { None } else { Some(rm) }, None, 0)
            };
            if base.is_some_and(|b| !allowed(b)) || index.is_some_and(|i| !allowed(i)) {
                continue;
            }
            // A same-register base and index with scale 1 needs an even sum.
            let mut disp: u32 = match md {
                1 => self.rng.next_u32() as i8 as i32 as u32,
                2 => self.rng.next_u32(),
                _ => 0,
            };
            if base.is_none() {
                // disp32 with no base: the displacement is 32 bits whatever mod says.
                disp = self.rng.next_u32();
            }
            let (mut bv, mut iv) = (0u32, 0u32);
            if !free {
                let rest = target.wrapping_sub(disp);
                match (base, index) {
                    (None, None) => disp = target,
                    (None, Some(_)) => {
                        iv = self.val(32);
                        disp = target.wrapping_sub(iv << scale);
                    }
                    (Some(_), None) => bv = rest,
                    (Some(b), Some(i)) if b != i => {
                        iv = self.val(32);
                        bv = rest.wrapping_sub(iv << scale);
                    }
                    (Some(_), Some(_)) => {
                        // v + (v << s) + disp = target.
                        let m = 1u32 + (1 << scale);
                        if md == 2 {
                            bv = self.rng.next_u32();
                            disp = target.wrapping_sub(bv.wrapping_mul(m));
                        } else if m % 2 == 1 {
                            bv = rest.wrapping_mul(inverse(m));
                        } else if rest.is_multiple_of(2) {
                            bv = (rest / 2) | (self.rng.next_u32() & 0x8000_0000);
                        } else {
                            md = 2;
                            bv = self.rng.next_u32();
                            disp = target.wrapping_sub(bv.wrapping_mul(m));
                        }
                        iv = bv;
                    }
                }
                if let Some(b) = base {
                    self.regs[b as usize] = bv;
                    self.pinned |= 1 << b;
                }
                if let Some(i) = index {
                    self.regs[i as usize] = iv;
                    self.pinned |= 1 << i;
                }
            }
            // Encode.
            let md = if base.is_none() { 0 } else { md };
            let (emu, host) = if !sib && base.is_none() {
                // disp32 alone: mod=00 r/m=101. In 64-bit mode that is
                // RIP-relative, so the host gets the SIB form of the same thing.
                let mut e = vec![(reg << 3) | 5];
                e.extend_from_slice(&disp.to_le_bytes());
                let mut h = vec![(reg << 3) | 4, 0x25];
                h.extend_from_slice(&disp.to_le_bytes());
                (e, h)
            } else if !sib {
                let b = base.unwrap() as u8;
                let mut e = vec![((md as u8) << 6) | (reg << 3) | b];
                push_disp(&mut e, md, disp);
                (e.clone(), e)
            } else {
                let b = base.unwrap_or(5) as u8;
                let i = index.unwrap_or(4) as u8;
                let mut e = vec![
                    ((md as u8) << 6) | (reg << 3) | 4,
                    ((scale as u8) << 6) | (i << 3) | b,
                ];
                push_disp(&mut e, if base.is_none() { 2 } else { md }, disp);
                (e.clone(), e)
            };
            self.rm_emu.extend_from_slice(&emu);
            self.rm_host.extend_from_slice(&host);
            return;
        }
    }

    /// A segment override that is harmless in both worlds (flat ES/SS/DS;
    /// CS is not writable in ferrite, FS/GS have other bases natively).
    pub fn maybe_segment(&mut self) {
        if self.chance(10) {
            let p = [0x26, 0x36, 0x3E][self.rng.below(3) as usize];
            self.prefixes.push(p);
        }
    }

    /// LOCK, on a memory destination, one time in `one_in`.
    pub fn maybe_lock(&mut self, dest: Loc, one_in: u32) -> bool {
        if matches!(dest, Loc::Mem(_)) && self.chance(one_in) {
            self.prefixes.push(0xF0);
            true
        } else {
            false
        }
    }

    /// Shuffles the legacy prefixes (their order does not matter).
    fn shuffle_prefixes(&mut self) {
        let n = self.prefixes.len();
        for i in (1..n).rev() {
            let j = self.rng.below(i as u32 + 1) as usize;
            self.prefixes.swap(i, j);
        }
    }

    /// Ends the instruction being built: appends both encodings to the code.
    pub fn end_insn(&mut self) {
        if self.opcode.is_empty() {
            return;
        }
        if self.chance(2) {
            self.shuffle_prefixes();
        }
        let mut host = vec![0x67];
        host.extend_from_slice(&self.prefixes);
        host.extend_from_slice(&self.opcode);
        host.extend_from_slice(&self.rm_host);
        host.extend_from_slice(&self.imm);
        self.code_host.extend_from_slice(&host);
        self.code_emu.extend_from_slice(&self.prefixes);
        self.code_emu.extend_from_slice(&self.opcode);
        self.code_emu.extend_from_slice(&self.rm_emu);
        self.code_emu.extend_from_slice(&self.imm);
        self.prefixes.clear();
        self.opcode.clear();
        self.rm_emu.clear();
        self.rm_host.clear();
        self.imm.clear();
    }

    /// Appends an instruction encoded by hand, differently for each world.
    pub fn raw(&mut self, emu: &[u8], host: &[u8]) {
        self.end_insn();
        self.code_emu.extend_from_slice(emu);
        self.code_host.extend_from_slice(host);
    }

    /// The finished case.
    pub fn finish(mut self, class: &'static str) -> Case {
        self.end_insn();
        Case {
            class,
            bytes: self.code_emu,
            native: self.code_host,
            regs: self.regs,
            eflags: self.eflags,
            mem: self.mem,
            fpu: self.fpu,
            focus: self.focus,
            check: self.check,
        }
    }

    /// The opcode bytes of the instruction being built.
    pub fn last_opcode(&self) -> Vec<u8> {
        self.opcode.clone()
    }

    /// Sets the FPU image for an x87 case.
    pub fn set_fpu(&mut self, img: [u8; super::FPU_IMAGE]) {
        self.fpu = Some(img);
    }
}

fn push_disp(v: &mut Vec<u8>, md: u32, disp: u32) {
    match md {
        1 => v.push(disp as u8),
        2 => v.extend_from_slice(&disp.to_le_bytes()),
        _ => {}
    }
}

/// The inverse of odd `m` modulo 2^32 (Newton's iteration).
fn inverse(m: u32) -> u32 {
    let mut x = m;
    for _ in 0..5 {
        x = x.wrapping_mul(2u32.wrapping_sub(m.wrapping_mul(x)));
    }
    x
}

/// A generator for one class: fills in `g`; returns false if the state it
/// drew is unusable (a divide error), and the case is drawn again.
pub type ClassFn = fn(&mut Gen) -> bool;

/// Total weight of the x87 classes, when they are on.
const X87_WEIGHT: u32 = 30;

/// Draws one case.
pub fn generate(rng: &mut Rng, scratch: u32, opts: &Options) -> Case {
    let int_total: u32 = CLASSES.iter().map(|c| c.1).sum();
    let total = int_total + if opts.x87 { X87_WEIGHT } else { 0 };
    let mut pick = rng.below(total);
    let mut g = Gen::new(rng, scratch);
    if pick >= int_total {
        let class = x87::generate(&mut g);
        return g.finish(class);
    }
    let mut chosen = &CLASSES[0];
    for c in CLASSES {
        if pick < c.1 {
            chosen = c;
            break;
        }
        pick -= c.1;
    }
    loop {
        let ok = (chosen.2)(&mut g);
        let lahf_skip = !opts.lahf
            && (matches!(g.opcode.as_slice(), [0x9E] | [0x9F]) || g.code_emu.contains(&0x9F));
        if ok && !lahf_skip {
            return g.finish(chosen.0);
        }
        g.reset();
    }
}
