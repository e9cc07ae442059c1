//! The kernel heap: all RAM the image and the device tree do not use, from the DTB's memory node.
//!
//! One core, and no code runs in interrupt context (see `arch::exceptions`), so the allocator
//! needs no lock — which also means no exclusive load/store before the MMU is on, when RAM is
//! still Device memory and exclusives are not guaranteed to work (Arm ARM B2.9.5).

use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use core::mem::MaybeUninit;
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
    /// Freed small blocks of the main heap, one LIFO list per size class (see
    /// [`SMALL_BLOCK_CLASSES`]).
    small_blocks: [SmallBlockList; SMALL_BLOCK_CLASSES.len()],
    /// Bytes in the blocks on the class lists, kept as they change: the server asks for the
    /// free heap several times per request.
    cached_total_bytes: usize,
}

/// Size classes, in bytes, of small allocations. linked_list_allocator searches its free list
/// from the start for each allocation (first fit) and walks it to put a block back, so with
/// thousands of connections' buffers in the heap, and the holes between them, every small
/// allocation of a request (a response head, a log record) cost a walk over thousands of holes:
/// guest instructions per keep-alive request grew fourfold from 16 to 4,000 open connections
/// (tools/bench/guest_insns.py --only idle_connections). Small blocks are therefore rounded up to a class and, when
/// freed, kept on a per-class list (up to [`SMALL_BLOCK_CACHE_BYTES_PER_CLASS`]) that the next
/// allocation of the class takes in O(1); the churn of each request never reaches the list walk.
const SMALL_BLOCK_CLASSES: [usize; 8] = [32, 64, 128, 256, 512, 1024, 2048, 4096];

/// Alignment of every small block: enough for any type the kernel allocates.
const SMALL_BLOCK_ALIGN: usize = 16;

/// Most bytes kept per class on its list; beyond, freed blocks go back to the heap. The blocks
/// on the lists count as free ([`free_bytes`]): an allocation the heap cannot serve first gives
/// every listed block back to the heap (where it merges with its free neighbours) and tries
/// again, so a listed block is never memory the server has lost.
const SMALL_BLOCK_CACHE_BYTES_PER_CLASS: usize = 32 * 1024;

/// A LIFO list of free blocks of one class: each holds the address of the next in its first
/// bytes.
#[derive(Clone, Copy)]
struct SmallBlockList {
    head: *mut u8,
    count: usize,
}

impl SmallBlockList {
    const EMPTY: SmallBlockList = SmallBlockList {
        head: ptr::null_mut(),
        count: 0,
    };
}

impl HeapState {
    /// Bytes in the blocks on the class lists.
    fn cached_bytes(&self) -> usize {
        self.cached_total_bytes
    }

    /// Gives every block on the class lists back to the main heap; returns whether there was any.
    fn release_cached_blocks(&mut self) -> bool {
        let mut released = false;
        for (index, &class_bytes) in SMALL_BLOCK_CLASSES.iter().enumerate() {
            let Ok(class_layout) = Layout::from_size_align(class_bytes, SMALL_BLOCK_ALIGN) else {
                continue;
            };
            let list = &mut self.small_blocks[index];
            while let Some(block) = NonNull::new(list.head) {
                // SAFETY: `block` is a free block of this class from the main heap (only
                // main-heap blocks are listed, see `dealloc`) whose first bytes hold the next
                // block's address, written by `dealloc`.
                list.head = unsafe { block.as_ptr().cast::<*mut u8>().read() };
                list.count -= 1;
                self.cached_total_bytes -= class_bytes;
                // SAFETY: the main heap handed the block out with this class layout (`alloc`)
                // and nobody refers to it since `dealloc` listed it.
                unsafe { self.heap.deallocate(block, class_layout) };
                released = true;
            }
        }
        released
    }

    /// A block of `layout` from the main heap, else the boot heap.
    fn allocate_from_heaps(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        self.heap
            .allocate_first_fit(layout)
            .or_else(|()| self.boot.allocate_first_fit(layout))
            .ok()
    }
}

/// The class of `layout`, if it is small: its index and the layout blocks of the class have.
fn small_class(layout: Layout) -> Option<(usize, Layout)> {
    if layout.align() > SMALL_BLOCK_ALIGN {
        return None;
    }
    let index = SMALL_BLOCK_CLASSES
        .iter()
        .position(|&class_bytes| layout.size() <= class_bytes)?;
    let class_layout =
        Layout::from_size_align(SMALL_BLOCK_CLASSES[index], SMALL_BLOCK_ALIGN).ok()?;
    Some((index, class_layout))
}

/// Bytes of the boot heap (QEMU virt's device tree of ~50 nodes needs well under 64 KiB).
const BOOT_HEAP_BYTES: usize = 256 * 1024;

#[repr(C, align(4096))]
struct BootHeapMemory(UnsafeCell<[MaybeUninit<u8>; BOOT_HEAP_BYTES]>);

// SAFETY: the array is only ever handed to the boot heap, once, by `init_boot_heap`.
unsafe impl Sync for BootHeapMemory {}

