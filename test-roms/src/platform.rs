//! `platform`: the board's chipset, driven the way a BIOS and a simple
//! interrupt-driven OS driver drive it.
//!
//! 1. **PIC + PIT.** Both 8259As are initialised (ICW1–ICW4) with the
//!    vectors remapped: master IRQ 0–7 → 20h–27h, slave IRQ 8–15 → 28h–2Fh
//!    (the IMRs must read back; any other IRQ, a spurious IRQ 7 included,
//!    fails through the default vector stubs). PIT counter 0 runs in mode 2
//!    with divisor 1193 (1 kHz); the IRQ 0 handler counts ticks, reads the
//!    ISR (IR0 must be in service) and sends a non-specific EOI. Then:
//!    - right after programming, spinning on the tick count in memory (no
//!      port I/O), the first 20 ticks must take at most 21 periods, a period
//!      being measured with RDTSC over 10 later ticks — so the check holds
//!      whatever the TSC's rate, and catches edges merged or late after
//!      reprogramming;
//!    - polling the counter latch (command 00h, LSB then MSB) through 20
//!      reloads, the count stays within 1..=1193, is seen going down, and
//!      every reload (a rising edge of OUT0) is an IRQ 0;
//!    - waiting with `HLT` for 100 ticks counts exactly 100, and the TSC
//!      advances, by more than 0 and no more than 110 periods (whether it
//!      counts halted time or not). That the 100 ms of idle time were
//!      skipped, not executed, the host checks: the whole run retires about
//!      5 M instructions (the busy phases above) over more than a second of
//!      virtual time.
//! 2. **RTC / CMOS.** With UIP clear in register A, reads seconds, minutes,
//!    hours, date, month, year and the century byte (32h), decoding them by
//!    register B's DM and 24/12 bits, and checks the board's fixed start
//!    time: 2000-01-01 00:00:ss with ss < 10. Register D must have VRT. Then
//!    it enables the update-ended interrupt (IRQ 8, through the slave and
//!    the cascade on IR2), halts until it comes (register C must show IRQF
//!    and UF) and checks that the seconds advanced by exactly one. The memory
//!    size bytes must describe 16 MiB (base 640 KiB at 15h/16h,
//!    15360 KiB extended at 17h/18h and 30h/31h) and the checksum at 2Eh/2Fh
//!    must be the sum of 10h–2Dh.
//! 3. **COM1.** 115200 baud (divisor 1, read back through DLAB), 8N1,
//!    FIFOs on with an 8-byte receive trigger (IIR bits 7–6 must read 11),
//!    scratch register, MCR = DTR|RTS|OUT2, IER = receive data + THRE, IRQ 4
//!    unmasked. `HELLO FROM COM1\r\n` (17 bytes) goes out through a queue
//!    that the THRE interrupt drains, at most 16 bytes per interrupt (so at
//!    least two THRE interrupts). The host then types
//!    `ferrite-serial-input\n` (21 bytes), as fast as the FIFO takes them.
//!    A received-data interrupt means the trigger level's worth is there:
//!    the handler takes 8 bytes per such interrupt, which leaves 5 below the
//!    trigger level to come in through the character time-out interrupt.
//!    Both kinds must have happened and the line must match; it is echoed
//!    back as `GOT: ferrite-serial-input\r\n`, and the ROM waits for the
//!    transmitter to be empty (LSR TEMT) before going on.
//! 4. **A20.** With the 8042's A20 output off (command D1h, output port
//!    CDh), port 92h bit 1 alone gates A20: cleared, FFFF:0010 aliases
//!    0000:0000 (a word written through one reads back through the other);
//!    set, they are distinct. With port 92h's bit off, the 8042's output
//!    port bit 1 (D1h with CFh / CDh) does the same. Both are left on. (The
//!    two gates are ORed, as in the PIIX chipsets; QEMU and Bochs instead
//!    let the last one written decide, so this part fails there.)
//! 5. `PASS platform`, exit 0.
//!
//! The ROM must be run with 16 MiB of RAM and the line above fed to COM1
//! once the greeting has gone out (the ROM waits up to 5 s of virtual time
//! for it). POST codes 40h–4Fh mark the progress.

use crate::builder::*;
use iced_x86::code_asm::*;

/// Builds the ROM image.
pub fn build() -> Vec<u8> {
    image().bytes
}

/// Builds the ROM with layout information.
pub fn image() -> RomImage {
    build_rom("platform", body)
}

/// What the ROM sends on COM1 first.
pub const GREETING: &str = "HELLO FROM COM1\r\n";
/// The line the host is expected to type once the greeting is out.
pub const INPUT: &str = "ferrite-serial-input\n";
/// The echo prefix; the ROM sends `GOT: ` + the line without its `\n` + `\r\n`.
pub const ECHO_PREFIX: &str = "GOT: ";
/// RAM the ROM expects the board to have (and CMOS to describe).
pub const RAM_BYTES: usize = 16 << 20;

// Vectors.
const MASTER_BASE: u8 = 0x20;
const SLAVE_BASE: u8 = 0x28;

// Ports.
const PIC1_CMD: u32 = 0x20;
const PIC1_DATA: u32 = 0x21;
const PIC2_CMD: u32 = 0xA0;
const PIC2_DATA: u32 = 0xA1;
const PIT_CH0: u32 = 0x40;
const PIT_CTRL: u32 = 0x43;
const KBC_DATA: u32 = 0x60;
const KBC_STATUS: u32 = 0x64;
const CMOS_INDEX: u32 = 0x70;
const CMOS_DATA: u32 = 0x71;
const PORT92: u32 = 0x92;
const COM1: u16 = 0x3F8;
const RBR: u16 = COM1;
const IER: u16 = COM1 + 1;
const IIR: u16 = COM1 + 2;
const LCR: u16 = COM1 + 3;
const MCR: u16 = COM1 + 4;
const LSR: u16 = COM1 + 5;
const SCR: u16 = COM1 + 7;

