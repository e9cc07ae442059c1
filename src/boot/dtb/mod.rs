//! Flattened device tree (DTB) reader and the queries the kernel makes at boot.
//!
//! The kernel receives the physical address of a DTB in `x0` (Linux `Documentation/arch/arm64/
//! booting.rst`; Raspberry Pi `armstub8.S`) and asks it for RAM, reserved memory, the UART, the
//! GIC, the timer interrupts, PSCI, the NICs and the bootargs. Everything here is pure logic over
//! a byte slice, so the host tests run it on real DTBs (`tests/fixtures/`).
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
use core::fmt;

use crate::boot::mac;

/// FDT header magic, big-endian (Devicetree Specification v0.4 §5.2).
pub const FDT_MAGIC: u32 = 0xD00D_FEED;

/// Size of the FDT header for version 17 (ten big-endian `u32` fields, §5.2).
pub const HEADER_LEN: usize = 40;

/// Largest DTB accepted: Linux `Documentation/arch/arm64/booting.rst` — "The device tree blob
/// (dtb) … must not exceed 2 megabytes in size."
pub const MAX_TOTAL_SIZE: usize = 2 * 1024 * 1024;

/// Structure-block tokens (§5.4.1).
const TOKEN_BEGIN_NODE: u32 = 0x1;
const TOKEN_END_NODE: u32 = 0x2;
const TOKEN_PROPERTY: u32 = 0x3;
const TOKEN_NOP: u32 = 0x4;
const TOKEN_END: u32 = 0x9;

/// Compatible strings of the GICv2-family distributors this kernel drives (Linux
/// `Documentation/devicetree/bindings/interrupt-controller/arm,gic.yaml`).
const GIC_V2_COMPATIBLES: [&str; 4] = [
    "arm,gic-400",
    "arm,cortex-a15-gic",
    "arm,cortex-a9-gic",
    "arm,cortex-a7-gic",
];

/// Compatible string of GICv3 (Linux `bindings/interrupt-controller/arm,gic-v3.yaml`).
const GIC_V3_COMPATIBLE: &str = "arm,gic-v3";

/// Compatible string of the Raspberry Pi 4's GENET v5 Ethernet MAC (Linux
/// `bindings/net/brcm,bcmgenet.yaml`).
const GENET_V5_COMPATIBLE: &str = "brcm,bcm2711-genet-v5";

/// Bus address of the Pi 4's first PL011 (UART0) before `/soc` `ranges` translation (DTB
/// `/soc/serial@7e201000`; `docs/bcm2711.md` §3: use it whatever `stdout-path` says).
const BCM2711_UART0_BUS_ADDRESS: u64 = 0x7E20_1000;

/// Why a blob is not a usable device tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DtbError {
    /// Fewer bytes than the 40-byte header.
    TooShort {
        /// Bytes available.
        length: usize,
    },
    /// The first word is not 0xD00D_FEED.
    BadMagic {
        /// The big-endian word found instead.
        found: u32,
    },
    /// `totalsize` is smaller than the header, larger than the bytes given, or larger than
    /// [`MAX_TOTAL_SIZE`].
    BadTotalSize {
        /// The header's `totalsize`.
        total_size: u32,
        /// Bytes available.
        available: usize,
    },
    /// The format version is not one this reader understands (needs version ≥ 17, which has
    /// `size_dt_struct`, and `last_comp_version` ≤ 17).
    UnsupportedVersion {
        /// The header's `version`.
        version: u32,
        /// The header's `last_comp_version`.
        last_compatible_version: u32,
    },
    /// A block's offset and size reach past `totalsize`.
    BlockOutOfBounds {
        /// Which block.
        block: DtbBlock,
    },
    /// The memory reservation block has no terminating all-zero entry inside `totalsize`.
    UnterminatedReservationBlock,
    /// The structure block is malformed.
    Structure {
        /// Byte offset inside the structure block where the problem was found.
        offset: usize,
        /// What is wrong there.
        problem: StructureProblem,
    },
}

/// The three blocks a DTB header points at (§5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DtbBlock {
    /// The memory reservation block (`off_mem_rsvmap`).
    MemoryReservation,
    /// The structure block (`off_dt_struct`, `size_dt_struct`).
    Structure,
    /// The strings block (`off_dt_strings`, `size_dt_strings`).
    Strings,
}

