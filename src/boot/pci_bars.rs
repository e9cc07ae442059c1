//! Addresses for PCI memory BARs, from the host bridge's 32-bit memory window.
//!
//! On QEMU `virt` nothing assigns BARs before the kernel runs (no firmware enumerates the bus),
//! so the kernel places them itself. A memory BAR's size is a power of two and its address must
//! be aligned to that size (PCI Local Bus Specification 3.0 §6.2.5.1: the low bits of the BAR
//! are hardwired to zero); sizes below 16 bytes are rounded up to 16, the smallest a memory BAR
//! decodes.

/// Hands out naturally aligned addresses from `[next, end)`, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BarAllocator {
    next: u64,
    end: u64,
}

impl BarAllocator {
    /// An allocator over the window `[start, end)`.
    pub fn new(start: u64, end: u64) -> BarAllocator {
        BarAllocator { next: start, end }
    }

    /// The address for a BAR of `size_bytes`, or `None` when the window has no aligned room
    /// left (or the size is not representable).
    pub fn allocate(&mut self, size_bytes: u64) -> Option<u64> {
        let size = size_bytes.max(16).checked_next_power_of_two()?;
        let start = self.next.checked_add(size - 1)? & !(size - 1);
        let end = start.checked_add(size)?;
        if end > self.end {
            return None;
        }
        self.next = end;
        Some(start)
    }
}

#[cfg(test)]
mod tests {
    use super::BarAllocator;

    #[test]
    fn bars_are_naturally_aligned_and_do_not_overlap() {
        let mut allocator = BarAllocator::new(0x1000_0004, 0x1010_0000);
        assert_eq!(allocator.allocate(0x1000), Some(0x1000_1000));
        assert_eq!(allocator.allocate(4), Some(0x1000_2000)); // at least 16 bytes
        assert_eq!(allocator.allocate(0x3000), Some(0x1000_4000)); // 16 KiB, aligned
        assert_eq!(allocator.allocate(0x10), Some(0x1000_8000));
    }

    #[test]
    fn a_full_window_or_an_impossible_size_gives_none() {
        let mut allocator = BarAllocator::new(0x1000_0000, 0x1000_2000);
        assert_eq!(allocator.allocate(0x2000), Some(0x1000_0000));
        assert_eq!(allocator.allocate(0x10), None);
        let mut allocator = BarAllocator::new(0, u64::MAX);
        assert_eq!(allocator.allocate(u64::MAX), None);
        let mut allocator = BarAllocator::new(u64::MAX - 8, u64::MAX);
        assert_eq!(allocator.allocate(16), None);
    }
}