const PIT_DIVISOR: u16 = 1193;
/// Ticks the ROM spins for right after programming the PIT.
const FIRST_TICKS: u32 = 20;
/// Counter reloads the ROM busy-waits for, right after programming the PIT.
const BUSY_RELOADS: u32 = 20;
/// The receive FIFO trigger level the ROM programs (FCR bits 7-6 = 10).
const RX_TRIGGER: u32 = 8;

// Variables (SS = 0; always reached through SS so handlers need no DS).
const TICKS: u32 = 0x600;
const TSC0: u32 = 0x604;
const ISR_AT_TICK: u32 = 0x608;
const RTC_IRQS: u32 = 0x60A;
const RTC_C: u32 = 0x60C;
const THRE_IRQS: u32 = 0x610;
const RDA_IRQS: u32 = 0x612;
const TIMEOUT_IRQS: u32 = 0x614;
const RX_LEN: u32 = 0x616;
const TX_HEAD: u32 = 0x618;
const TX_TAIL: u32 = 0x61A;
const TX_BUSY: u32 = 0x61C;
const SECONDS0: u32 = 0x620;
/// TSC ticks in 10 PIT periods, measured while busy.
const TSC_10_PERIODS: u32 = 0x624;
/// Transmit queue: a 256-byte ring indexed by TX_HEAD/TX_TAIL.
const TXQ: u32 = 0x1000;
/// Received bytes.
const RXBUF: u32 = 0x1100;
const RX_MAX: u32 = 64;

fn ssw(addr: u32) -> AsmMemoryOperand {
    word_ptr(addr).ss()
}

fn ssb(addr: u32) -> AsmMemoryOperand {
    byte_ptr(addr).ss()
}

/// Labels of the ROM's subroutines.
struct Subs {
    cmos_read: CodeLabel,
    bcd: CodeLabel,
    rtc_wait_uip: CodeLabel,
    queue_byte: CodeLabel,
    queue_cs_string: CodeLabel,
    tx_kick: CodeLabel,
    a20_alias: CodeLabel,
    kbc_wait: CodeLabel,
    pit_read: CodeLabel,
}

fn body(a: &mut Asm) -> R {
    let subs = Subs {
        cmos_read: a.create_label(),
        bcd: a.create_label(),
        rtc_wait_uip: a.create_label(),
        queue_byte: a.create_label(),
        queue_cs_string: a.create_label(),
        tx_kick: a.create_label(),
        a20_alias: a.create_label(),
        kbc_wait: a.create_label(),
        pit_read: a.create_label(),
    };
    let mut main = a.create_label();
    a.jmp(main)?;
    let handlers = handlers(a)?;
    subroutines(a, &subs)?;
    a.set_label(&mut main)?;

    // Clear the variables.
    a.xor(ax, ax)?;
    a.mov(bx, TICKS)?;
    let l = a.here()?;
    a.mov(word_ptr(bx).ss(), ax)?;
    a.add(bx, 2u32)?;
    a.cmp(bx, 0x640u32)?;
    a.jb(l)?;
    a.set_vector(MASTER_BASE, &handlers.irq0)?;
    a.set_vector(MASTER_BASE + 4, &handlers.irq4)?;
    a.set_vector(SLAVE_BASE, &handlers.irq8)?;

    a.post(0x40)?;
    pic_and_pit(a, &subs)?;
    a.post(0x44)?;
    rtc(a, &subs)?;
    a.post(0x48)?;
    serial(a, &subs)?;
    a.post(0x4C)?;
    a20(a, &subs)?;
    a.post(0x4F)?;
    Ok(())
}

struct Handlers {
    irq0: CodeLabel,
    irq4: CodeLabel,
    irq8: CodeLabel,
}

fn eoi_master(a: &mut Asm) -> R {
    a.mov(al, 0x20u32)?;
    a.out(PIC1_CMD, al)
}

