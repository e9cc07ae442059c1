//! The generic ECAM PCI host bridge: its windows (`ranges`, IEEE 1275 PCI binding) and its
//! legacy interrupt routing (`interrupt-map`, Devicetree Specification v0.4 §2.4.3).

use alloc::vec::Vec;

use super::{DeviceTree, Interrupt, MemoryRange, read_cells, read_u32};

/// One window of a PCI host bridge's `ranges` (IEEE 1275 PCI binding §2.2.1.1: phys.hi bits
/// 25:24 = space code, bit 30 = prefetchable).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PciWindow {
    /// Address on the PCI bus (phys.mid:phys.lo).
    pub pci_address: u64,
    /// CPU physical address the window starts at.
    pub cpu_address: u64,
    /// Length in bytes.
    pub size: u64,
    /// phys.hi bit 30.
    pub prefetchable: bool,
}

/// One `interrupt-map` row of a PCI host bridge, decoded to a GIC interrupt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PciInterruptRoute {
    /// Child unit address phys.hi (bus 23:16, device 15:11, function 10:8).
    pub child_address_high: u32,
    /// Child unit address phys.mid.
    pub child_address_mid: u32,
    /// Child unit address phys.lo.
    pub child_address_low: u32,
    /// Interrupt pin, 1 = INTA … 4 = INTD.
    pub pin: u32,
    /// Where it goes on the GIC.
    pub interrupt: Interrupt,
}

/// A generic ECAM PCI host bridge (`pci-host-ecam-generic`, Linux
/// `bindings/pci/host-generic-pci.yaml`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PciHost {
    /// Configuration space (ECAM: 1 MiB per bus, 4 KiB per function; PCIe base spec §7.2.2).
    pub ecam: MemoryRange,
    /// First bus number (`bus-range`, default 0).
    pub bus_start: u8,
    /// Last bus number (`bus-range`, default 255).
    pub bus_end: u8,
    /// I/O-space window (space code 0b01), if any.
    pub io_window: Option<PciWindow>,
    /// 32-bit memory window (space code 0b10), if any.
    pub mmio32_window: Option<PciWindow>,
    /// 64-bit memory window (space code 0b11), if any.
    pub mmio64_window: Option<PciWindow>,
    /// `interrupt-map-mask`: phys.hi, phys.mid, phys.lo, pin (all-ones when absent).
    pub interrupt_map_mask: [u32; 4],
    /// Decoded `interrupt-map` rows whose parent is a GIC.
    pub interrupt_map: Vec<PciInterruptRoute>,
}

impl PciHost {
    /// The GIC interrupt for `pin` (1 = INTA … 4 = INTD, the value of the device's Interrupt Pin
    /// configuration register) of `device` (0–31) on bus 0, by the masked `interrupt-map` match
    /// of Devicetree Specification v0.4 §2.4.3. `None` when no row matches.
    pub fn interrupt_for(&self, device: u8, pin: u8) -> Option<Interrupt> {
        let key = [u32::from(device) << 11, 0, 0, u32::from(pin)];
        let [mask_high, mask_mid, mask_low, mask_pin] = self.interrupt_map_mask;
        self.interrupt_map
            .iter()
            .find(|route| {
                key[0] & mask_high == route.child_address_high & mask_high
                    && key[1] & mask_mid == route.child_address_mid & mask_mid
                    && key[2] & mask_low == route.child_address_low & mask_low
                    && key[3] & mask_pin == route.pin & mask_pin
            })
            .map(|route| route.interrupt)
    }
}

impl<'a> DeviceTree<'a> {
    /// The first enabled generic ECAM PCI host bridge (`pci-host-ecam-generic`).
    pub fn pci_host(&self) -> Option<PciHost> {
        let node = self
            .enabled_compatible_nodes("pci-host-ecam-generic")
            .next()?;
        let ecam = *self.reg(node)?.first()?;
        let (bus_start, bus_end) = match self.property(node, "bus-range") {
            Some(value) => (
                u8::try_from(read_u32(value, 0)?).ok()?,
                u8::try_from(read_u32(value, 4)?).ok()?,
            ),
            None => (0, 255),
        };
        let mut host = PciHost {
            ecam,
            bus_start,
            bus_end,
            io_window: None,
            mmio32_window: None,
            mmio64_window: None,
            interrupt_map_mask: [u32::MAX; 4],
            interrupt_map: Vec::new(),
        };
        self.decode_pci_ranges(node, &mut host);
        self.decode_pci_interrupt_map(node, &mut host);
        Some(host)
    }

