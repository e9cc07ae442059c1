//! The `virtio_drivers::Hal` implementation: DMA memory from the kernel heap, identity mapped.
//!
//! QEMU's virtio devices are cache-coherent with the CPU (they access guest RAM through the same
//! memory system), so sharing a buffer needs no cache maintenance — only ordering, which the
//! virtqueue code provides with its own barriers (virtio 1.2 §2.7.13).

use alloc::alloc::{Layout, alloc_zeroed, dealloc};
use core::ptr::NonNull;

use virtio_drivers::{BufferDirection, Hal, PAGE_SIZE, PhysAddr};

/// The kernel's virtio HAL.
pub struct VirtioHal;

// SAFETY: (implementation safety, virtio-drivers `Hal` docs) `dma_alloc` returns zeroed,
// page-aligned memory from the global allocator, owned by the caller until `dma_dealloc`; the
// physical address equals the virtual one because the MMU maps all RAM 1:1 (`arch::mmu`);
// `share` hands out the buffer's own address for the same reason, and nothing needs copying or
// cache maintenance on a coherent virtio device.
unsafe impl Hal for VirtioHal {
    fn dma_alloc(pages: usize, _direction: BufferDirection) -> (PhysAddr, NonNull<u8>) {
        let Ok(layout) = Layout::from_size_align(pages.saturating_mul(PAGE_SIZE), PAGE_SIZE) else {
            return (0, NonNull::dangling());
        };
        // SAFETY: the layout has a non-zero size (virtio-drivers never asks for zero pages).
        let pointer = unsafe { alloc_zeroed(layout) };
        match NonNull::new(pointer) {
            Some(pointer) => (pointer.as_ptr() as PhysAddr, pointer),
            None => panic!("virtio: out of memory allocating {pages} DMA pages"),
        }
    }

    unsafe fn dma_dealloc(
        _physical_address: PhysAddr,
        virtual_address: NonNull<u8>,
        pages: usize,
    ) -> i32 {
        let Ok(layout) = Layout::from_size_align(pages.saturating_mul(PAGE_SIZE), PAGE_SIZE) else {
            return -1;
        };
        // SAFETY: the caller passes memory that `dma_alloc` returned for the same page count,
        // which was allocated with this very layout.
        unsafe { dealloc(virtual_address.as_ptr(), layout) };
        0
    }

    unsafe fn mmio_phys_to_virt(physical_address: PhysAddr, _size: usize) -> NonNull<u8> {
        // Identity map: device registers live at their physical addresses.
        NonNull::new(physical_address as *mut u8).unwrap_or(NonNull::dangling())
    }

    unsafe fn share(buffer: NonNull<[u8]>, _direction: BufferDirection) -> PhysAddr {
        buffer.as_ptr() as *mut u8 as PhysAddr
    }

    unsafe fn unshare(
        _physical_address: PhysAddr,
        _buffer: NonNull<[u8]>,
        _direction: BufferDirection,
    ) {
    }
}