/// What is wrong in the structure block (§5.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StructureProblem {
    /// The block ends in the middle of a token or before `FDT_END`.
    Truncated,
    /// A token that is none of `FDT_BEGIN_NODE`, `FDT_END_NODE`, `FDT_PROP`, `FDT_NOP`, `FDT_END`.
    UnknownToken(u32),
    /// A node name without a NUL terminator.
    UnterminatedNodeName,
    /// A node or property name that is not UTF-8.
    NameNotUtf8,
    /// A property name offset outside the strings block, or a name without NUL.
    PropertyNameOutOfBounds,
    /// A property value longer than the rest of the block.
    PropertyValueOutOfBounds,
    /// `FDT_PROP` outside any node.
    PropertyOutsideNode,
    /// `FDT_PROP` after the node's first child (§5.4.2 puts properties before child nodes).
    PropertyAfterChildNode,
    /// `FDT_END_NODE` with no open node.
    UnbalancedEndNode,
    /// A second top-level node after the root was closed.
    SecondRootNode,
    /// The root node is not named "" (§5.4.2).
    RootNodeNamed,
    /// `FDT_END` while a node is still open, or before any node.
    EndBeforeRootClosed,
}

impl fmt::Display for DtbError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooShort { length } => {
                write!(
                    formatter,
                    "DTB too short: {length} bytes, header needs {HEADER_LEN}"
                )
            }
            Self::BadMagic { found } => {
                write!(
                    formatter,
                    "DTB magic is {found:#010x}, expected {FDT_MAGIC:#010x}"
                )
            }
            Self::BadTotalSize {
                total_size,
                available,
            } => write!(
                formatter,
                "DTB totalsize {total_size} is invalid ({available} bytes available, header \
                 {HEADER_LEN}, limit {MAX_TOTAL_SIZE})"
            ),
            Self::UnsupportedVersion {
                version,
                last_compatible_version,
            } => write!(
                formatter,
                "DTB version {version} (last compatible {last_compatible_version}) unsupported; \
                 need version >= 17 compatible with 17"
            ),
            Self::BlockOutOfBounds { block } => {
                write!(formatter, "DTB {block:?} block lies outside totalsize")
            }
            Self::UnterminatedReservationBlock => {
                write!(
                    formatter,
                    "DTB memory reservation block has no terminating entry"
                )
            }
            Self::Structure { offset, problem } => {
                write!(
                    formatter,
                    "DTB structure block malformed at offset {offset}: {problem:?}"
                )
            }
        }
    }
}

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

/// A memory-mapped device: its first register window and first interrupt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MmioDevice {
    /// CPU physical address of the first `reg` entry.
    pub base: u64,
    /// Size of the first `reg` entry in bytes.
    pub size: u64,
    /// The first entry of `interrupts` (or `interrupts-extended`), when it routes to a GIC.
    pub interrupt: Option<Interrupt>,
}

/// The interrupt controller and its register windows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GicDescription {
    /// GICv2 (`arm,gic-400`, `arm,cortex-a15-gic`, …): `reg` = distributor, CPU interface, then
    /// optional virtualisation windows.
    V2 {
        /// GICD register window.
        distributor: MemoryRange,
        /// GICC register window.
        cpu_interface: MemoryRange,
    },
    /// GICv3 (`arm,gic-v3`): `reg` = distributor, then `#redistributor-regions` redistributor
    /// windows (default 1).
    V3 {
        /// GICD register window.
        distributor: MemoryRange,
        /// GICR register windows, at least one.
        redistributor_regions: Vec<MemoryRange>,
    },
}

/// The four generic-timer PPIs of `arm,armv8-timer`, in binding order (Linux
/// `bindings/timer/arm,arch_timer.yaml`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerInterrupts {
    /// Secure EL1 physical timer INTID.
    pub secure_physical_intid: u32,
    /// Non-secure EL1 physical timer INTID (CNTP_*_EL0; the one this kernel uses).
    pub non_secure_physical_intid: u32,
    /// Virtual timer INTID (CNTV_*_EL0).
    pub virtual_intid: u32,
    /// EL2 (hypervisor) physical timer INTID.
    pub hypervisor_physical_intid: u32,
}

/// How PSCI calls are made (Linux `bindings/arm/psci.yaml`, `method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PsciMethod {
    /// `HVC #0` (QEMU `virt` without EL2 emulation).
    Hvc,
    /// `SMC #0`.
    Smc,
}

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