    /// Fills the I/O, 32-bit and 64-bit windows from a PCI host's `ranges` (phys.hi space code
    /// in bits 25:24: 01 I/O, 10 32-bit memory, 11 64-bit memory; IEEE 1275 PCI binding).
    pub(super) fn decode_pci_ranges(&self, node: usize, host: &mut PciHost) {
        let (Some(parent), Some(ranges)) = (
            self.nodes.get(node).and_then(|entry| entry.parent),
            self.property(node, "ranges"),
        ) else {
            return;
        };
        let Some(layout) = self
            .ranges_layout(node, parent)
            .filter(|layout| layout.child_cells == 3)
        else {
            return;
        };
        let Some(entries) = layout.entries(ranges) else {
            return;
        };
        for entry in entries {
            let window = (|| {
                let entry = entry?;
                let high = read_u32(entry.child_cells, 0)?;
                let pci_address = read_cells(entry.child_cells, 1, 2)?;
                let cpu_address = self.translate(parent, entry.parent_address)?;
                let prefetchable = high & (1 << 30) != 0;
                Some((
                    (high >> 24) & 0b11,
                    PciWindow {
                        pci_address,
                        cpu_address,
                        size: entry.size,
                        prefetchable,
                    },
                ))
            })();
            match window {
                Some((0b01, window)) => host.io_window = host.io_window.or(Some(window)),
                Some((0b10, window)) => host.mmio32_window = host.mmio32_window.or(Some(window)),
                Some((0b11, window)) => host.mmio64_window = host.mmio64_window.or(Some(window)),
                _ => {}
            }
        }
    }

    /// Decodes a PCI host's `interrupt-map` and `interrupt-map-mask` (§2.4.3). Each row is
    /// child unit address (3 cells) + child specifier (1 cell) + parent phandle + parent unit
    /// address (the parent's `#address-cells`, 0 when absent, as Linux `of_irq_parse_raw` reads
    /// it) + parent specifier (the parent's `#interrupt-cells`). Rows for non-GIC parents are
    /// skipped; a row whose length cannot be known ends the decoding.
    pub(super) fn decode_pci_interrupt_map(&self, node: usize, host: &mut PciHost) {
        let child_specifier_cells = self
            .property(node, "#interrupt-cells")
            .and_then(|value| read_u32(value, 0));
        if self.address_cells(node) != Some(3) || child_specifier_cells != Some(1) {
            return;
        }
        if let Some(mask) = self.property(node, "interrupt-map-mask") {
            for (index, slot) in host.interrupt_map_mask.iter_mut().enumerate() {
                *slot = read_u32(mask, index * 4).unwrap_or(u32::MAX);
            }
        }
        let Some(map) = self.property(node, "interrupt-map") else {
            return;
        };
        let mut cell: usize = 0;
        while cell.saturating_mul(4) < map.len() {
            let row = (|| {
                let cell_value =
                    |index: usize| read_u32(map, cell.checked_add(index)?.checked_mul(4)?);
                let child = [
                    cell_value(0)?,
                    cell_value(1)?,
                    cell_value(2)?,
                    cell_value(3)?,
                ];
                let controller = self.find_phandle(cell_value(4)?)?;
                let parent_address_cells = match self.property(controller, "#address-cells") {
                    Some(value) => usize::try_from(read_u32(value, 0)?).ok()?,
                    None => 0,
                };
                let parent_specifier_cells =
                    usize::try_from(read_u32(self.property(controller, "#interrupt-cells")?, 0)?)
                        .ok()?;
                let specifier_start = cell.checked_add(5)?.checked_add(parent_address_cells)?;
                let interrupt = if self.is_gic(controller) && parent_specifier_cells >= 3 {
                    Self::gic_specifier_at(map, specifier_start)
                } else {
                    None
                };
                Some((
                    child,
                    interrupt,
                    specifier_start.checked_add(parent_specifier_cells)?,
                ))
            })();
            let Some((child, interrupt, next_cell)) = row else {
                break;
            };
            if let Some(interrupt) = interrupt {
                host.interrupt_map.push(PciInterruptRoute {
                    child_address_high: child[0],
                    child_address_mid: child[1],
                    child_address_low: child[2],
                    pin: child[3],
                    interrupt,
                });
            }
            cell = next_cell;
        }
    }
}
