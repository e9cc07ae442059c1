//! Addresses: `reg` decoded with the parent's `#address-cells`/`#size-cells` (Devicetree
//! Specification v0.4 §2.3.5, §2.3.6) and translated to CPU physical addresses through every
//! ancestor's `ranges` (§2.3.8); `dma-ranges` read the same way (§2.3.9). One decoder reads the
//! entries of both properties, and of a PCI host's `ranges` (`pci`).

use alloc::vec::Vec;

use super::{DeviceTree, read_cells, read_u32};

/// A range of CPU physical addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryRange {
    /// First address.
    pub base: u64,
    /// Length in bytes.
    pub size: u64,
}

impl MemoryRange {
    /// One past the last address, or `None` if the range wraps past 2^64.
    pub fn end_exclusive(&self) -> Option<u64> {
        self.base.checked_add(self.size)
    }
}

/// One `dma-ranges` entry (Devicetree Specification v0.4 §2.3.9): a device on the bus reaches
/// CPU physical address `cpu_address + n` by putting `bus_address + n` on the bus, for
/// n < `size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DmaRange {
    /// Start of the window as the device addresses it.
    pub bus_address: u64,
    /// CPU physical address of the same byte.
    pub cpu_address: u64,
    /// Length in bytes.
    pub size: u64,
}

impl DmaRange {
    /// The bus address of CPU physical `cpu_address`, or `None` outside the window.
    pub fn bus_address_of(&self, cpu_address: u64) -> Option<u64> {
        let offset = cpu_address.checked_sub(self.cpu_address)?;
        (offset < self.size)
            .then(|| self.bus_address.checked_add(offset))
            .flatten()
    }
}

impl<'a> DeviceTree<'a> {
    /// How the first enabled device listing `compatible` sees memory: the `dma-ranges` of the
    /// nearest ancestor bus that has the property. An empty list means no translation is
    /// described (no such property, or an empty one): the device uses CPU physical addresses,
    /// as GENET under `/scb` does (`docs/bcm2711.md` §2). `None` when there is no such device, the
    /// property is malformed, or the bus is not a child of the root (translating through several
    /// `dma-ranges` levels is not implemented; the Pi 4's `/soc` and `/emmc2bus` sit at the root).
    /// The Pi 4 mailbox (`brcm,bcm2835-mbox`) gives bus 0xC000_0000 → CPU 0x0, 1 GiB.
    pub fn dma_ranges(&self, compatible: &str) -> Option<Vec<DmaRange>> {
        let device = self.enabled_compatible_nodes(compatible).next()?;
        let mut bus = self.nodes.get(device)?.parent?;
        let ranges = loop {
            if let Some(ranges) = self.property(bus, "dma-ranges") {
                break ranges;
            }
            match self.nodes.get(bus)?.parent {
                Some(parent) => bus = parent,
                None => return Some(Vec::new()),
            }
        };
        let parent = self.nodes.get(bus)?.parent?;
        if self.nodes.get(parent)?.parent.is_some() {
            return None;
        }
        let child_cells = self.address_cells(bus)?;
        let parent_cells = self.address_cells(parent)?;
        let size_cells = self.size_cells(bus)?;
        let entry_cells = child_cells
            .checked_add(parent_cells)?
            .checked_add(size_cells)?;
        let entry_len = entry_cells.checked_mul(4)?;
        if ranges.is_empty() {
            return Some(Vec::new());
        }
        if entry_len == 0 || !ranges.len().is_multiple_of(entry_len) {
            return None;
        }
        (0..ranges.len() / entry_len)
            .map(|entry| {
                let first = entry.checked_mul(entry_cells)?;
                let after_child = first.checked_add(child_cells)?;
                Some(DmaRange {
                    bus_address: read_cells(ranges, first, child_cells)?,
                    cpu_address: read_cells(ranges, after_child, parent_cells)?,
                    size: read_cells(ranges, after_child.checked_add(parent_cells)?, size_cells)?,
                })
            })
            .collect()
    }