fn handlers(a: &mut Asm) -> Result<Handlers, IcedError> {
    // IRQ 0: count, note the ISR (OCW3 read ISR, then back to IRR), EOI.
    let irq0 = a.here()?;
    a.push(ax)?;
    a.inc(ssw(TICKS))?;
    a.mov(al, 0x0Bu32)?;
    a.out(PIC1_CMD, al)?;
    a.in_(al, PIC1_CMD)?;
    a.mov(ssb(ISR_AT_TICK), al)?;
    a.mov(al, 0x0Au32)?;
    a.out(PIC1_CMD, al)?;
    eoi_master(a)?;
    a.pop(ax)?;
    a.iret()?;

    // IRQ 8 (RTC): read register C (which lowers the line), EOI to the
    // slave, then to the master.
    let irq8 = a.here()?;
    a.push(ax)?;
    a.mov(al, 0x0Cu32)?;
    a.out(CMOS_INDEX, al)?;
    a.in_(al, CMOS_DATA)?;
    a.mov(ssb(RTC_C), al)?;
    a.inc(ssw(RTC_IRQS))?;
    a.mov(al, 0x20u32)?;
    a.out(PIC2_CMD, al)?;
    a.out(PIC1_CMD, al)?;
    a.pop(ax)?;
    a.iret()?;

    // IRQ 4 (COM1): serve what the IIR names until it says nothing is
    // pending, then EOI.
    let irq4 = a.here()?;
    a.pusha()?;
    let mut next = a.create_label();
    let mut done = a.create_label();
    let mut thre = a.create_label();
    let mut rda = a.create_label();
    let mut timeout = a.create_label();
    let mut rx = a.create_label();
    let mut rx_done = a.create_label();
    a.set_label(&mut next)?;
    a.mov(dx, IIR as u32)?;
    a.in_(al, dx)?;
    a.test(al, 1u32)?;
    a.jnz(done)?;
    a.and(al, 0x0Fu32)?;
    a.cmp(al, 0x02u32)?;
    a.je(thre)?;
    a.cmp(al, 0x04u32)?;
    a.je(rda)?;
    a.cmp(al, 0x0Cu32)?;
    a.je(timeout)?;
    // Line status (06h) or modem status (00h): not enabled, so unexpected.
    a.movzx(eax, al)?;
    a.fail_value("COM1 IRQ: IIR names an interrupt that is not enabled", 0, 2)?;

    // Received data available: the trigger level's worth of bytes is there;
    // take that many and leave the rest for the next interrupt. Character
    // time-out: fewer wait and no more are coming; take them all. (CX
    // counts; LSR.DR is checked anyway.)
    a.set_label(&mut rda)?;
    a.inc(ssw(RDA_IRQS))?;
    a.mov(cx, RX_TRIGGER)?;
    a.jmp(rx)?;
    a.set_label(&mut timeout)?;
    a.inc(ssw(TIMEOUT_IRQS))?;
    a.mov(cx, 0xFFFFu32)?;
    a.set_label(&mut rx)?;
    a.mov(dx, LSR as u32)?;
    a.in_(al, dx)?;
    a.test(al, 1u32)?;
    a.jz(next)?;
    a.mov(dx, RBR as u32)?;
    a.in_(al, dx)?;
    a.mov(bx, ssw(RX_LEN))?;
    a.cmp(bx, RX_MAX)?;
    a.jae(rx_done)?;
    a.mov(byte_ptr(bx + RXBUF).ss(), al)?;
    a.inc(ssw(RX_LEN))?;
    a.set_label(&mut rx_done)?;
    a.dec(cx)?;
    a.jnz(rx)?;
    a.jmp(next)?;

    // THR empty: move up to 16 bytes from the queue into the FIFO.
    a.set_label(&mut thre)?;
    a.inc(ssw(THRE_IRQS))?;
    a.mov(cx, 16u32)?;
    a.mov(dx, RBR as u32)?;
    a.mov(bx, ssw(TX_HEAD))?;
    let mut empty = a.create_label();
    let fill = a.here()?;
    a.cmp(bx, ssw(TX_TAIL))?;
    a.je(empty)?;
    a.mov(al, byte_ptr(bx + TXQ).ss())?;
    a.out(dx, al)?;
    a.inc(bx)?;
    a.and(bx, 0xFFu32)?;
    a.dec(cx)?;
    a.jnz(fill)?;
    a.mov(ssw(TX_HEAD), bx)?;
    a.jmp(next)?;
    a.set_label(&mut empty)?;
    a.mov(ssw(TX_HEAD), bx)?;
    // Nothing sent this time: the transmitter goes idle until kicked.
    a.cmp(cx, 16u32)?;
    a.jne(next)?;
    a.mov(ssw(TX_BUSY), 0u32)?;
    a.jmp(next)?;

    a.set_label(&mut done)?;
    eoi_master(a)?;
    a.popa()?;
    a.iret()?;
    Ok(Handlers { irq0, irq4, irq8 })
}

