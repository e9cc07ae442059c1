//! The MMU: an identity map with RAM as normal cacheable memory and MMIO as device memory.
//!
//! Tables are built with the `aarch64-paging` crate (4 KiB granule, root at level 1, so 39-bit
//! addresses: 512 GiB, enough for QEMU virt's high PCIe ECAM at 256 GiB) from the heap, and live
//! for the rest of the kernel's life.

use alloc::boxed::Box;

use aarch64_cpu::asm::barrier;
use aarch64_cpu::registers::{
    ID_AA64MMFR0_EL1, MAIR_EL1, ReadWriteable, Readable, SCTLR_EL1, TCR_EL1, Writeable,
};
use aarch64_paging::descriptor::El1Attributes;
use aarch64_paging::idmap::IdMap;
use aarch64_paging::mair::{Mair, MairAttribute, NormalMemory};
use aarch64_paging::paging::{El1And0, MemoryRegion};

/// MAIR_EL1 (Arm ARM D17.2.97): index 0 Device-nGnRE for MMIO, index 1 Normal write-back
/// read/write-allocate for RAM.
const MAIR: Mair = Mair::EMPTY
    .with_attribute(0, MairAttribute::DEVICE_NGNRE)
    .with_attribute(
        1,
        MairAttribute::normal(
            NormalMemory::WriteBackNonTransientReadWriteAllocate,
            NormalMemory::WriteBackNonTransientReadWriteAllocate,
        ),
    );

/// Device memory: never executable.
const DEVICE: El1Attributes = El1Attributes::VALID
    .union(El1Attributes::ATTRIBUTE_INDEX_0)
    .union(El1Attributes::ACCESSED)
    .union(El1Attributes::UXN)
    .union(El1Attributes::PXN);

/// RAM: cacheable, inner shareable, EL1 may execute it (the image is in RAM).
const NORMAL: El1Attributes = El1Attributes::VALID
    .union(El1Attributes::ATTRIBUTE_INDEX_1)
    .union(El1Attributes::INNER_SHAREABLE)
    .union(El1Attributes::ACCESSED)
    .union(El1Attributes::UXN);

/// Root table level: 1, giving a 39-bit (512 GiB) input address range.
const ROOT_LEVEL: usize = 1;
/// TCR_EL1.T0SZ for a 39-bit range.
const T0SZ: u64 = 64 - 39;

/// What kind of memory a region is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryKind {
    /// RAM: normal, cacheable.
    Normal,
    /// Device registers.
    Device,
}

/// Why the map could not be built.
#[derive(Debug)]
pub struct MapFailure {
    /// The region that failed.
    pub start: usize,
    /// Its end (exclusive).
    pub end: usize,
    /// The crate's reason.
    pub reason: aarch64_paging::MapError,
}

/// Builds the identity map from `regions` and turns on the MMU and the caches.
///
/// # Safety
/// `regions` must cover every address the kernel will touch from here on (its image, stack, heap,
/// the device tree and every device it drives) with the right kind, and nothing may be mapped as
/// normal memory that has read side effects.
pub unsafe fn enable(regions: &[(usize, usize, MemoryKind)]) -> Result<(), MapFailure> {
    let mut map = Box::new(IdMap::with_asid(0, ROOT_LEVEL, El1And0));
    for &(start, end, kind) in regions {
        let attributes = match kind {
            MemoryKind::Normal => NORMAL,
            MemoryKind::Device => DEVICE,
        };
        map.map_range(&MemoryRegion::new(start, end), attributes)
            .map_err(|reason| MapFailure { start, end, reason })?;
    }

    MAIR_EL1.set(MAIR.0);
    // Physical address size: as large as the CPU supports (ID_AA64MMFR0_EL1.PARange), so that
    // 40-bit DMA and high MMIO addresses translate.
    let physical_range = ID_AA64MMFR0_EL1.get() & 0b111;
    TCR_EL1.write(
        TCR_EL1::T0SZ.val(T0SZ)
            + TCR_EL1::TG0::KiB_4
            + TCR_EL1::IRGN0::WriteBack_ReadAlloc_WriteAlloc_Cacheable
            + TCR_EL1::ORGN0::WriteBack_ReadAlloc_WriteAlloc_Cacheable
            + TCR_EL1::SH0::Inner
            + TCR_EL1::EPD1::DisableTTBR1Walks
            + TCR_EL1::IPS.val(physical_range),
    );
    barrier::isb(barrier::SY);

    // SAFETY: the caller guarantees the regions cover everything the kernel uses; the table is
    // leaked below, so it is never dropped (which would deactivate it).
    unsafe { map.activate() };
    // SAFETY: TLBI only discards cached translations; with a fresh TTBR0 none may be stale.
    unsafe {
        core::arch::asm!(
            "tlbi vmalle1",
            "dsb nsh",
            "isb",
            options(nostack, preserves_flags)
        )
    };

    SCTLR_EL1.modify(SCTLR_EL1::M::Enable + SCTLR_EL1::C::Cacheable + SCTLR_EL1::I::Cacheable);
    barrier::isb(barrier::SY);
    Box::leak(map);
    Ok(())
}