    /// `#address-cells` of `node` (for its children's `reg`), default 2 (§2.3.5).
    pub(super) fn address_cells(&self, node: usize) -> Option<usize> {
        match self.property(node, "#address-cells") {
            Some(value) => usize::try_from(read_u32(value, 0)?).ok(),
            None => Some(2),
        }
    }

    /// `#size-cells` of `node` (for its children's `reg`), default 1 (§2.3.5).
    pub(super) fn size_cells(&self, node: usize) -> Option<usize> {
        match self.property(node, "#size-cells") {
            Some(value) => usize::try_from(read_u32(value, 0)?).ok(),
            None => Some(1),
        }
    }

    /// The first `reg` address of `node` as written, in its parent bus's address space.
    pub(super) fn first_reg_bus_address(&self, node: usize) -> Option<u64> {
        let parent = self.nodes.get(node)?.parent?;
        let address_cells = self.address_cells(parent)?;
        read_cells(self.property(node, "reg")?, 0, address_cells)
    }

    /// All `reg` entries of `node`, translated to CPU addresses. `None` if `reg` is absent or
    /// malformed, uses more than 2 cells, or an entry does not translate.
    pub(super) fn reg(&self, node: usize) -> Option<Vec<MemoryRange>> {
        let parent = self.nodes.get(node)?.parent?;
        let (address_cells, size_cells) = (self.address_cells(parent)?, self.size_cells(parent)?);
        let value = self.property(node, "reg")?;
        let entry_cells = address_cells.checked_add(size_cells)?;
        let entry_len = entry_cells.checked_mul(4)?;
        if entry_len == 0
            || address_cells > 2
            || size_cells > 2
            || !value.len().is_multiple_of(entry_len)
        {
            return None;
        }
        (0..value.len() / entry_len)
            .map(|entry| {
                let first_cell = entry.checked_mul(entry_cells)?;
                let bus_address = read_cells(value, first_cell, address_cells)?;
                let size = read_cells(value, first_cell.checked_add(address_cells)?, size_cells)?;
                let base = self.translate(parent, bus_address)?;
                Some(MemoryRange { base, size })
            })
            .collect()
    }

    /// Translates `address`, in the address space of `bus`'s children, to a CPU physical address
    /// by applying the `ranges` of `bus` and of each ancestor up to the root (Devicetree
    /// Specification v0.4 §2.3.8): empty `ranges` is the identity; absent `ranges` means the bus
    /// is not memory-mapped, so `None`; an address inside no range is `None`.
    pub(super) fn translate(&self, bus: usize, address: u64) -> Option<u64> {
        let mut address = address;
        let mut current = bus;
        // Each step moves to a parent, and parents precede children in the table, so this ends.
        while let Some(parent) = self.nodes.get(current)?.parent {
            let ranges = self.property(current, "ranges")?;
            if !ranges.is_empty() {
                address = self.translate_one_level(current, parent, ranges, address)?;
            }
            current = parent;
        }
        Some(address)
    }

    /// One step of [`Self::translate`]: find the `ranges` entry of `bus` containing `address`.
    pub(super) fn translate_one_level(
        &self,
        bus: usize,
        parent: usize,
        ranges: &[u8],
        address: u64,
    ) -> Option<u64> {
        let child_cells = self.address_cells(bus)?;
        let parent_cells = self.address_cells(parent)?;
        let size_cells = self.size_cells(bus)?;
        let entry_cells = child_cells
            .checked_add(parent_cells)?
            .checked_add(size_cells)?;
        let entry_len = entry_cells.checked_mul(4)?;
        if entry_len == 0 || !ranges.len().is_multiple_of(entry_len) {
            return None;
        }
        (0..ranges.len() / entry_len).find_map(|entry| {
            let first = entry.checked_mul(entry_cells)?;
            let child_base = read_cells(ranges, first, child_cells)?;
            let parent_base = read_cells(ranges, first.checked_add(child_cells)?, parent_cells)?;
            let size = read_cells(
                ranges,
                first.checked_add(child_cells)?.checked_add(parent_cells)?,
                size_cells,
            )?;
            let offset = address.checked_sub(child_base)?;
            (offset < size)
                .then(|| parent_base.checked_add(offset))
                .flatten()
        })
    }
}
