//! The kernel heap: all RAM the image and the device tree do not use, from the DTB's memory node.
//!
//! One core, and no code runs in interrupt context (see `arch::exceptions`), so the allocator
//! needs no lock — which also means no exclusive load/store before the MMU is on, when RAM is
//! still Device memory and exclusives are not guaranteed to work (Arm ARM B2.9.5).

use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use core::ptr::{self, NonNull};

use linked_list_allocator::Heap;

/// The global allocator with usage accounting.
pub struct KernelHeap {
    state: UnsafeCell<HeapState>,
}

struct HeapState {
    /// The boot heap: a fixed array in `.bss`, enough to parse the device tree, which says where
    /// the rest of RAM is.
    boot: Heap,
    /// All free RAM, once known.
    heap: Heap,
    high_water_bytes: usize,
}

/// Bytes of the boot heap (QEMU virt's device tree of ~50 nodes needs well under 64 KiB).
const BOOT_HEAP_BYTES: usize = 256 * 1024;

#[repr(C, align(4096))]
struct BootHeapMemory(UnsafeCell<[u8; BOOT_HEAP_BYTES]>);

// SAFETY: the array is only ever handed to the boot heap, once, by `init_boot_heap`.
unsafe impl Sync for BootHeapMemory {}

static BOOT_HEAP_MEMORY: BootHeapMemory = BootHeapMemory(UnsafeCell::new([0; BOOT_HEAP_BYTES]));

// SAFETY: the kernel runs on one core and never allocates from an exception handler (IRQs are
// dispatched from the main loop; synchronous exceptions end in the panic path, which does not
// allocate), so no two accesses to `state` can overlap.
unsafe impl Sync for KernelHeap {}

#[global_allocator]
static HEAP: KernelHeap = KernelHeap {
    state: UnsafeCell::new(HeapState {
        boot: Heap::empty(),
        heap: Heap::empty(),
        high_water_bytes: 0,
    }),
};

/// Makes the boot heap available; call first thing, before anything allocates.
pub fn init_boot_heap() {
    // SAFETY: single core, called once before any allocation: no other access to the state exists.
    let state = unsafe { &mut *HEAP.state.get() };
    if state.boot.size() == 0 {
        // SAFETY: the array is a static that nothing else refers to, handed over exactly once
        // (guarded by the size check), and lives forever.
        unsafe {
            state
                .boot
                .init(BOOT_HEAP_MEMORY.0.get().cast(), BOOT_HEAP_BYTES)
        };
    }
}

/// Heap figures for the console.
#[derive(Debug, Clone, Copy)]
pub struct HeapUsage {
    /// Bytes managed by the heap.
    pub size_bytes: usize,
    /// Bytes allocated now.
    pub used_bytes: usize,
    /// Most bytes ever allocated at once.
    pub high_water_bytes: usize,
}

/// Hands the region `[start, start + size_bytes)` to the heap.
///
/// Allocations made so far from the boot heap stay there; new ones come from this region first.
///
/// # Safety
/// The region must be RAM that nothing else uses for the rest of the kernel's life, and this must
/// be called once.
pub unsafe fn init(start: usize, size_bytes: usize) {
    // SAFETY: single core, no allocation in progress: no other access to the state exists.
    let state = unsafe { &mut *HEAP.state.get() };
    // SAFETY: the caller guarantees the region is unused RAM owned by the heap from now on.
    unsafe { state.heap.init(start as *mut u8, size_bytes) };
}

/// Current heap figures.
pub fn usage() -> HeapUsage {
    // SAFETY: see `unsafe impl Sync`: nothing else touches the state while this runs.
    let state = unsafe { &*HEAP.state.get() };
    HeapUsage {
        size_bytes: state.heap.size() + state.boot.size(),
        used_bytes: state.heap.used() + state.boot.used(),
        high_water_bytes: state.high_water_bytes,
    }
}

/// Bytes not allocated now (both heaps; fragmentation may make the largest block smaller).
pub fn free_bytes() -> usize {
    let usage = usage();
    usage.size_bytes.saturating_sub(usage.used_bytes)
}

/// Bytes not allocated in the main heap: an upper bound on the largest block a big allocation
/// (NIC buffer pools) can get, since the boot heap is only a few hundred KiB.
pub fn main_heap_free_bytes() -> usize {
    // SAFETY: see `unsafe impl Sync`: nothing else touches the state while this runs.
    let state = unsafe { &*HEAP.state.get() };
    state.heap.free()
}

// SAFETY: allocations come from linked_list_allocator's first-fit heap over memory given to it
// by `init`; it returns blocks of at least `layout.size()` bytes with `layout.align()`, and
// `dealloc` only returns blocks it handed out.
unsafe impl GlobalAlloc for KernelHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: see `unsafe impl Sync`: this is the only live reference to the state.
        let state = unsafe { &mut *self.state.get() };
        match state
            .heap
            .allocate_first_fit(layout)
            .or_else(|()| state.boot.allocate_first_fit(layout))
        {
            Ok(block) => {
                state.high_water_bytes = state
                    .high_water_bytes
                    .max(state.heap.used() + state.boot.used());
                block.as_ptr()
            }
            Err(()) => ptr::null_mut(),
        }
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        // SAFETY: see `unsafe impl Sync`: this is the only live reference to the state.
        let state = unsafe { &mut *self.state.get() };
        if let Some(block) = NonNull::new(pointer) {
            let boot_start = state.boot.bottom() as usize;
            let in_boot_heap =
                (boot_start..boot_start + state.boot.size()).contains(&(pointer as usize));
            let heap = if in_boot_heap {
                &mut state.boot
            } else {
                &mut state.heap
            };
            // SAFETY: the caller (GlobalAlloc contract) passes a block this allocator returned,
            // with the layout it was allocated with; the address says which heap it came from.
            unsafe { heap.deallocate(block, layout) };
        }
    }
}
