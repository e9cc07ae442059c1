//! Flattened device tree (DTB) reader and the queries the kernel makes at boot.
//!
//! The kernel receives the physical address of a DTB in `x0` (Linux `Documentation/arch/arm64/
//! booting.rst`; Raspberry Pi `armstub8.S`) and asks it for RAM, reserved memory, the UART, the
//! GIC, the timer interrupts, PSCI, the NICs and the bootargs. Everything here is pure logic over
//! a byte slice, so the host tests run it on real DTBs (`tests/fixtures/`).
//!
//! | file | what it holds |
//! |---|---|
//! | `mod.rs` | the node table and its helpers (properties, children, `status`, `compatible`, paths, phandles) |
//! | `parse.rs` | the header, reservation block and structure block parser, and its errors (§5) |
//! | `address.rs` | `reg`, `ranges` translation and `dma-ranges`: one reader of range entries (§2.3.5-§2.3.9) |
//! | `interrupts.rs` | `interrupts` / `interrupts-extended` decoded to GIC INTIDs (§2.4) |
//! | `pci.rs` | the ECAM PCI host: windows and `interrupt-map` (§2.4.3) |
//! | `devices.rs` | the per-device queries and the Pi's choice of UART (docs/bcm2711.md §3) |
//!
//! # Why not the `fdt` crate
//!
//! `fdt` 0.1.5 walks the structure block with `unwrap`, `expect`, `assert_eq!` and unchecked
//! slicing, and mishandles `FDT_NOP` tokens between sibling nodes: walking the tree that QEMU's
//! `raspi4b` machine hands the kernel (QEMU deletes the GENET and PCIe nodes with
//! `fdt_nop_node()`) panics in `skip_current_node`. It also gives no way up to a node's parents,
//! which `ranges` translation needs. So this module parses the blob itself, once, into a flat
//! node table, checking every offset and length on the way (Devicetree Specification v0.4 §5);
//! no input makes it panic, and every query after construction reads only validated slices.
//!
//! # Addresses
//!
//! Every address returned is a CPU physical address: each `reg` address is translated through the
//! `ranges` of every ancestor bus (Devicetree Specification v0.4 §2.3.8). On the Raspberry Pi 4
//! `/soc` maps VideoCore bus address 0x7E00_0000 to 0xFE00_0000, so the PL011 at bus 0x7E20_1000
//! comes out as 0xFE20_1000 (BCM2711 ARM Peripherals §1.2).

use alloc::vec::Vec;

mod address;
mod devices;
mod interrupts;
mod parse;
mod pci;

pub use address::{DmaRange, MemoryRange};
pub use devices::{
    GenetDescription, GenetPresence, GicDescription, MmioDevice, PsciMethod, TimerInterrupts,
};
pub use interrupts::{Interrupt, Trigger};
pub use parse::{
    DtbBlock, DtbError, FDT_MAGIC, HEADER_LEN, MAX_TOTAL_SIZE, StructureProblem, compacted_copy,
    total_size_from_header,
};
pub use pci::{PciHost, PciInterruptRoute, PciWindow};

/// One node of the flat table built at parse time. Parents always precede their children.
#[derive(Debug, Clone, Copy)]
struct Node<'a> {
    name: &'a str,
    parent: Option<usize>,
    first_property: usize,
    property_count: usize,
    has_children: bool,
    /// The `compatible` property's value (empty when absent), kept apart because every device
    /// lookup asks every node for it.
    compatible: &'a [u8],
    /// One bit per string of `compatible` ([`compatible_bit`]): a lookup compares the strings
    /// of only the nodes that have its bit, about one in ten on QEMU's tree.
    compatible_bits: u64,
}

/// The bit of [`Node::compatible_bits`] that stands for the string `compatible`: FNV-1a 64
/// (<http://www.isthe.com/chongo/tech/comp/fnv/>) modulo 64.
fn compatible_bit(compatible: &[u8]) -> u64 {
    let hash = compatible
        .iter()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, &byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
        });
    1 << (hash % 64)
}

/// The bits of every string of a `compatible` value.
fn compatible_bits(value: &[u8]) -> u64 {
    value
        .split(|&byte| byte == 0)
        .filter(|part| !part.is_empty())
        .fold(0, |bits, part| bits | compatible_bit(part))
}

/// One property: name from the strings block, value from the structure block.
#[derive(Debug, Clone, Copy)]
struct Property<'a> {
    name: &'a str,
    value: &'a [u8],
}

/// A parsed, validated device tree.
#[derive(Debug, Clone)]
pub struct DeviceTree<'a> {
    blob: &'a [u8],
    nodes: Vec<Node<'a>>,
    properties: Vec<Property<'a>>,
    reservations: Vec<MemoryRange>,
    /// (phandle, node index) pairs sorted by phandle, first node first among equals, so a
    /// lookup is a binary search rather than a scan of every property.
    phandles: Vec<(u32, usize)>,
}

