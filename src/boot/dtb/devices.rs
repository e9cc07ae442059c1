//! The per-device queries the kernel makes at boot (memory, console, GIC, timer, PSCI, virtio,
//! GENET, bootargs), and the board policy among them: which UART a Raspberry Pi 4 uses
//! (docs/bcm2711.md §3).

use alloc::vec::Vec;

use super::interrupts::{GIC_V2_COMPATIBLES, GIC_V3_COMPATIBLE};
use super::{DeviceTree, Interrupt, MemoryRange, read_u32, single_string, string_list};
use crate::boot::mac;

/// Compatible string of the Raspberry Pi 4's GENET v5 Ethernet MAC (Linux
/// `bindings/net/brcm,bcmgenet.yaml`).
const GENET_V5_COMPATIBLE: &str = "brcm,bcm2711-genet-v5";

/// Bus address of the Pi 4's first PL011 (UART0) before `/soc` `ranges` translation (DTB
/// `/soc/serial@7e201000`; `docs/bcm2711.md` §3: use it whatever `stdout-path` says).
const BCM2711_UART0_BUS_ADDRESS: u64 = 0x7E20_1000;

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

impl<'a> DeviceTree<'a> {
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
        let candidates = super::compatible_bits(GIC_V3_COMPATIBLE.as_bytes())
            | GIC_V2_COMPATIBLES.iter().fold(0, |bits, compatible| {
                bits | super::compatible_bits(compatible.as_bytes())
            });
        (0..self.nodes.len())
            .filter(|&node| {
                self.nodes
                    .get(node)
                    .is_some_and(|entry| entry.compatible_bits & candidates != 0)
            })
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
        crate::sorting::sort_by_key(&mut devices, |device| device.base);
        devices
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

    /// The node `/chosen/stdout-path` names, through `/aliases` if it is an alias; the
    /// `:options` suffix is ignored (Devicetree Specification v0.4 §3.6).
    pub(super) fn stdout_node(&self) -> Option<usize> {
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

    /// The first `reg` window and first interrupt of `node`.
    pub(super) fn mmio_device(&self, node: usize) -> Option<MmioDevice> {
        let registers = *self.reg(node)?.first()?;
        Some(MmioDevice {
            base: registers.base,
            size: registers.size,
            interrupt: self.interrupts(node).first().copied(),
        })
    }
}
