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
        map_within(cpu_address, self.cpu_address, self.size, self.bus_address)
    }
}

/// `address` moved from the window of `size` bytes at `from_base` to the same offset from
/// `to_base`; `None` outside the window or past the end of the address space. The arithmetic of
/// every `ranges` and `dma-ranges` entry (§2.3.8, §2.3.9), in either direction.
fn map_within(address: u64, from_base: u64, size: u64, to_base: u64) -> Option<u64> {
    let offset = address.checked_sub(from_base)?;
    (offset < size)
        .then(|| to_base.checked_add(offset))
        .flatten()
}

/// The cell counts of one `ranges` or `dma-ranges` entry (§2.3.8): the child bus address (the
/// bus's own `#address-cells`), the parent bus address (the parent's `#address-cells`) and the
/// size (the bus's `#size-cells`).
#[derive(Debug, Clone, Copy)]
pub(super) struct RangesLayout {
    pub(super) child_cells: usize,
    pub(super) parent_cells: usize,
    pub(super) size_cells: usize,
}

/// One `ranges` or `dma-ranges` entry. The child address is left as its cells, because a PCI
/// child address has three (phys.hi, then 64 bits; IEEE 1275 PCI binding §2.2.1.1).
#[derive(Debug, Clone, Copy)]
pub(super) struct RangesEntry<'v> {
    pub(super) child_cells: &'v [u8],
    pub(super) parent_address: u64,
    pub(super) size: u64,
}

impl RangesEntry<'_> {
    /// The child address, when it has at most 2 cells.
    pub(super) fn child_address(&self) -> Option<u64> {
        read_cells(self.child_cells, 0, self.child_cells.len() / 4)
    }
}

impl RangesLayout {
    /// The entries of a `ranges` or `dma-ranges` value, in order: `None` if the value is not a
    /// whole number of entries (or an entry would have no cells); an entry is `None` if its
    /// parent address or size has more than 2 cells.
    pub(super) fn entries(
        self,
        value: &[u8],
    ) -> Option<impl Iterator<Item = Option<RangesEntry<'_>>>> {
        let entry_cells = self
            .child_cells
            .checked_add(self.parent_cells)?
            .checked_add(self.size_cells)?;
        let entry_len = entry_cells.checked_mul(4)?;
        if entry_len == 0 || !value.len().is_multiple_of(entry_len) {
            return None;
        }
        Some(value.chunks_exact(entry_len).map(move |entry| {
            let after_child = self.child_cells.checked_add(self.parent_cells)?;
            Some(RangesEntry {
                child_cells: entry.get(..self.child_cells.checked_mul(4)?)?,
                parent_address: read_cells(entry, self.child_cells, self.parent_cells)?,
                size: read_cells(entry, after_child, self.size_cells)?,
            })
        }))
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
        let layout = self.ranges_layout(bus, parent)?;
        if ranges.is_empty() {
            return Some(Vec::new());
        }
        layout
            .entries(ranges)?
            .map(|entry| {
                let entry = entry?;
                Some(DmaRange {
                    bus_address: entry.child_address()?,
                    cpu_address: entry.parent_address,
                    size: entry.size,
                })
            })
            .collect()
    }

    /// The entry layout of `bus`'s `ranges` or `dma-ranges`, `parent` being its parent.
    pub(super) fn ranges_layout(&self, bus: usize, parent: usize) -> Option<RangesLayout> {
        Some(RangesLayout {
            child_cells: self.address_cells(bus)?,
            parent_cells: self.address_cells(parent)?,
            size_cells: self.size_cells(bus)?,
        })
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
    fn translate_one_level(
        &self,
        bus: usize,
        parent: usize,
        ranges: &[u8],
        address: u64,
    ) -> Option<u64> {
        self.ranges_layout(bus, parent)?
            .entries(ranges)?
            .find_map(|entry| {
                let entry = entry?;
                map_within(
                    address,
                    entry.child_address()?,
                    entry.size,
                    entry.parent_address,
                )
            })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::{RangesLayout, map_within};

    /// Big-endian cells, as a property value holds them.
    fn cells(values: &[u32]) -> Vec<u8> {
        values
            .iter()
            .flat_map(|value| value.to_be_bytes())
            .collect()
    }

    #[test]
    fn map_within_moves_addresses_inside_the_window_only() {
        // The Pi 4's /soc: bus 0x7E00_0000 → CPU 0xFE00_0000, 24 MiB (docs/bcm2711.md §0).
        let (bus, cpu, size) = (0x7E00_0000, 0xFE00_0000, 0x180_0000);
        assert_eq!(map_within(0x7E20_1000, bus, size, cpu), Some(0xFE20_1000));
        assert_eq!(map_within(bus, bus, size, cpu), Some(cpu));
        assert_eq!(
            map_within(bus + size - 1, bus, size, cpu),
            Some(cpu + size - 1)
        );
        assert_eq!(map_within(bus + size, bus, size, cpu), None);
        assert_eq!(map_within(bus - 1, bus, size, cpu), None);
        assert_eq!(map_within(10, 0, 20, u64::MAX - 5), None);
    }

    #[test]
    fn entries_split_a_value_by_the_layout() {
        let layout = RangesLayout {
            child_cells: 1,
            parent_cells: 2,
            size_cells: 1,
        };
        let value = cells(&[
            0x7E00_0000,
            0,
            0xFE00_0000,
            0x180_0000,
            0x7C00_0000,
            0,
            0xFC00_0000,
            0x200_0000,
        ]);
        let entries: Vec<_> = layout
            .entries(&value)
            .unwrap()
            .map(Option::unwrap)
            .collect();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].child_address(), Some(0x7E00_0000));
        assert_eq!(entries[0].parent_address, 0xFE00_0000);
        assert_eq!(entries[0].size, 0x180_0000);
        assert_eq!(entries[1].child_address(), Some(0x7C00_0000));
        // Not a whole number of entries.
        assert!(layout.entries(value.get(..12).unwrap()).is_none());
        // An entry of no cells.
        let empty = RangesLayout {
            child_cells: 0,
            parent_cells: 0,
            size_cells: 0,
        };
        assert!(empty.entries(&[]).is_none());
    }

    #[test]
    fn entries_with_over_two_cell_parents_are_none() {
        let layout = RangesLayout {
            child_cells: 1,
            parent_cells: 3,
            size_cells: 1,
        };
        let value = cells(&[1, 2, 3, 4, 5]);
        let entries: Vec<_> = layout.entries(&value).unwrap().collect();
        assert_eq!(entries.len(), 1);
        assert!(entries[0].is_none());
    }
}