fn subroutines(a: &mut Asm, s: &Subs) -> R {
    // cmos_read: AL = index -> AL = value.
    let mut l = s.cmos_read;
    a.set_label(&mut l)?;
    a.out(CMOS_INDEX, al)?;
    a.in_(al, CMOS_DATA)?;
    a.ret()?;

    // bcd: AL (BCD) -> AL (binary), if register B's DM bit (in BL) is clear.
    let mut l = s.bcd;
    a.set_label(&mut l)?;
    let mut binary = a.create_label();
    a.test(bl, 0x04u32)?;
    a.jnz(binary)?;
    a.push(cx)?;
    a.mov(ah, al)?;
    a.mov(cl, 4u32)?;
    a.shr(ah, cl)?;
    a.and(al, 0x0Fu32)?;
    a.aad(10u32)?;
    a.pop(cx)?;
    a.set_label(&mut binary)?;
    a.ret()?;

    // rtc_wait_uip: waits until register A's UIP is clear.
    let mut l = s.rtc_wait_uip;
    a.set_label(&mut l)?;
    a.push(ax)?;
    a.push(cx)?;
    a.mov(cx, 0xFFFFu32)?;
    let lp = a.here()?;
    let mut clear = a.create_label();
    a.mov(al, 0x0Au32)?;
    a.out(CMOS_INDEX, al)?;
    a.in_(al, CMOS_DATA)?;
    a.test(al, 0x80u32)?;
    a.jz(clear)?;
    a.dec(cx)?;
    a.jnz(lp)?;
    a.fail("RTC: UIP in register A never clears")?;
    a.set_label(&mut clear)?;
    a.pop(cx)?;
    a.pop(ax)?;
    a.ret()?;

    // queue_byte: AL -> transmit queue. Call with IF clear.
    let mut l = s.queue_byte;
    a.set_label(&mut l)?;
    a.push(bx)?;
    a.mov(bx, ssw(TX_TAIL))?;
    a.mov(byte_ptr(bx + TXQ).ss(), al)?;
    a.inc(bx)?;
    a.and(bx, 0xFFu32)?;
    a.cmp(bx, ssw(TX_HEAD))?;
    let mut room = a.create_label();
    a.jne(room)?;
    a.fail("COM1: transmit queue overflow")?;
    a.set_label(&mut room)?;
    a.mov(ssw(TX_TAIL), bx)?;
    a.pop(bx)?;
    a.ret()?;

    // queue_cs_string: the zero-terminated string at CS:SI -> queue.
    let mut l = s.queue_cs_string;
    a.set_label(&mut l)?;
    a.push(ax)?;
    a.push(si)?;
    let lp = a.here()?;
    let mut end = a.create_label();
    a.mov(al, byte_ptr(si).cs())?;
    a.test(al, al)?;
    a.jz(end)?;
    a.call(s.queue_byte)?;
    a.inc(si)?;
    a.jmp(lp)?;
    a.set_label(&mut end)?;
    a.pop(si)?;
    a.pop(ax)?;
    a.ret()?;

    // tx_kick: if the transmitter is idle, mark it busy and re-enable the
    // THRE interrupt, which the UART raises at once while the THR is empty.
    // Call with IF clear.
    let mut l = s.tx_kick;
    a.set_label(&mut l)?;
    let mut busy = a.create_label();
    a.cmp(ssw(TX_BUSY), 0u32)?;
    a.jne(busy)?;
    a.mov(ssw(TX_BUSY), 1u32)?;
    a.push(ax)?;
    a.push(dx)?;
    a.mov(dx, IER as u32)?;
    a.mov(al, 0x01u32)?;
    a.out(dx, al)?;
    a.mov(al, 0x03u32)?;
    a.out(dx, al)?;
    a.pop(dx)?;
    a.pop(ax)?;
    a.set_label(&mut busy)?;
    a.ret()?;

    // a20_alias: AX = 1 if FFFF:0010 aliases 0000:0000, else 0. Preserves
    // the word at 0:0 (vector 0); call with IF clear.
    let mut l = s.a20_alias;
    a.set_label(&mut l)?;
    a.push(bx)?;
    a.push(cx)?;
    a.push(es)?;
    a.mov(ax, 0xFFFFu32)?;
    a.mov(es, ax)?;
    a.mov(bx, word_ptr(0u32).ss())?; // saved 0:0
    a.mov(cx, word_ptr(0x10u32).es())?; // saved FFFF:0010
    a.mov(word_ptr(0u32).ss(), 0x1234u32)?;
    a.mov(word_ptr(0x10u32).es(), 0xABCDu32)?;
    a.xor(ax, ax)?;
    let mut distinct = a.create_label();
    a.cmp(word_ptr(0u32).ss(), 0xABCDu32)?;
    a.jne(distinct)?;
    a.inc(ax)?;
    a.set_label(&mut distinct)?;
    a.mov(word_ptr(0x10u32).es(), cx)?;
    a.mov(word_ptr(0u32).ss(), bx)?;
    a.pop(es)?;
    a.pop(cx)?;
    a.pop(bx)?;
    a.ret()?;

    // kbc_wait: waits until the 8042's input buffer is empty.
    let mut l = s.kbc_wait;
    a.set_label(&mut l)?;
    a.push(ax)?;
    a.push(cx)?;
    a.mov(cx, 0xFFFFu32)?;
    let lp = a.here()?;
    let mut ready = a.create_label();
    a.in_(al, KBC_STATUS)?;
    a.test(al, 0x02u32)?;
    a.jz(ready)?;
    a.dec(cx)?;
    a.jnz(lp)?;
    a.fail("8042: input buffer never empties")?;
    a.set_label(&mut ready)?;
    a.pop(cx)?;
    a.pop(ax)?;
    a.ret()?;

    // pit_read: AX = counter 0 through the counter latch command.
    let mut l = s.pit_read;
    a.set_label(&mut l)?;
    a.mov(al, 0x00u32)?;
    a.out(PIT_CTRL, al)?;
    a.in_(al, PIT_CH0)?;
    a.mov(ah, al)?;
    a.in_(al, PIT_CH0)?;
    a.xchg(al, ah)?;
    a.ret()
}

/// Emits a wait with interrupts enabled: `HLT` until the code `done`
/// emits (with IF clear) jumps to the label it is given, failing with
/// `what` after `max_ticks` PIT ticks. Leaves IF clear.
fn halt_until(
    a: &mut Asm,
    max_ticks: u16,
    what: &str,
    done: impl Fn(&mut Asm, CodeLabel) -> R,
) -> R {
    a.cli()?;
    a.mov(ssw(TICKS), 0u32)?;
    let lp = a.here()?;
    let mut over = a.create_label();
    a.cli()?;
    done(a, over)?;
    a.cmp(ssw(TICKS), max_ticks as u32)?;
    let mut wait = a.create_label();
    a.jb(wait)?;
    a.fail(what)?;
    a.set_label(&mut wait)?;
    // STI's shadow covers HLT: no interrupt slips in between.
    a.sti()?;
    a.hlt()?;
    a.jmp(lp)?;
    a.set_label(&mut over)
}

fn pic_and_pit(a: &mut Asm, s: &Subs) -> R {
    // ICW1: edge, cascade, ICW4. ICW2: vector base. ICW3: slave on IR2 /
    // slave ID 2. ICW4: 8086 mode.
    for (cmd, data, base, icw3) in [
        (PIC1_CMD, PIC1_DATA, MASTER_BASE, 0x04u32),
        (PIC2_CMD, PIC2_DATA, SLAVE_BASE, 0x02u32),
    ] {
        a.mov(al, 0x11u32)?;
        a.out(cmd, al)?;
        a.mov(al, base as u32)?;
        a.out(data, al)?;
        a.mov(al, icw3)?;
        a.out(data, al)?;
        a.mov(al, 0x01u32)?;
        a.out(data, al)?;
    }
    // Masks: only IRQ 0 for now; the slave fully masked.
    a.mov(al, 0xFEu32)?;
    a.out(PIC1_DATA, al)?;
    a.mov(al, 0xFFu32)?;
    a.out(PIC2_DATA, al)?;
    a.in_(al, PIC1_DATA)?;
    a.check8(al, 0xFE, "PIC: master IMR reads back")?;
    a.in_(al, PIC2_DATA)?;
    a.check8(al, 0xFF, "PIC: slave IMR reads back")?;

    // PIT counter 0: LSB then MSB, mode 2, binary; 1193 -> 1 kHz.
    a.mov(al, 0x34u32)?;
    a.out(PIT_CTRL, al)?;
    a.mov(al, (PIT_DIVISOR & 0xFF) as u32)?;
    a.out(PIT_CH0, al)?;
    a.mov(al, (PIT_DIVISOR >> 8) as u32)?;
    a.out(PIT_CH0, al)?;
    a.post(0x41)?;
    first_ticks_on_time(a)?;
    a.post(0x42)?;
    every_reload_interrupts(a, s)?;
    a.post(0x43)?;
    halt_for_100_ticks(a)
}