/// Reads a big-endian `u32` at `offset`, `None` past the end.
fn read_u32(bytes: &[u8], offset: usize) -> Option<u32> {
    let end = offset.checked_add(4)?;
    let word: [u8; 4] = bytes.get(offset..end)?.try_into().ok()?;
    Some(u32::from_be_bytes(word))
}

/// Reads a big-endian `u64` at `offset`, `None` past the end.
fn read_u64(bytes: &[u8], offset: usize) -> Option<u64> {
    let end = offset.checked_add(8)?;
    let word: [u8; 8] = bytes.get(offset..end)?.try_into().ok()?;
    Some(u64::from_be_bytes(word))
}

/// Reads a number of `cells` 32-bit cells (0, 1 or 2) starting at cell index `cell_index`.
fn read_cells(value: &[u8], cell_index: usize, cells: usize) -> Option<u64> {
    let offset = cell_index.checked_mul(4)?;
    match cells {
        0 => Some(0),
        1 => read_u32(value, offset).map(u64::from),
        2 => read_u64(value, offset),
        _ => None,
    }
}

/// The NUL-terminated string at the start of `bytes`, without the NUL.
fn nul_terminated(bytes: &[u8]) -> Option<&[u8]> {
    let length = bytes.iter().position(|&byte| byte == 0)?;
    bytes.get(..length)
}

/// Iterates over the strings of a string-list property (§2.2.4, `<stringlist>`).
fn string_list(value: &[u8]) -> impl Iterator<Item = &str> {
    value
        .split(|&byte| byte == 0)
        .filter(|part| !part.is_empty())
        .filter_map(|part| core::str::from_utf8(part).ok())
}

/// A property value as one string, without the trailing NUL; `None` if not UTF-8.
fn single_string(value: &[u8]) -> Option<&str> {
    let text = nul_terminated(value).unwrap_or(value);
    core::str::from_utf8(text).ok()
}

impl<'a> DeviceTree<'a> {
    /// The value of `node`'s property `name`.
    fn property(&self, node: usize, name: &str) -> Option<&'a [u8]> {
        let entry = self.nodes.get(node)?;
        let end = entry.first_property.checked_add(entry.property_count)?;
        self.properties
            .get(entry.first_property..end)?
            .iter()
            .find(|property| property.name == name)
            .map(|property| property.value)
    }

    /// Indices of `node`'s children, in tree order.
    fn children(&self, node: usize) -> impl Iterator<Item = usize> + '_ {
        self.nodes
            .iter()
            .enumerate()
            .filter(move |(_, entry)| entry.parent == Some(node))
            .map(|(index, _)| index)
    }

    /// `status` absent, "okay" or "ok" (Devicetree Specification v0.4 §2.3.4; "ok" is the
    /// legacy spelling Linux still accepts).
    fn is_enabled(&self, node: usize) -> bool {
        match self.property(node, "status").and_then(single_string) {
            None => true,
            Some(status) => status == "okay" || status == "ok",
        }
    }

    /// The strings of `node`'s `compatible`.
    fn compatibles(&self, node: usize) -> impl Iterator<Item = &'a str> {
        string_list(self.nodes.get(node).map_or(&[], |entry| entry.compatible))
    }

    /// Whether `node`'s `compatible` lists `compatible` (compared as bytes: a list entry that
    /// is not UTF-8 cannot equal a `&str` anyway).
    fn is_compatible(&self, node: usize, compatible: &str) -> bool {
        !compatible.is_empty()
            && self.nodes.get(node).is_some_and(|entry| {
                entry.compatible_bits & compatible_bit(compatible.as_bytes()) != 0
                    && entry
                        .compatible
                        .split(|&byte| byte == 0)
                        .any(|candidate| candidate == compatible.as_bytes())
            })
    }

    /// Enabled nodes listing `compatible`, in tree order.
    fn enabled_compatible_nodes<'s>(
        &'s self,
        compatible: &'s str,
    ) -> impl Iterator<Item = usize> + 's {
        let bit = compatible_bit(compatible.as_bytes());
        self.nodes
            .iter()
            .enumerate()
            .filter(move |(_, entry)| entry.compatible_bits & bit != 0)
            .map(|(node, _)| node)
            .filter(move |&node| self.is_compatible(node, compatible) && self.is_enabled(node))
    }

    /// The node at an absolute path such as "/soc/serial@7e201000". A component without a unit
    /// address also matches a node that has one ("/memory" finds "memory@0").
    fn find_path(&self, path: &str) -> Option<usize> {
        let mut current = 0;
        for component in path.split('/').filter(|component| !component.is_empty()) {
            current = self.children(current).find(|&child| {
                let name = self.nodes.get(child).map_or("", |entry| entry.name);
                name == component
                    || (!component.contains('@') && name.split('@').next() == Some(component))
            })?;
        }
        Some(current)
    }

    /// The node whose `phandle` (or legacy `linux,phandle`) is `phandle`.
    fn find_phandle(&self, phandle: u32) -> Option<usize> {
        let first = self
            .phandles
            .partition_point(|&(candidate, _)| candidate < phandle);
        self.phandles
            .get(first)
            .filter(|&&(candidate, _)| candidate == phandle)
            .map(|&(_, node)| node)
    }
}
