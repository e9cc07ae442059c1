//! Interrupts: `interrupts` and `interrupts-extended` (Devicetree Specification v0.4 §2.4.1)
//! decoded to GIC INTIDs, through `interrupt-parent`.

use alloc::vec::Vec;

use super::{DeviceTree, read_u32};

/// Compatible strings of the GICv2-family distributors this kernel drives (Linux
/// `Documentation/devicetree/bindings/interrupt-controller/arm,gic.yaml`).
pub(super) const GIC_V2_COMPATIBLES: [&str; 4] = [
    "arm,gic-400",
    "arm,cortex-a15-gic",
    "arm,cortex-a9-gic",
    "arm,cortex-a7-gic",
];

/// Compatible string of GICv3 (Linux `bindings/interrupt-controller/arm,gic-v3.yaml`).
pub(super) const GIC_V3_COMPATIBLE: &str = "arm,gic-v3";

/// How an interrupt is signalled, from bits 3:0 of a GIC specifier's flags cell (Linux
/// `bindings/interrupt-controller/arm,gic.yaml`: 1 rising edge, 2 falling edge, 4 active-high
/// level, 8 active-low level). The GIC itself only distinguishes level from edge (GICD_ICFGR).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// Level-sensitive (flags 4 or 8, and 0 "unspecified", which on the GIC means the reset
    /// configuration — level for the SPIs these boards use).
    Level,
    /// Edge-triggered (flags 1 or 2).
    Edge,
}

/// One interrupt, as the GIC numbers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interrupt {
    /// GIC interrupt ID: SPI n → 32 + n, PPI n → 16 + n (GICv3 extended SPI n → 4096 + n,
    /// extended PPI n → 1056 + n).
    pub intid: u32,
    /// Level or edge.
    pub trigger: Trigger,
}

/// The GIC interrupt a 3-cell specifier `<type number flags>` names (Linux
/// `bindings/interrupt-controller/arm,gic.yaml` and `arm,gic-v3.yaml`).
pub(super) fn decode_gic_specifier(kind: u32, number: u32, flags: u32) -> Option<Interrupt> {
    let intid = match kind {
        0 if number < 988 => 32 + number,    // SPI: INTID 32..=1019
        1 if number < 16 => 16 + number,     // PPI: INTID 16..=31
        2 if number < 1024 => 4096 + number, // GICv3.1 extended SPI
        3 if number < 64 => 1056 + number,   // GICv3.1 extended PPI
        _ => return None,
    };
    let trigger = if flags & 0b0011 != 0 {
        Trigger::Edge
    } else {
        Trigger::Level
    };
    Some(Interrupt { intid, trigger })
}

impl<'a> DeviceTree<'a> {
    /// The interrupt controller of `node`: `interrupt-parent` on the node or its nearest
    /// ancestor that has one (§2.4.1).
    pub(super) fn interrupt_parent(&self, node: usize) -> Option<usize> {
        let mut current = Some(node);
        while let Some(index) = current {
            if let Some(value) = self.property(index, "interrupt-parent") {
                return self.find_phandle(read_u32(value, 0)?);
            }
            current = self.nodes.get(index)?.parent;
        }
        None
    }

    /// Whether `node` is a GIC this module can decode specifiers for.
    pub(super) fn is_gic(&self, node: usize) -> bool {
        self.property(node, "interrupt-controller").is_some()
            && (self.is_compatible(node, GIC_V3_COMPATIBLE)
                || GIC_V2_COMPATIBLES
                    .iter()
                    .any(|compatible| self.is_compatible(node, compatible)))
    }

    /// `#interrupt-cells` of a GIC node, at least 3 (`<type number flags>`; GICv3 may add a
    /// fourth, the PPI partition).
    pub(super) fn gic_interrupt_cells(&self, gic: usize) -> Option<usize> {
        let cells = usize::try_from(read_u32(self.property(gic, "#interrupt-cells")?, 0)?).ok()?;
        (cells >= 3).then_some(cells)
    }

    /// Decodes the GIC specifier of `cells` cells at cell index `first` of `value`.
    pub(super) fn gic_specifier_at(value: &[u8], first: usize) -> Option<Interrupt> {
        let offset = first.checked_mul(4)?;
        let kind = read_u32(value, offset)?;
        let number = read_u32(value, offset.checked_add(4)?)?;
        let flags = read_u32(value, offset.checked_add(8)?)?;
        decode_gic_specifier(kind, number, flags)
    }

    /// `node`'s interrupts, from `interrupts-extended` or else `interrupts` (§2.4.1), decoded as
    /// GIC specifiers. Stops at the first specifier that does not go to a GIC or does not decode,
    /// so the indices of the returned prefix match the property's.
    pub(super) fn interrupts(&self, node: usize) -> Vec<Interrupt> {
        let mut decoded = Vec::new();
        if let Some(value) = self.property(node, "interrupts-extended") {
            let mut cell: usize = 0;
            while cell.saturating_mul(4) < value.len() {
                let Some(controller) = read_u32(value, cell.saturating_mul(4))
                    .and_then(|phandle| self.find_phandle(phandle))
                else {
                    break;
                };
                let Some(cells) = self
                    .is_gic(controller)
                    .then(|| self.gic_interrupt_cells(controller))
                    .flatten()
                else {
                    break;
                };
                let Some(interrupt) = Self::gic_specifier_at(value, cell.saturating_add(1)) else {
                    break;
                };
                decoded.push(interrupt);
                cell = cell.saturating_add(1).saturating_add(cells);
            }
            return decoded;
        }
        let Some(value) = self.property(node, "interrupts") else {
            return decoded;
        };
        let Some(cells) = self
            .interrupt_parent(node)
            .filter(|&controller| self.is_gic(controller))
            .and_then(|controller| self.gic_interrupt_cells(controller))
        else {
            return decoded;
        };
        let mut cell: usize = 0;
        while let Some(interrupt) = Self::gic_specifier_at(value, cell) {
            decoded.push(interrupt);
            cell = cell.saturating_add(cells);
        }
        decoded
    }
}