/// Right after the counter is programmed, with interrupts on, spins on the
/// tick count in memory (no port I/O) until [`FIRST_TICKS`] ticks: TSC_A.
/// Then times 10 whole periods the same way, from one tick to the tenth
/// after it: TSC_B. TSC_A must be at most `FIRST_TICKS + 1` periods (the
/// programming may itself raise OUT0, and the first period can only be
/// shorter): a timer edge swallowed or delayed after reprogramming shows up
/// here, whatever the TSC's rate.
fn first_ticks_on_time(a: &mut Asm) -> R {
    a.rdtsc()?;
    a.mov(dword_ptr(TSC0).ss(), eax)?;
    a.mov(ssw(TICKS), 0u32)?;
    a.sti()?;
    let spin = a.here()?;
    a.cmp(ssw(TICKS), FIRST_TICKS)?;
    a.jb(spin)?;
    a.rdtsc()?;
    a.sub(eax, dword_ptr(TSC0).ss())?;
    a.mov(esi, eax)?; // TSC_A
    a.mov(ax, ssw(TICKS))?;
    let spin = a.here()?;
    a.cmp(ax, ssw(TICKS))?;
    a.je(spin)?;
    a.rdtsc()?;
    a.mov(dword_ptr(TSC0).ss(), eax)?;
    a.mov(ax, ssw(TICKS))?;
    a.add(ax, 10u32)?;
    let spin = a.here()?;
    a.cmp(ssw(TICKS), ax)?;
    a.jb(spin)?;
    a.rdtsc()?;
    a.cli()?;
    // TSC_B, and from it the bound: TSC_B * (FIRST_TICKS + 1) / 10.
    a.sub(eax, dword_ptr(TSC0).ss())?;
    a.mov(dword_ptr(TSC_10_PERIODS).ss(), eax)?;
    a.imul_3(eax, eax, FIRST_TICKS as i32 + 1)?;
    a.xor(edx, edx)?;
    a.mov(ecx, 10u32)?;
    a.div(ecx)?;
    let mut on_time = a.create_label();
    a.cmp(esi, eax)?;
    a.jbe(on_time)?;
    a.print("PIT: TSC bound (21 periods) ")?;
    a.print_hex_eax(8)?;
    a.mov(eax, esi)?;
    a.print(", TSC for the first 20 ticks ")?;
    a.print_hex_eax(8)?;
    a.print("\n")?;
    a.fail("PIT: the first 20 ticks after programming took longer than 21 periods (edges lost or late)")?;
    a.set_label(&mut on_time)
}

/// Polls the counter latch (port I/O) with interrupts on until the count
/// has reloaded (gone up) [`BUSY_RELOADS`] times. Every reload is a rising
/// edge of OUT0, so the IRQ 0 handler must have counted as many ticks (one
/// more if an edge was already pending). The count must stay within
/// 1..=1193 and be seen going down between two reads.
fn every_reload_interrupts(a: &mut Asm, s: &Subs) -> R {
    // Start at a reload, with IF clear.
    a.call(s.pit_read)?;
    a.mov(bx, ax)?;
    a.mov(cx, 0xFFFFu32)?;
    let sync = a.here()?;
    let mut synced = a.create_label();
    a.call(s.pit_read)?;
    a.cmp(ax, bx)?;
    a.mov(bx, ax)?;
    a.ja(synced)?;
    a.dec(cx)?;
    a.jnz(sync)?;
    a.fail("PIT: counter 0 never reloads")?;
    a.set_label(&mut synced)?;
    a.mov(ssw(TICKS), 0u32)?;
    a.xor(di, di)?; // reloads seen
    a.xor(bp, bp)?; // decreases seen
    a.sti()?;
    let poll = a.here()?;
    a.call(s.pit_read)?;
    let mut in_range = a.create_label();
    let mut out_of_range = a.create_label();
    a.cmp(ax, 1u32)?;
    a.jb(out_of_range)?;
    a.cmp(ax, PIT_DIVISOR as u32)?;
    a.jbe(in_range)?;
    a.set_label(&mut out_of_range)?;
    a.movzx(eax, ax)?;
    a.fail_value("PIT: latched count out of 1..=1193", PIT_DIVISOR as u32, 4)?;
    a.set_label(&mut in_range)?;
    let mut same = a.create_label();
    let mut up = a.create_label();
    a.cmp(ax, bx)?;
    a.je(same)?;
    a.ja(up)?;
    a.inc(bp)?;
    a.jmp(same)?;
    a.set_label(&mut up)?;
    a.inc(di)?;
    a.set_label(&mut same)?;
    a.mov(bx, ax)?;
    a.cmp(di, BUSY_RELOADS)?;
    a.jb(poll)?;
    a.cli()?;
    let mut went_down = a.create_label();
    a.cmp(bp, 0u32)?;
    a.jne(went_down)?;
    a.fail("PIT: the latched count never went down between two reads")?;
    a.set_label(&mut went_down)?;
    a.mov(ax, ssw(TICKS))?;
    a.sub(ax, di)?;
    a.cmp(ax, 1u32)?;
    let mut ticks_ok = a.create_label();
    a.jbe(ticks_ok)?; // 0 or 1 (unsigned: a shortfall is a large number)
    a.movzx(eax, ssw(TICKS))?;
    a.fail_value(
        "PIT: IRQ 0 ticks over 20 counter reloads (every reload must interrupt)",
        BUSY_RELOADS,
        4,
    )?;
    a.set_label(&mut ticks_ok)
}

