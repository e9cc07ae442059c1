//! AArch64: boot, exception vectors, MMU, generic timer, PSCI, cache maintenance.

pub mod boot;
pub mod cache;
pub mod checksum;
pub mod exceptions;
pub mod memory;
pub mod mmu;
pub mod psci;
pub mod timer;

use core::arch::asm;

/// Sleeps until an interrupt is pending. Interrupts stay masked at the CPU, so nothing runs on
/// wake-up; the caller then drains the GIC (Arm ARM D1.16.2: WFI wakes on a pending interrupt
/// whether or not PSTATE.I masks it).
pub fn wait_for_interrupt() {
    aarch64_cpu::asm::wfi();
}

/// Masks IRQs and FIQs at the CPU (they stay masked for the kernel's whole life).
pub fn mask_interrupts() {
    // SAFETY: setting DAIF.I/F only masks interrupts; it touches no memory.
    unsafe { asm!("msr daifset, #3", options(nomem, nostack, preserves_flags)) };
}