/// The Raspberry Pi 4's GENET v5 Ethernet MAC as the DTB describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GenetDescription<'a> {
    /// CPU physical address of the register block (0xFD58_0000 on a Pi 4).
    pub base: u64,
    /// Size of the register block (64 KiB).
    pub size: u64,
    /// The two interrupt lines' INTIDs: INTRL2_0 and INTRL2_1 (`docs/bcm2711.md` §6.5).
    pub intids: [u32; 2],
    /// `mac-address`, else `local-mac-address` (Linux `of_get_mac_address` order), when 6 bytes
    /// long and a usable unicast address (not all-zero, multicast bit clear).
    pub mac: Option<[u8; 6]>,
    /// MDIO address of the PHY: `reg` of the node `phy-handle` points at.
    pub phy_address: Option<u32>,
    /// `phy-mode` ("rgmii-rxid" on a Pi 4).
    pub phy_mode: Option<&'a str>,
}

/// Whether the DTB describes a GENET, and whether it is enabled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GenetPresence<'a> {
    /// No `brcm,bcm2711-genet-v5` node (QEMU `raspi4b` deletes it).
    Absent,
    /// A node exists but its `status` is not "okay".
    Disabled {
        /// The `status` value.
        status: &'a str,
    },
    /// An enabled, fully described node.
    Present(GenetDescription<'a>),
    /// An enabled node whose `reg` or interrupts cannot be decoded.
    Malformed,
}

/// One node of the flat table built at parse time. Parents always precede their children.
#[derive(Debug, Clone, Copy)]
struct Node<'a> {
    name: &'a str,
    parent: Option<usize>,
    first_property: usize,
    property_count: usize,
    has_children: bool,
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