/// Waits with `HLT` for 100 ticks: the count must be exactly 100, and the
/// TSC must have advanced, by no more than the 100 periods that passed
/// (110, in units of the busy-measured period). Whether the TSC counts
/// halted time (a clock) or not (retired instructions) is the CPU's
/// business; either passes. That the idle time was skipped rather than
/// executed is for the host to check (the run's instruction count).
fn halt_for_100_ticks(a: &mut Asm) -> R {
    a.rdtsc()?;
    a.mov(dword_ptr(TSC0).ss(), eax)?;
    halt_until(a, 0xFFFF, "PIT: never reached 100 ticks", |a, done| {
        a.cmp(ssw(TICKS), 100u32)?;
        a.jae(done)
    })?;
    a.rdtsc()?;
    a.sub(eax, dword_ptr(TSC0).ss())?;
    a.mov(ebx, eax)?;
    a.mov(ax, ssw(TICKS))?;
    a.check16(ax, 100, "PIT: IRQ 0 ticks counted")?;
    a.mov(eax, ebx)?;
    let mut some = a.create_label();
    a.cmp(eax, 0u32)?;
    a.ja(some)?;
    a.fail("PIT: the TSC did not advance across 100 ticks")?;
    a.set_label(&mut some)?;
    a.imul_3(ecx, dword_ptr(TSC_10_PERIODS).ss(), 11)?;
    let mut in_time = a.create_label();
    a.cmp(eax, ecx)?;
    a.jbe(in_time)?;
    a.print("PIT: TSC bound (110 periods) ")?;
    a.xchg(eax, ecx)?;
    a.print_hex_eax(8)?;
    a.xchg(eax, ecx)?;
    a.print(", TSC across 100 ticks of HLT ")?;
    a.print_hex_eax(8)?;
    a.print("\n")?;
    a.fail("PIT: the TSC ran ahead of 100 PIT periods across 100 ticks of HLT")?;
    a.set_label(&mut in_time)?;
    a.mov(al, ssb(ISR_AT_TICK))?;
    a.check8(al, 0x01, "PIC: ISR in the IRQ 0 handler")?;
    // Everything acknowledged and ended: ISR reads 0.
    a.mov(al, 0x0Bu32)?;
    a.out(PIC1_CMD, al)?;
    a.in_(al, PIC1_CMD)?;
    a.check8(al, 0x00, "PIC: ISR after EOI")?;
    a.mov(al, 0x0Au32)?;
    a.out(PIC1_CMD, al)
}

fn rtc(a: &mut Asm, s: &Subs) -> R {
    a.cli()?;
    a.call(s.rtc_wait_uip)?;
    // BL = register B for the whole of the decoding.
    a.mov(al, 0x0Bu32)?;
    a.call(s.cmos_read)?;
    a.mov(bl, al)?;
    for (index, expected, what) in [
        (0x02u8, 0u8, "RTC: minutes"),
        (0x07, 1, "RTC: date (day of month)"),
        (0x08, 1, "RTC: month"),
        (0x09, 0, "RTC: year (of century)"),
    ] {
        a.mov(al, index as u32)?;
        a.call(s.cmos_read)?;
        a.call(s.bcd)?;
        a.check8(al, expected, what)?;
    }
    // The century byte is the BIOS's, in BCD whatever DM says.
    a.mov(al, 0x32u32)?;
    a.call(s.cmos_read)?;
    a.check8(al, 0x20, "CMOS 32h: century (BCD)")?;
    // Hours: in 12-hour mode midnight is 12 AM (bit 7 clear).
    a.mov(al, 0x04u32)?;
    a.call(s.cmos_read)?;
    let mut h24 = a.create_label();
    let mut hour_ok = a.create_label();
    a.test(bl, 0x02u32)?;
    a.jnz(h24)?;
    a.call(s.bcd)?;
    a.check8(al, 12, "RTC: hours (12-hour mode, 12 AM)")?;
    a.jmp(hour_ok)?;
    a.set_label(&mut h24)?;
    a.call(s.bcd)?;
    a.check8(al, 0, "RTC: hours (24-hour mode)")?;
    a.set_label(&mut hour_ok)?;
    // Seconds: a few seconds at most have passed since power-on.
    a.mov(al, 0x00u32)?;
    a.call(s.cmos_read)?;
    a.call(s.bcd)?;
    a.mov(ssb(SECONDS0), al)?;
    let mut secs_ok = a.create_label();
    a.cmp(al, 10u32)?;
    a.jb(secs_ok)?;
    a.movzx(eax, al)?;
    a.fail_value("RTC: seconds since power-on (expected below)", 10, 2)?;
    a.set_label(&mut secs_ok)?;
    // Register D: VRT (bit 7) — the battery is good.
    a.mov(al, 0x0Du32)?;
    a.call(s.cmos_read)?;
    a.and(al, 0x80u32)?;
    a.check8(al, 0x80, "RTC: register D VRT")?;

    // Memory size for 16 MiB.
    for (index, expected, what) in [
        (0x15u8, 0x80u8, "CMOS 15h: base memory KiB, low"),
        (0x16, 0x02, "CMOS 16h: base memory KiB, high"),
        (0x17, 0x00, "CMOS 17h: extended memory KiB, low"),
        (0x18, 0x3C, "CMOS 18h: extended memory KiB, high"),
        (0x30, 0x00, "CMOS 30h: extended memory KiB, low"),
        (0x31, 0x3C, "CMOS 31h: extended memory KiB, high"),
    ] {
        a.mov(al, index as u32)?;
        a.call(s.cmos_read)?;
        a.check8(al, expected, what)?;
    }
    // Checksum: the sum of 10h-2Dh is at 2Eh (high) / 2Fh (low).
    a.xor(dx, dx)?;
    a.mov(cl, 0x10u32)?;
    let lp = a.here()?;
    a.mov(al, cl)?;
    a.call(s.cmos_read)?;
    a.xor(ah, ah)?;
    a.add(dx, ax)?;
    a.inc(cl)?;
    a.cmp(cl, 0x2Eu32)?;
    a.jb(lp)?;
    a.mov(al, 0x2Eu32)?;
    a.call(s.cmos_read)?;
    a.mov(ah, al)?;
    a.mov(al, 0x2Fu32)?;
    a.call(s.cmos_read)?;
    let mut sum_ok = a.create_label();
    a.cmp(ax, dx)?;
    a.je(sum_ok)?;
    a.xchg(ax, dx)?;
    a.movzx(eax, ax)?;
    a.fail_value(
        "CMOS checksum at 2Eh/2Fh (expected the stored one, got the sum)",
        0,
        4,
    )?;
    a.set_label(&mut sum_ok)?;
    a.post(0x45)?;

    // The update-ended interrupt through the slave PIC: read C to clear
    // old flags, set UIE, unmask IRQ 8 and the cascade, halt until it comes.
    a.mov(al, 0x0Cu32)?;
    a.call(s.cmos_read)?;
    a.mov(al, 0x0Bu32)?;
    a.out(CMOS_INDEX, al)?;
    a.mov(al, bl)?;
    a.or(al, 0x10u32)?;
    a.out(CMOS_DATA, al)?;
    a.mov(al, 0xFEu32)?;
    a.out(PIC2_DATA, al)?;
    a.mov(al, 0xFAu32)?;
    a.out(PIC1_DATA, al)?;
    halt_until(
        a,
        3000,
        "RTC: no update-ended interrupt (IRQ 8)",
        |a, done| {
            a.cmp(ssw(RTC_IRQS), 0u32)?;
            a.jne(done)
        },
    )?;
    a.mov(al, 0xFEu32)?;
    a.out(PIC1_DATA, al)?;
    a.mov(al, 0xFFu32)?;
    a.out(PIC2_DATA, al)?;
    a.mov(ax, ssw(RTC_IRQS))?;
    a.check16(ax, 1, "RTC: update-ended interrupts taken")?;
    a.mov(al, ssb(RTC_C))?;
    a.and(al, 0x90u32)?;
    a.check8(al, 0x90, "RTC: register C in the IRQ 8 handler (IRQF | UF)")?;
    // UIE off again.
    a.mov(al, 0x0Bu32)?;
    a.out(CMOS_INDEX, al)?;
    a.mov(al, bl)?;
    a.out(CMOS_DATA, al)?;
    // One update cycle later, one second later.
    a.call(s.rtc_wait_uip)?;
    a.mov(al, 0x00u32)?;
    a.call(s.cmos_read)?;
    a.call(s.bcd)?;
    a.dec(al)?;
    a.cmp(al, ssb(SECONDS0))?;
    let mut tick_ok = a.create_label();
    a.je(tick_ok)?;
    a.inc(al)?;
    a.movzx(eax, al)?;
    a.fail_value(
        "RTC: seconds after one update cycle (expected one more than before)",
        0,
        2,
    )?;
    a.set_label(&mut tick_ok)?;
    a.post(0x46)
}

