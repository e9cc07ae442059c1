//! The memory plan: where the kernel's heap goes, given the RAM the device tree describes and
//! everything that already lives in it.

use alloc::vec;
use alloc::vec::Vec;
use core::ops::Range;

use super::dtb::MemoryRange;

/// The translation granule the heap is aligned to (the kernel maps 4 KiB pages).
pub const PAGE_BYTES: u64 = 4096;

/// The first page of physical memory, always left out of the heap: the Raspberry Pi's spin
/// table and firmware stub live there (docs/bcm2711.md §1.2).
pub const FIRMWARE_PAGE: Range<u64> = 0..PAGE_BYTES;

/// What [`choose_heap`] must keep the heap out of, and where it may go.
#[derive(Debug, Clone)]
pub struct HeapConstraints<'a> {
    /// RAM, from the device tree's memory nodes.
    pub ram: &'a [MemoryRange],
    /// Reserved memory, from the device tree (`/memreserve/` and `/reserved-memory`).
    pub reserved: &'a [MemoryRange],
    /// The kernel image, from its link-time start to its end (`.bss` included).
    pub image: Range<u64>,
    /// The device tree blob itself.
    pub device_tree: Range<u64>,
    /// The board's highest heap address, if it has one (the Pi 4's DMA must reach the heap:
    /// below 1 GiB, docs/bcm2711.md §2).
    pub end_limit: Option<u64>,
}

/// The largest page-aligned stretch of RAM that holds neither the first page, the image, the
/// device tree nor a reserved region, below the board's limit, as `start..end`. `None` if no
/// page is left. Among equal stretches the first, in RAM order, wins.
pub fn choose_heap(constraints: &HeapConstraints<'_>) -> Option<Range<u64>> {
    let mut excluded: Vec<(u64, u64)> = vec![
        (FIRMWARE_PAGE.start, FIRMWARE_PAGE.end),
        (constraints.image.start, constraints.image.end),
        (constraints.device_tree.start, constraints.device_tree.end),
    ];
    for reserved in constraints.reserved {
        excluded.push((reserved.base, reserved.base.saturating_add(reserved.size)));
    }
    let mut best: Option<(u64, u64)> = None;
    for range in constraints.ram {
        let mut pieces: Vec<(u64, u64)> = vec![(range.base, range.base.saturating_add(range.size))];
        for &(cut_start, cut_end) in &excluded {
            let mut next = Vec::new();
            for (start, end) in pieces {
                if cut_end <= start || cut_start >= end {
                    next.push((start, end));
                    continue;
                }
                if cut_start > start {
                    next.push((start, cut_start));
                }
                if cut_end < end {
                    next.push((cut_end, end));
                }
            }
            pieces = next;
        }
        for (start, end) in pieces {
            let start = start.next_multiple_of(PAGE_BYTES);
            let end = constraints.end_limit.map_or(end, |limit| end.min(limit)) & !(PAGE_BYTES - 1);
            if end > start
                && best.is_none_or(|(best_start, best_end)| end - start > best_end - best_start)
            {
                best = Some((start, end));
            }
        }
    }
    best.map(|(start, end)| start..end)
}
