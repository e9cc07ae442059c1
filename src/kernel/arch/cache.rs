//! Data-cache maintenance by address, for DMA with non-coherent devices (the Pi 4's GENET;
//! docs/bcm2711.md §7). QEMU models no caches, so these matter only on silicon.

use core::arch::asm;

/// Smallest data-cache line in bytes (CTR_EL0.DminLine is log2 of the line in 4-byte words).
pub fn line_bytes() -> usize {
    let cache_type: u64;
    // SAFETY: reading CTR_EL0 has no side effects (EL1 may always read it).
    unsafe {
        asm!("mrs {0}, ctr_el0", out(reg) cache_type, options(nomem, nostack, preserves_flags))
    };
    4 << ((cache_type >> 16) & 0xF)
}

/// The cache operation applied to each line.
#[derive(Clone, Copy)]
enum Operation {
    /// DC IVAC: discard lines (after a device wrote, before the CPU reads).
    Invalidate,
    /// DC CIVAC: write back and discard.
    CleanInvalidate,
}

fn for_each_line(start: usize, length: usize, operation: Operation) {
    if length == 0 {
        return;
    }
    let line = line_bytes();
    let mut address = start & !(line - 1);
    let end = start.saturating_add(length);
    while address < end {
        // Data-cache maintenance by VA changes only cache state, not the memory's contents as this
        // CPU sees them — except DC IVAC, which discards dirty data: `invalidate` is used only on
        // buffers the device owns, whose lines hold no CPU data (buffers are cache-line aligned
        // and sized; docs/bcm2711.md §7).
        match operation {
            // SAFETY: see above; the line belongs to a device-owned buffer.
            Operation::Invalidate => unsafe {
                asm!("dc ivac, {0}", in(reg) address, options(nostack, preserves_flags))
            },
            // SAFETY: see above; clean-and-invalidate writes back first and loses nothing.
            Operation::CleanInvalidate => unsafe {
                asm!("dc civac, {0}", in(reg) address, options(nostack, preserves_flags))
            },
        }
        address += line;
    }
    // SAFETY: a barrier only orders memory accesses.
    unsafe { asm!("dsb sy", options(nostack, preserves_flags)) };
}

/// Discards cached copies of `[start, start + length)` so the CPU reads what a device wrote.
pub fn invalidate(start: usize, length: usize) {
    for_each_line(start, length, Operation::Invalidate);
}

/// Writes back and discards `[start, start + length)` (before handing a buffer to a device
/// that will write it: no dirty line may later be evicted over the device's data).
pub fn clean_and_invalidate(start: usize, length: usize) {
    for_each_line(start, length, Operation::CleanInvalidate);
}