fn serial(a: &mut Asm, s: &Subs) -> R {
    a.cli()?;
    a.mov(dx, LCR as u32)?;
    a.mov(al, 0x80u32)?; // DLAB
    a.out(dx, al)?;
    a.mov(dx, RBR as u32)?;
    a.mov(al, 1u32)?; // DLL: 115200 baud
    a.out(dx, al)?;
    a.mov(dx, IER as u32)?;
    a.mov(al, 0u32)?; // DLM
    a.out(dx, al)?;
    a.mov(dx, RBR as u32)?;
    a.in_(al, dx)?;
    a.mov(ah, al)?;
    a.mov(dx, IER as u32)?;
    a.in_(al, dx)?;
    a.xchg(al, ah)?;
    a.check16(ax, 0x0001, "COM1: divisor latch (DLM:DLL) reads back")?;
    a.mov(dx, LCR as u32)?;
    a.mov(al, 0x03u32)?; // 8N1, DLAB off
    a.out(dx, al)?;
    a.in_(al, dx)?;
    a.check8(al, 0x03, "COM1: LCR reads back")?;
    a.mov(dx, IIR as u32)?;
    a.mov(al, 0x87u32)?; // FIFOs on, both reset, trigger 8
    a.out(dx, al)?;
    a.in_(al, dx)?;
    a.check8(al, 0xC1, "COM1: IIR with FIFOs on and nothing pending")?;
    a.mov(dx, SCR as u32)?;
    a.mov(al, 0x5Au32)?;
    a.out(dx, al)?;
    a.in_(al, dx)?;
    a.check8(al, 0x5A, "COM1: scratch register")?;
    a.mov(dx, MCR as u32)?;
    a.mov(al, 0x0Bu32)?; // DTR, RTS, OUT2
    a.out(dx, al)?;
    a.mov(dx, LSR as u32)?;
    a.in_(al, dx)?;
    a.and(al, 0x61u32)?;
    a.check8(al, 0x60, "COM1: LSR idle (THRE, TEMT, no data)")?;
    // Receive data interrupt on; THRE is enabled by the first kick.
    a.mov(dx, IER as u32)?;
    a.mov(al, 0x01u32)?;
    a.out(dx, al)?;
    a.mov(al, 0xEEu32)?; // IRQ 0 and IRQ 4
    a.out(PIC1_DATA, al)?;

    let greeting = a.string(GREETING);
    let g = a.addr(&greeting);
    a.mov(si, g as u32)?;
    a.call(s.queue_cs_string)?;
    a.call(s.tx_kick)?;
    a.post(0x49)?;
    // Wait for a whole line from the host (5 s of virtual time at most).
    halt_until(a, 5000, "COM1: no input line within 5 s", |a, done| {
        let mut not_yet = a.create_label();
        a.mov(bx, ssw(RX_LEN))?;
        a.cmp(bx, 0u32)?;
        a.je(not_yet)?;
        a.cmp(byte_ptr(bx + (RXBUF - 1)).ss(), b'\n' as u32)?;
        a.je(done)?;
        a.cmp(bx, RX_MAX)?;
        a.jae(done)?;
        a.set_label(&mut not_yet)
    })?;
    a.post(0x4A)?;
    a.mov(ax, ssw(RX_LEN))?;
    a.check16(ax, INPUT.len() as u16, "COM1: bytes received")?;
    let input = a.string(INPUT);
    let i = a.addr(&input);
    a.mov(si, i as u32)?;
    a.mov(bx, RXBUF)?;
    let cmp = a.here()?;
    let mut same = a.create_label();
    a.mov(al, byte_ptr(si).cs())?;
    a.test(al, al)?;
    a.jz(same)?;
    a.cmp(al, byte_ptr(bx).ss())?;
    let mut next = a.create_label();
    a.je(next)?;
    a.movzx(eax, byte_ptr(bx).ss())?;
    a.fail_value("COM1: received byte differs from the host's line", 0, 2)?;
    a.set_label(&mut next)?;
    a.inc(si)?;
    a.inc(bx)?;
    a.jmp(cmp)?;
    a.set_label(&mut same)?;
    let mut ok = a.create_label();
    a.cmp(ssw(RDA_IRQS), 0u32)?;
    a.jne(ok)?;
    a.fail("COM1: no received-data-available interrupt")?;
    a.set_label(&mut ok)?;
    let mut ok = a.create_label();
    a.cmp(ssw(TIMEOUT_IRQS), 0u32)?;
    a.jne(ok)?;
    a.fail("COM1: no character time-out interrupt for the tail of the line")?;
    a.set_label(&mut ok)?;
    let mut ok = a.create_label();
    a.cmp(ssw(THRE_IRQS), 2u32)?;
    a.jae(ok)?;
    a.movzx(eax, ssw(THRE_IRQS))?;
    a.fail_value(
        "COM1: THRE interrupts for the 17-byte greeting, at least",
        2,
        4,
    )?;
    a.set_label(&mut ok)?;

    // Echo: GOT: <line without \n>\r\n.
    let prefix = a.string(ECHO_PREFIX);
    let p = a.addr(&prefix);
    a.mov(si, p as u32)?;
    a.call(s.queue_cs_string)?;
    a.mov(bx, RXBUF)?;
    a.mov(cx, ssw(RX_LEN))?;
    a.dec(cx)?;
    let echo = a.here()?;
    a.mov(al, byte_ptr(bx).ss())?;
    a.call(s.queue_byte)?;
    a.inc(bx)?;
    a.dec(cx)?;
    a.jnz(echo)?;
    let crlf = a.string("\r\n");
    let c = a.addr(&crlf);
    a.mov(si, c as u32)?;
    a.call(s.queue_cs_string)?;
    a.call(s.tx_kick)?;
    a.post(0x4B)?;
    // Wait until the queue is drained and the last stop bit is out.
    halt_until(
        a,
        1000,
        "COM1: transmitter never became empty",
        |a, done| {
            let mut busy = a.create_label();
            a.cmp(ssw(TX_BUSY), 0u32)?;
            a.jne(busy)?;
            a.mov(dx, LSR as u32)?;
            a.in_(al, dx)?;
            a.test(al, 0x40u32)?;
            a.jnz(done)?;
            a.set_label(&mut busy)
        },
    )?;
    // Quiet the port: no more COM1 interrupts.
    a.mov(dx, IER as u32)?;
    a.mov(al, 0u32)?;
    a.out(dx, al)?;
    a.mov(al, 0xFEu32)?;
    a.out(PIC1_DATA, al)
}

