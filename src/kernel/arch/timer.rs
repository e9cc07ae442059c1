//! The generic timer: the clock (microseconds since reset) and the wake-up deadline.
//!
//! The EL1 physical timer (CNTP_*, PPI 14 = INTID 30 on both boards) raises the interrupt that
//! ends the idle loop's `wfi` when nothing else does. The counter frequency is read from
//! CNTFRQ_EL0, never assumed: 62.5 MHz on QEMU, 54 MHz on a Raspberry Pi 4 (docs/bcm2711.md §0).

use aarch64_cpu::registers::{
    CNTFRQ_EL0, CNTP_CTL_EL0, CNTP_CVAL_EL0, CNTPCT_EL0, Readable, Writeable,
};

/// Counter ticks per second.
pub fn frequency_hz() -> u64 {
    CNTFRQ_EL0.get().max(1)
}

/// Raw counter value. The counter starts near zero at reset on both boards (CNTVOFF = 0), so
/// this is time since power-on, which is what the boot-time figures want.
pub fn ticks() -> u64 {
    CNTPCT_EL0.get()
}

/// Microseconds since reset.
pub fn now_us() -> u64 {
    ticks_to_us(ticks())
}

fn ticks_to_us(ticks: u64) -> u64 {
    (u128::from(ticks) * 1_000_000 / u128::from(frequency_hz())) as u64
}

/// Arms the timer interrupt for `deadline_us` (microseconds since reset). A deadline in the past
/// fires at once.
pub fn set_deadline_us(deadline_us: u64) {
    let deadline_ticks = (u128::from(deadline_us) * u128::from(frequency_hz()) / 1_000_000) as u64;
    CNTP_CVAL_EL0.set(deadline_ticks);
    CNTP_CTL_EL0.write(CNTP_CTL_EL0::ENABLE::SET + CNTP_CTL_EL0::IMASK::CLEAR);
}

/// Silences the timer interrupt until the next `set_deadline_us` (the interrupt is level
/// triggered and stays asserted while the condition holds).
pub fn acknowledge() {
    CNTP_CTL_EL0.write(CNTP_CTL_EL0::ENABLE::CLEAR + CNTP_CTL_EL0::IMASK::SET);
}

/// Busy-waits `duration_us` microseconds (device bring-up delays only).
pub fn delay_us(duration_us: u64) {
    let end = now_us().saturating_add(duration_us);
    while now_us() < end {
        core::hint::spin_loop();
    }
}