/// Rounds up to the next multiple of 4 (§5.4.1: tokens are 32-bit aligned).
fn align4(value: usize) -> Option<usize> {
    Some(value.checked_add(3)? & !3)
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

/// The GIC interrupt a 3-cell specifier `<type number flags>` names (Linux
/// `bindings/interrupt-controller/arm,gic.yaml` and `arm,gic-v3.yaml`).
fn decode_gic_specifier(kind: u32, number: u32, flags: u32) -> Option<Interrupt> {
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
    /// Validates the header and the whole structure block of `blob` and builds the node table.
    /// `blob` may be longer than the tree; only `totalsize` bytes are used.
    pub fn from_bytes(blob: &'a [u8]) -> Result<Self, DtbError> {
        let total_size = total_size_from_header(blob)?;
        let blob = blob.get(..total_size).ok_or(DtbError::BadTotalSize {
            total_size: u32::try_from(total_size).unwrap_or(u32::MAX),
            available: blob.len(),
        })?;
        let field = |index: usize| read_u32(blob, index * 4).unwrap_or(0);
        let (offset_structure, offset_strings, offset_reservations) =
            (field(2), field(3), field(4));
        let (version, last_compatible_version) = (field(5), field(6));
        let (size_strings, size_structure) = (field(8), field(9));
        if version < 17 || last_compatible_version > 17 {
            return Err(DtbError::UnsupportedVersion {
                version,
                last_compatible_version,
            });
        }
        let block = |offset: u32, size: u32, which: DtbBlock| {
            let start = usize::try_from(offset).ok();
            let end = start.and_then(|start| start.checked_add(usize::try_from(size).ok()?));
            match (start, end) {
                (Some(start), Some(end)) if start >= HEADER_LEN => blob
                    .get(start..end)
                    .ok_or(DtbError::BlockOutOfBounds { block: which }),
                _ => Err(DtbError::BlockOutOfBounds { block: which }),
            }
        };
        let structure = block(offset_structure, size_structure, DtbBlock::Structure)?;
        let strings = block(offset_strings, size_strings, DtbBlock::Strings)?;
        let reservation_start = usize::try_from(offset_reservations)
            .ok()
            .filter(|&start| start >= HEADER_LEN && start <= blob.len())
            .ok_or(DtbError::BlockOutOfBounds {
                block: DtbBlock::MemoryReservation,
            })?;
        let reservations = parse_reservations(blob.get(reservation_start..).unwrap_or_default())?;
        let (nodes, properties) = parse_structure(structure, strings)?;
        let mut phandles: Vec<(u32, usize)> = Vec::new();
        for (index, node) in nodes.iter().enumerate() {
            let end = node.first_property.saturating_add(node.property_count);
            let own = properties.get(node.first_property..end).unwrap_or_default();
            // §2.3.3: `phandle`; `linux,phandle` is the legacy spelling older dtc emits.
            let phandle = own
                .iter()
                .filter(|property| property.name == "phandle" || property.name == "linux,phandle")
                .find_map(|property| read_u32(property.value, 0));
            if let Some(phandle) = phandle {
                phandles.push((phandle, index));
            }
        }
        phandles.sort_by_key(|&(phandle, _)| phandle);
        Ok(Self {
            blob,
            nodes,
            properties,
            reservations,
            phandles,
        })
    }

    /// `totalsize` from the header: the number of bytes the tree occupies (to reserve it).
    pub fn blob_size(&self) -> usize {
        self.blob.len()
    }

    /// The first string of the root `compatible` ("linux,dummy-virt", "raspberrypi,4-model-b").
    pub fn root_compatible(&self) -> Option<&'a str> {
        self.property(0, "compatible")
            .and_then(|value| string_list(value).next())
    }

    /// Whether the root `compatible` list contains `compatible` (e.g. "brcm,bcm2711").
    pub fn root_is_compatible_with(&self, compatible: &str) -> bool {
        self.is_compatible(0, compatible)
    }

    /// The root `model` string ("Raspberry Pi 4 Model B"), for the boot banner.
    pub fn model(&self) -> Option<&'a str> {
        self.property(0, "model").and_then(single_string)
    }

    /// Every non-empty `reg` entry of every enabled node with `device_type = "memory"`, in tree
    /// order, translated to CPU addresses (Devicetree Specification v0.4 §3.4).
    pub fn memory_regions(&self) -> Vec<MemoryRange> {
        let mut regions = Vec::new();
        for node in 0..self.nodes.len() {
            let is_memory =
                self.property(node, "device_type").and_then(single_string) == Some("memory");
            if is_memory && self.is_enabled(node) {
                let entries = self.reg(node).unwrap_or_default();
                regions.extend(entries.into_iter().filter(|range| range.size != 0));
            }
        }
        regions
    }

    /// Memory the kernel must not allocate: the `/memreserve/` entries (§5.3), then the
    /// non-empty `reg` of each enabled child of `/reserved-memory` (§3.5.2). Children with only a
    /// `size` (dynamically placed pools such as `linux,cma`) have no fixed address and are
    /// skipped. The DTB blob itself is not included: reserve `blob_size()` bytes at its address.
    pub fn reserved_regions(&self) -> Vec<MemoryRange> {
        let mut regions = self.reservations.clone();
        if let Some(reserved_memory) = self.find_path("/reserved-memory") {
            for child in self.children(reserved_memory) {
                if self.is_enabled(child) {
                    let entries = self.reg(child).unwrap_or_default();
                    regions.extend(entries.into_iter().filter(|range| range.size != 0));
                }
            }
        }
        regions
    }

    /// `/chosen/bootargs`, without its trailing NUL; `None` when absent or not UTF-8.
    pub fn bootargs(&self) -> Option<&'a str> {
        let chosen = self.find_path("/chosen")?;
        self.property(chosen, "bootargs").and_then(single_string)
    }

    /// The PL011 console UART (`arm,pl011`). On a BCM2711 board, the enabled node at bus address
    /// 0x7E20_1000 (UART0), whatever `stdout-path` says (`docs/bcm2711.md` §3: the mainline DTB
    /// points `stdout-path` at the mini UART and gives the PL011 to Bluetooth, but the kernel muxes
    /// it to GPIO14/15 itself). Otherwise the `stdout-path` node if it is an enabled PL011, else
    /// the first enabled PL011 in tree order.
    pub fn pl011_uart(&self) -> Option<MmioDevice> {
        let candidates: Vec<usize> = self.enabled_compatible_nodes("arm,pl011").collect();
        if self.root_is_compatible_with("brcm,bcm2711") {
            let uart0 = candidates
                .iter()
                .copied()
                .find(|&node| self.first_reg_bus_address(node) == Some(BCM2711_UART0_BUS_ADDRESS));
            if let Some(device) = uart0.and_then(|node| self.mmio_device(node)) {
                return Some(device);
            }
        }
        let stdout = self.stdout_node().filter(|node| candidates.contains(node));
        stdout
            .into_iter()
            .chain(candidates.iter().copied())
            .find_map(|node| self.mmio_device(node))
    }

    /// The first enabled PL031 real-time clock (`arm,pl031`).
    pub fn pl031_rtc(&self) -> Option<MmioDevice> {
        self.enabled_compatible_nodes("arm,pl031")
            .find_map(|node| self.mmio_device(node))
    }

    /// The first enabled GIC: GICv2 family (distributor and CPU interface) or GICv3
    /// (distributor and redistributor regions).
    pub fn gic(&self) -> Option<GicDescription> {
        (0..self.nodes.len())
            .filter(|&node| self.is_enabled(node))
            .find_map(|node| {
                if GIC_V2_COMPATIBLES
                    .iter()
                    .any(|compatible| self.is_compatible(node, compatible))
                {
                    let reg = self.reg(node)?;
                    let (distributor, cpu_interface) = (*reg.first()?, *reg.get(1)?);
                    Some(GicDescription::V2 {
                        distributor,
                        cpu_interface,
                    })
                } else if self.is_compatible(node, GIC_V3_COMPATIBLE) {
                    let reg = self.reg(node)?;
                    let distributor = *reg.first()?;
                    let region_count = match self.property(node, "#redistributor-regions") {
                        Some(value) => usize::try_from(read_u32(value, 0)?).ok()?,
                        None => 1,
                    };
                    let redistributor_regions = reg.get(1..region_count.checked_add(1)?)?.to_vec();
                    if redistributor_regions.is_empty() {
                        return None;
                    }
                    Some(GicDescription::V3 {
                        distributor,
                        redistributor_regions,
                    })
                } else {
                    None
                }
            })
    }

    /// The generic timer's four PPIs (`arm,armv8-timer`): secure physical, non-secure physical,
    /// virtual, hypervisor physical.
    pub fn timer_interrupts(&self) -> Option<TimerInterrupts> {
        let node = self.enabled_compatible_nodes("arm,armv8-timer").next()?;
        let interrupts = self.interrupts(node);
        match interrupts.as_slice() {
            [secure, non_secure, virtual_timer, hypervisor, ..] => Some(TimerInterrupts {
                secure_physical_intid: secure.intid,
                non_secure_physical_intid: non_secure.intid,
                virtual_intid: virtual_timer.intid,
                hypervisor_physical_intid: hypervisor.intid,
            }),
            _ => None,
        }
    }

    /// The PSCI conduit from the enabled `arm,psci*` node's `method`; `None` without PSCI (the
    /// Pi 4 boots secondaries by spin table and its armstub disables SMC, `docs/bcm2711.md` §1.1).
    pub fn psci_method(&self) -> Option<PsciMethod> {
        let node = (0..self.nodes.len()).find(|&node| {
            self.is_enabled(node)
                && self.compatibles(node).any(|compatible| {
                    compatible == "arm,psci" || compatible.starts_with("arm,psci-")
                })
        })?;
        match self.property(node, "method").and_then(single_string)? {
            "hvc" => Some(PsciMethod::Hvc),
            "smc" => Some(PsciMethod::Smc),
            _ => None,
        }
    }

    /// Every enabled `virtio,mmio` transport, sorted by base address (QEMU `virt` has 32, at
    /// 0x0A00_0000 + 0x200 × i; the kernel probes each for its device ID).
    pub fn virtio_mmio_devices(&self) -> Vec<MmioDevice> {
        let mut devices: Vec<MmioDevice> = self
            .enabled_compatible_nodes("virtio,mmio")
            .filter_map(|node| self.mmio_device(node))
            .collect();
        devices.sort_by_key(|device| device.base);
        devices
    }

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

    /// The GENET v5 MAC of a Raspberry Pi 4: absent, disabled (with its `status`), present with
    /// everything the driver needs, or malformed. An enabled node wins over a disabled one.
    pub fn genet(&self) -> GenetPresence<'a> {
        let nodes: Vec<usize> = (0..self.nodes.len())
            .filter(|&node| self.is_compatible(node, GENET_V5_COMPATIBLE))
            .collect();
        let Some(&first) = nodes.first() else {
            return GenetPresence::Absent;
        };
        let Some(node) = nodes.iter().copied().find(|&node| self.is_enabled(node)) else {
            let status = self
                .property(first, "status")
                .and_then(single_string)
                .unwrap_or("");
            return GenetPresence::Disabled { status };
        };
        let registers = self.reg(node).and_then(|reg| reg.first().copied());
        let interrupts = self.interrupts(node);
        let (Some(registers), [first_line, second_line, ..]) = (registers, interrupts.as_slice())
        else {
            return GenetPresence::Malformed;
        };
        let usable_mac = |name: &str| {
            let bytes: [u8; 6] = self.property(node, name)?.try_into().ok()?;
            mac::is_usable_unicast(bytes).then_some(bytes)
        };
        let phy_address = self
            .property(node, "phy-handle")
            .and_then(|value| read_u32(value, 0))
            .and_then(|phandle| self.find_phandle(phandle))
            .and_then(|phy| self.property(phy, "reg"))
            .and_then(|value| read_u32(value, 0));
        GenetPresence::Present(GenetDescription {
            base: registers.base,
            size: registers.size,
            intids: [first_line.intid, second_line.intid],
            mac: usable_mac("mac-address").or_else(|| usable_mac("local-mac-address")),
            phy_address,
            phy_mode: self.property(node, "phy-mode").and_then(single_string),
        })
    }

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

    // ---- node table helpers -------------------------------------------------------------

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
        string_list(self.property(node, "compatible").unwrap_or_default())
    }

    /// Whether `node`'s `compatible` lists `compatible`.
    fn is_compatible(&self, node: usize, compatible: &str) -> bool {
        self.compatibles(node)
            .any(|candidate| candidate == compatible)
    }

    /// Enabled nodes listing `compatible`, in tree order.
    fn enabled_compatible_nodes<'s>(
        &'s self,
        compatible: &'s str,
    ) -> impl Iterator<Item = usize> + 's {
        (0..self.nodes.len())
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

    /// The node `/chosen/stdout-path` names, through `/aliases` if it is an alias; the
    /// `:options` suffix is ignored (Devicetree Specification v0.4 §3.6).
    fn stdout_node(&self) -> Option<usize> {
        let chosen = self.find_path("/chosen")?;
        let value = self
            .property(chosen, "stdout-path")
            .or_else(|| self.property(chosen, "linux,stdout-path"))?;
        let path = single_string(value)?.split(':').next()?;
        if path.starts_with('/') {
            return self.find_path(path);
        }
        let aliases = self.find_path("/aliases")?;
        let target = self.property(aliases, path).and_then(single_string)?;
        self.find_path(target)
    }

    /// `#address-cells` of `node` (for its children's `reg`), default 2 (§2.3.5).
    fn address_cells(&self, node: usize) -> Option<usize> {
        match self.property(node, "#address-cells") {
            Some(value) => usize::try_from(read_u32(value, 0)?).ok(),
            None => Some(2),
        }
    }

    /// `#size-cells` of `node` (for its children's `reg`), default 1 (§2.3.5).
    fn size_cells(&self, node: usize) -> Option<usize> {
        match self.property(node, "#size-cells") {
            Some(value) => usize::try_from(read_u32(value, 0)?).ok(),
            None => Some(1),
        }
    }

    /// The first `reg` address of `node` as written, in its parent bus's address space.
    fn first_reg_bus_address(&self, node: usize) -> Option<u64> {
        let parent = self.nodes.get(node)?.parent?;
        let address_cells = self.address_cells(parent)?;
        read_cells(self.property(node, "reg")?, 0, address_cells)
    }

    /// All `reg` entries of `node`, translated to CPU addresses. `None` if `reg` is absent or
    /// malformed, uses more than 2 cells, or an entry does not translate.
    fn reg(&self, node: usize) -> Option<Vec<MemoryRange>> {
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
    fn translate(&self, bus: usize, address: u64) -> Option<u64> {
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

    /// The interrupt controller of `node`: `interrupt-parent` on the node or its nearest
    /// ancestor that has one (§2.4.1).
    fn interrupt_parent(&self, node: usize) -> Option<usize> {
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
    fn is_gic(&self, node: usize) -> bool {
        self.property(node, "interrupt-controller").is_some()
            && (self.is_compatible(node, GIC_V3_COMPATIBLE)
                || GIC_V2_COMPATIBLES
                    .iter()
                    .any(|compatible| self.is_compatible(node, compatible)))
    }

    /// `#interrupt-cells` of a GIC node, at least 3 (`<type number flags>`; GICv3 may add a
    /// fourth, the PPI partition).
    fn gic_interrupt_cells(&self, gic: usize) -> Option<usize> {
        let cells = usize::try_from(read_u32(self.property(gic, "#interrupt-cells")?, 0)?).ok()?;
        (cells >= 3).then_some(cells)
    }

    /// Decodes the GIC specifier of `cells` cells at cell index `first` of `value`.
    fn gic_specifier_at(value: &[u8], first: usize) -> Option<Interrupt> {
        let offset = first.checked_mul(4)?;
        let kind = read_u32(value, offset)?;
        let number = read_u32(value, offset.checked_add(4)?)?;
        let flags = read_u32(value, offset.checked_add(8)?)?;
        decode_gic_specifier(kind, number, flags)
    }

    /// `node`'s interrupts, from `interrupts-extended` or else `interrupts` (§2.4.1), decoded as
    /// GIC specifiers. Stops at the first specifier that does not go to a GIC or does not decode,
    /// so the indices of the returned prefix match the property's.
    fn interrupts(&self, node: usize) -> Vec<Interrupt> {
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

    /// The first `reg` window and first interrupt of `node`.
    fn mmio_device(&self, node: usize) -> Option<MmioDevice> {
        let registers = *self.reg(node)?.first()?;
        Some(MmioDevice {
            base: registers.base,
            size: registers.size,
            interrupt: self.interrupts(node).first().copied(),
        })
    }

    /// Fills the I/O, 32-bit and 64-bit windows from a PCI host's `ranges` (phys.hi space code
    /// in bits 25:24: 01 I/O, 10 32-bit memory, 11 64-bit memory; IEEE 1275 PCI binding).
    fn decode_pci_ranges(&self, node: usize, host: &mut PciHost) {
        let (Some(parent), Some(ranges)) = (
            self.nodes.get(node).and_then(|entry| entry.parent),
            self.property(node, "ranges"),
        ) else {
            return;
        };
        let (Some(3), Some(parent_cells), Some(size_cells)) = (
            self.address_cells(node),
            self.address_cells(parent),
            self.size_cells(node),
        ) else {
            return;
        };
        if parent_cells > 2 || size_cells > 2 {
            return;
        }
        let entry_cells = 3 + parent_cells + size_cells;
        if !ranges.len().is_multiple_of(entry_cells * 4) {
            return;
        }
        for entry in 0..ranges.len() / (entry_cells * 4) {
            let first = entry * entry_cells;
            let window = (|| {
                let high = read_u32(ranges, first * 4)?;
                let pci_address = read_cells(ranges, first + 1, 2)?;
                let parent_address = read_cells(ranges, first + 3, parent_cells)?;
                let size = read_cells(ranges, first + 3 + parent_cells, size_cells)?;
                let cpu_address = self.translate(parent, parent_address)?;
                let prefetchable = high & (1 << 30) != 0;
                Some((
                    (high >> 24) & 0b11,
                    PciWindow {
                        pci_address,
                        cpu_address,
                        size,
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
    fn decode_pci_interrupt_map(&self, node: usize, host: &mut PciHost) {
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

/// Checks the magic and returns `totalsize`, for a caller that has only a pointer to the blob
/// and must learn how many bytes to map: pass the first [`HEADER_LEN`] bytes (more is fine).
/// Errors when the magic is wrong, `totalsize` < [`HEADER_LEN`], or `totalsize` >
/// [`MAX_TOTAL_SIZE`]. Does not check `totalsize` against `header.len()`.
pub fn total_size_from_header(header: &[u8]) -> Result<usize, DtbError> {
    if header.len() < HEADER_LEN {
        return Err(DtbError::TooShort {
            length: header.len(),
        });
    }
    let magic = read_u32(header, 0).unwrap_or(0);
    if magic != FDT_MAGIC {
        return Err(DtbError::BadMagic { found: magic });
    }
    let total_size = read_u32(header, 4).unwrap_or(0);
    match usize::try_from(total_size) {
        Ok(size) if (HEADER_LEN..=MAX_TOTAL_SIZE).contains(&size) => Ok(size),
        _ => Err(DtbError::BadTotalSize {
            total_size,
            available: header.len(),
        }),
    }
}

/// Parses the memory reservation block (§5.3): 16-byte (address, size) pairs ending with an
/// all-zero pair. Zero-sized entries other than the terminator are dropped.
fn parse_reservations(block: &[u8]) -> Result<Vec<MemoryRange>, DtbError> {
    let mut reservations = Vec::new();
    let mut offset = 0;
    loop {
        let (Some(base), Some(size)) = (read_u64(block, offset), read_u64(block, offset + 8))
        else {
            return Err(DtbError::UnterminatedReservationBlock);
        };
        if base == 0 && size == 0 {
            return Ok(reservations);
        }
        if size != 0 {
            reservations.push(MemoryRange { base, size });
        }
        offset += 16;
    }
}

/// Parses the structure block into the node and property tables (§5.4), validating every
/// token, name and length. `FDT_NOP` is skipped wherever it appears.
fn parse_structure<'a>(
    structure: &'a [u8],
    strings: &'a [u8],
) -> Result<(Vec<Node<'a>>, Vec<Property<'a>>), DtbError> {
    let mut nodes: Vec<Node<'a>> = Vec::new();
    let mut properties: Vec<Property<'a>> = Vec::new();
    let mut open_nodes: Vec<usize> = Vec::new();
    let mut root_closed = false;
    let mut offset = 0usize;
    loop {
        let error = |problem| DtbError::Structure { offset, problem };
        let token = read_u32(structure, offset).ok_or(error(StructureProblem::Truncated))?;
        let after_token = offset + 4;
        match token {
            TOKEN_BEGIN_NODE => {
                if root_closed {
                    return Err(error(StructureProblem::SecondRootNode));
                }
                let rest = structure.get(after_token..).unwrap_or_default();
                let name_bytes =
                    nul_terminated(rest).ok_or(error(StructureProblem::UnterminatedNodeName))?;
                let name = core::str::from_utf8(name_bytes)
                    .map_err(|_| error(StructureProblem::NameNotUtf8))?;
                let parent = open_nodes.last().copied();
                if parent.is_none() && !name.is_empty() {
                    return Err(error(StructureProblem::RootNodeNamed));
                }
                if let Some(parent_node) = parent.and_then(|index| nodes.get_mut(index)) {
                    parent_node.has_children = true;
                }
                open_nodes.push(nodes.len());
                nodes.push(Node {
                    name,
                    parent,
                    first_property: properties.len(),
                    property_count: 0,
                    has_children: false,
                });
                offset = align4(after_token + name_bytes.len() + 1)
                    .ok_or(error(StructureProblem::Truncated))?;
            }
            TOKEN_END_NODE => {
                open_nodes
                    .pop()
                    .ok_or(error(StructureProblem::UnbalancedEndNode))?;
                root_closed = open_nodes.is_empty();
                offset = after_token;
            }
            TOKEN_PROPERTY => {
                let node_index = *open_nodes
                    .last()
                    .ok_or(error(StructureProblem::PropertyOutsideNode))?;
                let length = read_u32(structure, after_token)
                    .and_then(|length| usize::try_from(length).ok())
                    .ok_or(error(StructureProblem::Truncated))?;
                let name_offset = read_u32(structure, after_token + 4)
                    .and_then(|name_offset| usize::try_from(name_offset).ok())
                    .ok_or(error(StructureProblem::Truncated))?;
                let value_start = after_token + 8;
                let value = value_start
                    .checked_add(length)
                    .and_then(|value_end| structure.get(value_start..value_end))
                    .ok_or(error(StructureProblem::PropertyValueOutOfBounds))?;
                let name_bytes = strings
                    .get(name_offset..)
                    .and_then(nul_terminated)
                    .ok_or(error(StructureProblem::PropertyNameOutOfBounds))?;
                let name = core::str::from_utf8(name_bytes)
                    .map_err(|_| error(StructureProblem::NameNotUtf8))?;
                let node = nodes
                    .get_mut(node_index)
                    .ok_or(error(StructureProblem::PropertyOutsideNode))?;
                if node.has_children {
                    return Err(error(StructureProblem::PropertyAfterChildNode));
                }
                node.property_count += 1;
                properties.push(Property { name, value });
                offset = align4(value_start + length).ok_or(error(StructureProblem::Truncated))?;
            }
            TOKEN_NOP => offset = after_token,
            TOKEN_END => {
                if !root_closed {
                    return Err(error(StructureProblem::EndBeforeRootClosed));
                }
                return Ok((nodes, properties));
            }
            other => return Err(error(StructureProblem::UnknownToken(other))),
        }
    }
}