fn a20(a: &mut Asm, s: &Subs) -> R {
    a.cli()?;
    // 8042 output port: A20 off (bit 1 clear), not in reset (bit 0 set).
    let kbc_output = |a: &mut Asm, value: u8| -> R {
        a.call(s.kbc_wait)?;
        a.mov(al, 0xD1u32)?;
        a.out(KBC_STATUS, al)?;
        a.call(s.kbc_wait)?;
        a.mov(al, value as u32)?;
        a.out(KBC_DATA, al)?;
        a.call(s.kbc_wait)
    };
    let port92 = |a: &mut Asm, on: bool| -> R {
        a.in_(al, PORT92)?;
        if on {
            a.or(al, 0x02u32)?;
        } else {
            a.and(al, 0xFCu32)?; // bit 0 (reset) must be written 0
        }
        a.out(PORT92, al)
    };
    let expect_alias = |a: &mut Asm, alias: bool, what: &str| -> R {
        a.call(s.a20_alias)?;
        a.check16(ax, alias as u16, what)
    };
    expect_alias(a, false, "A20 at start: FFFF:0010 must not alias 0:0")?;
    kbc_output(a, 0xCD)?;
    expect_alias(a, false, "A20: 8042 off, port 92h on: no alias")?;
    port92(a, false)?;
    a.in_(al, PORT92)?;
    a.and(al, 0x02u32)?;
    a.check8(al, 0, "A20: port 92h bit 1 reads back clear")?;
    expect_alias(
        a,
        true,
        "A20: port 92h off (8042 off): FFFF:0010 aliases 0:0",
    )?;
    port92(a, true)?;
    expect_alias(a, false, "A20: port 92h on again: no alias")?;
    port92(a, false)?;
    expect_alias(a, true, "A20: port 92h off again: alias")?;
    kbc_output(a, 0xCF)?;
    expect_alias(
        a,
        false,
        "A20: 8042 output port bit 1 on (D1h CFh): no alias",
    )?;
    kbc_output(a, 0xCD)?;
    expect_alias(a, true, "A20: 8042 output port bit 1 off (D1h CDh): alias")?;
    kbc_output(a, 0xCF)?;
    expect_alias(a, false, "A20: 8042 on again: no alias")?;
    port92(a, true)?;
    expect_alias(a, false, "A20: both on: no alias")
}
