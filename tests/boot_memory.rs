//! The memory plan (`boot::memory::choose_heap`): the heap avoids the first page, the image, the
//! device tree and reserved memory, stays page-aligned and below the board's limit, and takes
//! the largest stretch left.
#![allow(clippy::unwrap_used)]

use bareserve::boot::dtb::{DeviceTree, MemoryRange};
use bareserve::boot::memory::{HeapConstraints, PAGE_BYTES, choose_heap};

const MIB: u64 = 1024 * 1024;
const RPI4_FIRMWARE: &[u8] = include_bytes!("fixtures/rpi4b-firmware-patched.dtb");

fn range(base: u64, size: u64) -> MemoryRange {
    MemoryRange { base, size }
}

/// QEMU `virt` with 128 MiB: the image at the start of RAM, the device tree QEMU places at the
/// end of RAM.
#[test]
fn virt_heap_runs_from_the_image_end_to_the_device_tree() {
    let ram = [range(0x4000_0000, 128 * MIB)];
    let heap = choose_heap(&HeapConstraints {
        ram: &ram,
        reserved: &[],
        image: 0x4008_0000..0x4012_3456,
        device_tree: 0x47F0_0000..0x47F0_2000,
        end_limit: None,
    });
    assert_eq!(heap, Some(0x4012_4000..0x47F0_0000));
}

#[test]
fn the_largest_stretch_wins_and_the_first_of_equals() {
    let ram = [range(0x1000, 16 * MIB), range(0x4000_0000, 64 * MIB)];
    let constraints = HeapConstraints {
        ram: &ram,
        reserved: &[],
        image: 0x8_0000..0x10_0000,
        device_tree: 0x20_0000..0x20_1000,
        end_limit: None,
    };
    assert_eq!(
        choose_heap(&constraints),
        Some(0x4000_0000..0x4000_0000 + 64 * MIB)
    );
    let equal = [range(0x1_0000_0000, MIB), range(0x2_0000_0000, MIB)];
    let heap = choose_heap(&HeapConstraints {
        ram: &equal,
        ..constraints
    });
    assert_eq!(heap, Some(0x1_0000_0000..0x1_0000_0000 + MIB));
}

#[test]
fn the_first_page_is_never_heap() {
    let ram = [range(0, 2 * PAGE_BYTES)];
    let heap = choose_heap(&HeapConstraints {
        ram: &ram,
        reserved: &[],
        image: 0x10_0000..0x20_0000,
        device_tree: 0x30_0000..0x30_1000,
        end_limit: None,
    });
    assert_eq!(heap, Some(PAGE_BYTES..2 * PAGE_BYTES));
}

#[test]
fn edges_are_rounded_inwards_to_pages() {
    let ram = [range(0x4000_0000, 0x10_0000)];
    let heap = choose_heap(&HeapConstraints {
        ram: &ram,
        reserved: &[range(0x4000_0000, 0x123)],
        image: 0x400F_F800..0x4010_0000,
        device_tree: 0..0,
        end_limit: None,
    });
    assert_eq!(heap, Some(0x4000_1000..0x400F_F000));
}

#[test]
fn nothing_left_is_none() {
    let ram = [range(0x4000_0000, 0x10_0000)];
    let constraints = HeapConstraints {
        ram: &ram,
        reserved: &[],
        image: 0x4000_0000..0x4010_0000,
        device_tree: 0..0,
        end_limit: None,
    };
    assert_eq!(choose_heap(&constraints), None);
    assert_eq!(
        choose_heap(&HeapConstraints {
            ram: &[],
            ..constraints.clone()
        }),
        None
    );
    // Less than a page between two exclusions.
    let ram = [range(0x4000_0000, 0x10_0000)];
    assert_eq!(
        choose_heap(&HeapConstraints {
            ram: &ram,
            image: 0x4000_0000..0x4007_F800,
            device_tree: 0x4008_0400..0x4010_0000,
            ..constraints
        }),
        None
    );
}

/// The Pi 4's real memory map and reservations, the image where the firmware loads it
/// (0x8_0000) and the board's 1 GiB limit: RAM above 1 GiB is not used, and the firmware's
/// reservation at 0x3B3F_E000 ends the heap.
#[test]
fn rpi4_heap_stays_below_one_gibibyte_and_out_of_reserved_memory() {
    let tree = DeviceTree::from_bytes(RPI4_FIRMWARE).unwrap();
    let ram = tree.memory_regions();
    let reserved = tree.reserved_regions();
    let heap = choose_heap(&HeapConstraints {
        ram: &ram,
        reserved: &reserved,
        image: 0x8_0000..0x18_0000,
        device_tree: 0x100_0000..0x100_0000 + tree.blob_size() as u64,
        end_limit: Some(0x4000_0000),
    })
    .unwrap();
    assert_eq!(
        heap.start,
        0x100_0000 + (tree.blob_size() as u64).next_multiple_of(PAGE_BYTES)
    );
    assert_eq!(heap.end, 0x3B3F_E000);
    // Without the limit, the 1 GiB above 0x4000_0000 is the largest stretch.
    let unlimited = choose_heap(&HeapConstraints {
        ram: &ram,
        reserved: &reserved,
        image: 0x8_0000..0x18_0000,
        device_tree: 0x100_0000..0x100_0000 + tree.blob_size() as u64,
        end_limit: None,
    });
    assert_eq!(unlimited, Some(0x4000_0000..0x8000_0000));
}