/// In `.uninit` (linker.ld), which the boot code does not zero: a heap's memory needs no
/// initial value (allocations are uninitialised, `alloc_zeroed` zeroes its own), and zeroing
/// these 256 KiB with the rest of `.bss` cost ~32,000 instructions of every boot.
// SAFETY: `.uninit` is a NOLOAD output section of its own (linker.ld), inside the image's
// reserved size and apart from every other symbol; the static is `MaybeUninit`, so whatever
// bytes the RAM holds there are a valid value.
#[unsafe(link_section = ".uninit")]
static BOOT_HEAP_MEMORY: BootHeapMemory =
    BootHeapMemory(UnsafeCell::new([MaybeUninit::uninit(); BOOT_HEAP_BYTES]));

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
        small_blocks: [SmallBlockList::EMPTY; SMALL_BLOCK_CLASSES.len()],
        cached_total_bytes: 0,
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
    /// Bytes allocated now (the free blocks kept on the size-class lists not included).
    pub used_bytes: usize,
    /// Free small blocks kept on the size-class lists, counted in neither `used_bytes` nor
    /// free space of the heap itself.
    pub cached_bytes: usize,
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
    let cached_bytes = state.cached_bytes();
    HeapUsage {
        size_bytes: state.heap.size() + state.boot.size(),
        used_bytes: (state.heap.used() + state.boot.used()).saturating_sub(cached_bytes),
        cached_bytes,
        high_water_bytes: state.high_water_bytes,
    }
}

/// Bytes not allocated now (both heaps, the size-class lists' free blocks included: an
/// allocation the heap cannot serve takes them back first). Fragmentation may make the largest
/// block smaller, which is why the server allocates its large, client-driven buffers fallibly.
pub fn free_bytes() -> usize {
    // SAFETY: see `unsafe impl Sync`: nothing else touches the state while this runs.
    let state = unsafe { &*HEAP.state.get() };
    // The same figures as `usage`, without building the whole report: the server asks several
    // times per request.
    let size_bytes = state.heap.size() + state.boot.size();
    let used_bytes = (state.heap.used() + state.boot.used()).saturating_sub(state.cached_bytes());
    size_bytes.saturating_sub(used_bytes)
}

/// Bytes not allocated in the main heap: an upper bound on the largest block a big allocation
/// (NIC buffer pools) can get, since the boot heap is only a few hundred KiB.
pub fn main_heap_free_bytes() -> usize {
    // SAFETY: see `unsafe impl Sync`: nothing else touches the state while this runs.
    let state = unsafe { &*HEAP.state.get() };
    state.heap.free()
}

// A small layout is served as its class's layout (larger, and aligned to `SMALL_BLOCK_ALIGN` ≥
// its alignment), both when allocated and when freed, so the heap always gets back the layout
// it handed out; a block on a class list is one the heap handed out for that class layout and
// nobody else refers to (and `release_cached_blocks` gives such blocks back with that layout).
// SAFETY: allocations come from linked_list_allocator's first-fit heap over memory given to it
// by `init`; it returns blocks of at least `layout.size()` bytes with `layout.align()`, and
// `dealloc` only returns blocks it handed out (see above for the small-block classes).
unsafe impl GlobalAlloc for KernelHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: see `unsafe impl Sync`: this is the only live reference to the state.
        let state = unsafe { &mut *self.state.get() };
        let class = small_class(layout);
        if let Some((index, _)) = class {
            let list = &mut state.small_blocks[index];
            if !list.head.is_null() {
                let block = list.head;
                // SAFETY: `block` is a free block of this class (at least 32 bytes, 16-byte
                // aligned) whose first bytes hold the next block's address, written by `dealloc`.
                list.head = unsafe { block.cast::<*mut u8>().read() };
                list.count -= 1;
                state.cached_total_bytes -= SMALL_BLOCK_CLASSES[index];
                return block;
            }
        }
        let layout = class.map_or(layout, |(_, class_layout)| class_layout);
        let block = state.allocate_from_heaps(layout).or_else(|| {
            // Blocks parked on the class lists may be what is missing (or, merged with their
            // neighbours, make the hole that is): give them back and try once more.
            state
                .release_cached_blocks()
                .then(|| state.allocate_from_heaps(layout))
                .flatten()
        });
        match block {
            Some(block) => {
                state.high_water_bytes = state
                    .high_water_bytes
                    .max(state.heap.used() + state.boot.used());
                block.as_ptr()
            }
            None => ptr::null_mut(),
        }
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        // SAFETY: see `unsafe impl Sync`: this is the only live reference to the state.
        let state = unsafe { &mut *self.state.get() };
        let Some(block) = NonNull::new(pointer) else {
            return;
        };
        let boot_start = state.boot.bottom() as usize;
        let in_boot_heap =
            (boot_start..boot_start + state.boot.size()).contains(&(pointer as usize));
        let class = small_class(layout);
        if let Some((index, class_layout)) = class
            && !in_boot_heap
        {
            let list = &mut state.small_blocks[index];
            if (list.count + 1) * class_layout.size() <= SMALL_BLOCK_CACHE_BYTES_PER_CLASS {
                // SAFETY: the caller gives the block back (GlobalAlloc contract), so its bytes
                // are ours; it is at least 32 bytes and 16-byte aligned (its class layout), room
                // for the next block's address.
                unsafe { pointer.cast::<*mut u8>().write(list.head) };
                list.head = pointer;
                list.count += 1;
                state.cached_total_bytes += class_layout.size();
                return;
            }
        }
        let layout = class.map_or(layout, |(_, class_layout)| class_layout);
        let heap = if in_boot_heap {
            &mut state.boot
        } else {
            &mut state.heap
        };
        // SAFETY: the caller (GlobalAlloc contract) passes a block this allocator returned; the
        // layout is the one it was allocated with (rounded to its class as in `alloc`), and the
        // address says which heap it came from.
        unsafe { heap.deallocate(block, layout) };
    }
}
