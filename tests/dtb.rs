//! DTB queries checked against real device trees (`tests/fixtures/README.md` says how each was made).
#![allow(clippy::unwrap_used)]

use bareserve::boot::dtb::{
    DeviceTree, DmaRange, DtbBlock, DtbError, GenetDescription, GenetPresence, GicDescription,
    Interrupt, MemoryRange, MmioDevice, PciWindow, PsciMethod, StructureProblem, TimerInterrupts,
    Trigger, compacted_copy, total_size_from_header,
};
use proptest::prelude::*;

const VIRT_GICV2: &[u8] = include_bytes!("fixtures/qemu-virt-gicv2.dtb");
const VIRT_GICV3: &[u8] = include_bytes!("fixtures/qemu-virt-gicv3.dtb");
const VIRT_PCI_BOOTARGS: &[u8] = include_bytes!("fixtures/qemu-virt-pci-bootargs.dtb");
const RPI4_DEBIAN: &[u8] = include_bytes!("fixtures/rpi4b-debian-6.1.0-50.dtb");
const RPI4_FIRMWARE: &[u8] = include_bytes!("fixtures/rpi4b-firmware-patched.dtb");
const RPI4_GENET_DISABLED: &[u8] = include_bytes!("fixtures/rpi4b-genet-disabled.dtb");
const RPI4_QEMU: &[u8] = include_bytes!("fixtures/rpi4b-qemu-raspi4b.dtb");
const EDGE_CASES: &[u8] = include_bytes!("fixtures/edge-cases.dtb");

const ALL_FIXTURES: [(&str, &[u8]); 8] = [
    ("qemu-virt-gicv2", VIRT_GICV2),
    ("qemu-virt-gicv3", VIRT_GICV3),
    ("qemu-virt-pci-bootargs", VIRT_PCI_BOOTARGS),
    ("rpi4b-debian", RPI4_DEBIAN),
    ("rpi4b-firmware", RPI4_FIRMWARE),
    ("rpi4b-genet-disabled", RPI4_GENET_DISABLED),
    ("rpi4b-qemu", RPI4_QEMU),
    ("edge-cases", EDGE_CASES),
];

fn tree(blob: &[u8]) -> DeviceTree<'_> {
    DeviceTree::from_bytes(blob).unwrap()
}

fn range(base: u64, size: u64) -> MemoryRange {
    MemoryRange { base, size }
}

fn level(intid: u32) -> Option<Interrupt> {
    Some(Interrupt {
        intid,
        trigger: Trigger::Level,
    })
}

const MIB: u64 = 1024 * 1024;

// ---- whole-tree facts --------------------------------------------------------------------

#[test]
fn every_fixture_parses_with_its_total_size() {
    let expected_sizes = [7574, 7628, 7623, 27386, 27697, 27390, 27491, 2296];
    for ((name, blob), expected) in ALL_FIXTURES.iter().zip(expected_sizes) {
        let parsed = DeviceTree::from_bytes(blob).unwrap_or_else(|error| panic!("{name}: {error}"));
        assert_eq!(parsed.blob_size(), expected, "{name}");
        assert_eq!(total_size_from_header(blob), Ok(expected), "{name}");
    }
}

#[test]
fn a_blob_followed_by_other_bytes_uses_only_totalsize() {
    let mut padded = VIRT_GICV2.to_vec();
    padded.extend_from_slice(&[0xAB; 4096]);
    let parsed = tree(&padded);
    assert_eq!(parsed.blob_size(), VIRT_GICV2.len());
    assert_eq!(parsed.memory_regions(), vec![range(0x4000_0000, 128 * MIB)]);
}

#[test]
fn root_compatible_and_model() {
    let cases: [(&[u8], &str, Option<&str>); 4] = [
        (VIRT_GICV2, "linux,dummy-virt", Some("linux,dummy-virt")),
        (VIRT_GICV3, "linux,dummy-virt", Some("linux,dummy-virt")),
        (
            RPI4_DEBIAN,
            "raspberrypi,4-model-b",
            Some("Raspberry Pi 4 Model B"),
        ),
        (
            RPI4_QEMU,
            "raspberrypi,4-model-b",
            Some("Raspberry Pi 4 Model B"),
        ),
    ];
    for (blob, compatible, model) in cases {
        let parsed = tree(blob);
        assert_eq!(parsed.root_compatible(), Some(compatible));
        assert_eq!(parsed.model(), model);
    }
    assert!(tree(RPI4_DEBIAN).root_is_compatible_with("brcm,bcm2711"));
    assert!(!tree(VIRT_GICV2).root_is_compatible_with("brcm,bcm2711"));
}

#[test]
fn memory_regions() {
    let cases: [(&str, &[u8], Vec<MemoryRange>); 7] = [
        ("virt 128M", VIRT_GICV2, vec![range(0x4000_0000, 128 * MIB)]),
        (
            "virt gicv3 128M",
            VIRT_GICV3,
            vec![range(0x4000_0000, 128 * MIB)],
        ),
        (
            "virt 256M",
            VIRT_PCI_BOOTARGS,
            vec![range(0x4000_0000, 256 * MIB)],
        ),
        // The file has `reg = <0 0 0>`: the firmware fills it in.
        ("rpi4 debian", RPI4_DEBIAN, vec![]),
        (
            "rpi4 firmware",
            RPI4_FIRMWARE,
            vec![range(0, 0x3B40_0000), range(0x4000_0000, 0x4000_0000)],
        ),
        ("rpi4 genet disabled", RPI4_GENET_DISABLED, vec![]),
        ("rpi4 qemu", RPI4_QEMU, vec![range(0, 0x3C00_0000)]),
    ];
    for (name, blob, expected) in cases {
        assert_eq!(tree(blob).memory_regions(), expected, "{name}");
    }
}

#[test]
fn reserved_regions() {
    assert_eq!(tree(VIRT_GICV2).reserved_regions(), vec![]);
    // /memreserve/ 0x0 0x1000 (armstub and spin table); linux,cma has only a size; nvram@0 is
    // disabled with an empty reg.
    assert_eq!(tree(RPI4_DEBIAN).reserved_regions(), vec![range(0, 0x1000)]);
    assert_eq!(tree(RPI4_QEMU).reserved_regions(), vec![range(0, 0x1000)]);
    assert_eq!(
        tree(RPI4_FIRMWARE).reserved_regions(),
        vec![range(0, 0x1000), range(0x3B3F_E000, 0x2000)]
    );
}

#[test]
fn bootargs() {
    let cases: [(&[u8], Option<&str>); 5] = [
        (VIRT_GICV2, None),
        (VIRT_PCI_BOOTARGS, Some("log=debug ip=10.0.2.15/24")),
        (RPI4_DEBIAN, None),
        (RPI4_QEMU, Some("log=trace port=8080")),
        (
            RPI4_FIRMWARE,
            Some(
                "coherent_pool=1M 8250.nr_uarts=1 snd_bcm2835.enable_headphones=0 \
                 snd_bcm2835.enable_hdmi=1 smsc95xx.macaddr=DC:A6:32:01:02:03 \
                 vc_mem.mem_base=0x3ec00000 vc_mem.mem_size=0x40000000  console=ttyAMA0,115200 \
                 log=debug ip=192.0.2.50/24 gw=192.0.2.1",
            ),
        ),
    ];
    for (blob, expected) in cases {
        assert_eq!(tree(blob).bootargs(), expected);
    }
}

// ---- devices -----------------------------------------------------------------------------

#[test]
fn pl011_uart() {
    let virt = MmioDevice {
        base: 0x0900_0000,
        size: 0x1000,
        interrupt: level(33),
    };
    // Pi 4: bus 0x7E20_1000 through /soc ranges → 0xFE20_1000; SPI 121 → INTID 153. Chosen
    // although stdout-path names serial1 (the mini UART).
    let rpi4 = MmioDevice {
        base: 0xFE20_1000,
        size: 0x200,
        interrupt: level(153),
    };
    for (name, blob) in ALL_FIXTURES {
        let expected = match name {
            name if name.starts_with("qemu") => virt,
            name if name.starts_with("rpi4b") => rpi4,
            _ => continue, // edge-cases has its own test
        };
        assert_eq!(tree(blob).pl011_uart(), Some(expected), "{name}");
    }
}

#[test]
fn pl031_rtc() {
    let expected = MmioDevice {
        base: 0x0901_0000,
        size: 0x1000,
        interrupt: level(34),
    };
    assert_eq!(tree(VIRT_GICV2).pl031_rtc(), Some(expected));
    assert_eq!(tree(RPI4_DEBIAN).pl031_rtc(), None);
}

#[test]
fn gic() {
    let virt_v2 = GicDescription::V2 {
        distributor: range(0x0800_0000, 0x1_0000),
        cpu_interface: range(0x0801_0000, 0x1_0000),
    };
    let virt_v3 = GicDescription::V3 {
        distributor: range(0x0800_0000, 0x1_0000),
        redistributor_regions: vec![range(0x080A_0000, 0xF6_0000)],
    };
    // GIC-400 at /soc bus 0x4004_1000 → ARM-local block 0xFF80_0000 + 0x4_1000.
    let rpi4 = GicDescription::V2 {
        distributor: range(0xFF84_1000, 0x1000),
        cpu_interface: range(0xFF84_2000, 0x2000),
    };
    assert_eq!(tree(VIRT_GICV2).gic(), Some(virt_v2.clone()));
    assert_eq!(tree(VIRT_PCI_BOOTARGS).gic(), Some(virt_v2));
    assert_eq!(tree(VIRT_GICV3).gic(), Some(virt_v3));
    for blob in [RPI4_DEBIAN, RPI4_FIRMWARE, RPI4_GENET_DISABLED, RPI4_QEMU] {
        assert_eq!(tree(blob).gic(), Some(rpi4.clone()));
    }
}

#[test]
fn timer_interrupts_are_the_same_ppis_on_both_boards() {
    let expected = TimerInterrupts {
        secure_physical_intid: 29,
        non_secure_physical_intid: 30,
        virtual_intid: 27,
        hypervisor_physical_intid: 26,
    };
    for (name, blob) in ALL_FIXTURES {
        assert_eq!(tree(blob).timer_interrupts(), Some(expected), "{name}");
    }
}

#[test]
fn psci_method() {
    assert_eq!(tree(VIRT_GICV2).psci_method(), Some(PsciMethod::Hvc));
    assert_eq!(tree(VIRT_GICV3).psci_method(), Some(PsciMethod::Hvc));
    assert_eq!(tree(RPI4_DEBIAN).psci_method(), None);
    assert_eq!(tree(RPI4_QEMU).psci_method(), None);
}

#[test]
fn virtio_mmio_devices_on_virt() {
    for blob in [VIRT_GICV2, VIRT_GICV3, VIRT_PCI_BOOTARGS] {
        let devices = tree(blob).virtio_mmio_devices();
        let expected: Vec<MmioDevice> = (0..32u32)
            .map(|index| MmioDevice {
                base: 0x0A00_0000 + 0x200 * u64::from(index),
                size: 0x200,
                // SPI 16 + i, edge-triggered (flags 1).
                interrupt: Some(Interrupt {
                    intid: 48 + index,
                    trigger: Trigger::Edge,
                }),
            })
            .collect();
        assert_eq!(devices, expected);
    }
    assert_eq!(tree(RPI4_DEBIAN).virtio_mmio_devices(), vec![]);
}

#[test]
fn pci_host_on_virt() {
    let host = tree(VIRT_PCI_BOOTARGS).pci_host().unwrap();
    // highmem ECAM: reg <0x40 0x10000000 0x0 0x10000000>, 256 buses.
    assert_eq!(host.ecam, range(0x40_1000_0000, 0x1000_0000));
    assert_eq!((host.bus_start, host.bus_end), (0, 255));
    let window = |pci_address, cpu_address, size| PciWindow {
        pci_address,
        cpu_address,
        size,
        prefetchable: false,
    };
    assert_eq!(host.io_window, Some(window(0, 0x3EFF_0000, 0x1_0000)));
    assert_eq!(
        host.mmio32_window,
        Some(window(0x1000_0000, 0x1000_0000, 0x2EFF_0000))
    );
    assert_eq!(
        host.mmio64_window,
        Some(window(0x80_0000_0000, 0x80_0000_0000, 0x80_0000_0000))
    );
    assert_eq!(host.interrupt_map_mask, [0x1800, 0, 0, 7]);
    assert_eq!(host.interrupt_map.len(), 16);
    // QEMU virt swizzle: SPI 3 + (device + pin - 1) % 4, INTID 32 + SPI, level.
    for device in 0..8u8 {
        for pin in 1..=4u8 {
            let spi = 3 + (u32::from(device) + u32::from(pin) - 1) % 4;
            assert_eq!(
                host.interrupt_for(device, pin),
                level(32 + spi),
                "{device} {pin}"
            );
        }
    }
    assert_eq!(host.interrupt_for(0, 0), None);
    assert_eq!(host.interrupt_for(0, 5), None);
    assert_eq!(
        tree(VIRT_GICV2).pci_host().map(|host| host.ecam),
        Some(host.ecam)
    );
    assert_eq!(tree(RPI4_DEBIAN).pci_host(), None);
}

#[test]
fn genet() {
    let base = GenetDescription {
        base: 0xFD58_0000,
        size: 0x1_0000,
        intids: [189, 190],
        mac: None,
        phy_address: Some(1),
        phy_mode: Some("rgmii-rxid"),
    };
    assert_eq!(tree(RPI4_DEBIAN).genet(), GenetPresence::Present(base));
    assert_eq!(
        tree(RPI4_FIRMWARE).genet(),
        GenetPresence::Present(GenetDescription {
            mac: Some([0xDC, 0xA6, 0x32, 0x01, 0x02, 0x03]),
            ..base
        })
    );
    assert_eq!(
        tree(RPI4_GENET_DISABLED).genet(),
        GenetPresence::Disabled { status: "disabled" }
    );
    assert_eq!(tree(RPI4_QEMU).genet(), GenetPresence::Absent);
    assert_eq!(tree(VIRT_GICV2).genet(), GenetPresence::Absent);
}

#[test]
fn dma_ranges() {
    // /soc dma-ranges <0xc0000000 0x0 0x0 0x40000000>: legacy masters see RAM at 0xC000_0000.
    let soc = DmaRange {
        bus_address: 0xC000_0000,
        cpu_address: 0,
        size: 0x4000_0000,
    };
    let parsed = tree(RPI4_DEBIAN);
    assert_eq!(parsed.dma_ranges("brcm,bcm2835-mbox"), Some(vec![soc]));
    assert_eq!(parsed.dma_ranges("brcm,bcm2711-emmc2"), Some(vec![soc]));
    // /scb has none: GENET uses CPU physical addresses.
    assert_eq!(parsed.dma_ranges("brcm,bcm2711-genet-v5"), Some(vec![]));
    assert_eq!(parsed.dma_ranges("no,such-device"), None);
    assert_eq!(tree(VIRT_GICV2).dma_ranges("arm,pl011"), Some(vec![]));
    assert_eq!(soc.bus_address_of(0x1000), Some(0xC000_1000));
    assert_eq!(soc.bus_address_of(0x3FFF_FFFF), Some(0xFFFF_FFFF));
    assert_eq!(soc.bus_address_of(0x4000_0000), None);
}

// ---- edge cases (tests/fixtures/edge-cases.dts) ----------------------------------------------

#[test]
fn edge_cases_whole_tree() {
    let parsed = tree(EDGE_CASES);
    assert_eq!(parsed.root_compatible(), Some("bareserve,edge-cases"));
    assert_eq!(parsed.bootargs(), Some("port=8080"));
    assert_eq!(parsed.psci_method(), Some(PsciMethod::Smc));
    // Two entries with 2-cell sizes; the disabled memory node is skipped.
    assert_eq!(
        parsed.memory_regions(),
        vec![
            range(0x8000_0000, 0x4000_0000),
            range(0x8_0000_0000, 0x1_0000_0000)
        ]
    );
    // /memreserve/, then the reserved-memory child whose status is the legacy "ok".
    assert_eq!(
        parsed.reserved_regions(),
        vec![range(0x8000_0000, 0x1_0000), range(0x9000_0000, 0x20_0000)]
    );
    assert_eq!(parsed.pci_host(), None);
    assert_eq!(parsed.model(), None);
}

#[test]
fn edge_cases_gic_v3_with_two_redistributor_regions_and_a_legacy_phandle() {
    let parsed = tree(EDGE_CASES);
    assert_eq!(
        parsed.gic(),
        Some(GicDescription::V3 {
            distributor: range(0x100_0000, 0x1_0000),
            redistributor_regions: vec![range(0x110_0000, 0x10_0000), range(0x130_0000, 0x10_0000)],
        })
    );
    // Five timer interrupts: the first four are used. The root's interrupt-parent names the GIC
    // by its `linux,phandle`.
    assert_eq!(
        parsed.timer_interrupts(),
        Some(TimerInterrupts {
            secure_physical_intid: 29,
            non_secure_physical_intid: 30,
            virtual_intid: 27,
            hypervisor_physical_intid: 26,
        })
    );
}

#[test]
fn edge_cases_two_level_ranges_and_stdout_path() {
    let parsed = tree(EDGE_CASES);
    // stdout-path (with options) names uart@3000, the third PL011; uart@1000 is disabled.
    // 0x3000 → inner ranges (0x1000 → 0x10_0000) → 0x10_2000 → outer ranges (0 → 0x40_0000_0000).
    // Its interrupt `<2 7 4>` is a GICv3.1 extended SPI, INTID 4096 + 7, through the
    // interrupt-parent inherited from the root.
    assert_eq!(
        parsed.pl011_uart(),
        Some(MmioDevice {
            base: 0x40_0010_2000,
            size: 0x1000,
            interrupt: Some(Interrupt {
                intid: 4103,
                trigger: Trigger::Level
            }),
        })
    );
    // rtc@20000 lies outside the inner bus's ranges: untranslatable, so not reported.
    assert_eq!(parsed.pl031_rtc(), None);
    // The virtio node under a bus without `ranges` is not memory-mapped; the other one's
    // interrupt goes to a controller that is not a GIC.
    assert_eq!(
        parsed.virtio_mmio_devices(),
        vec![MmioDevice {
            base: 0xA00_0000,
            size: 0x200,
            interrupt: None
        }]
    );
    // The bus with dma-ranges is not a child of the root: not supported, so None.
    assert_eq!(parsed.dma_ranges("arm,pl011"), None);
}

#[test]
fn edge_cases_genet_with_interrupts_extended_and_unusable_macs() {
    // mac-address is multicast and local-mac-address all-zero: neither is used.
    assert_eq!(
        tree(EDGE_CASES).genet(),
        GenetPresence::Present(GenetDescription {
            base: 0x500_0000,
            size: 0x1_0000,
            intids: [33, 34],
            mac: None,
            phy_address: None,
            phy_mode: None,
        })
    );
}

// ---- malformed blobs ----------------------------------------------------------------------

fn with_word(blob: &[u8], offset: usize, value: u32) -> Vec<u8> {
    let mut copy = blob.to_vec();
    copy[offset..offset + 4].copy_from_slice(&value.to_be_bytes());
    copy
}

fn header_word(blob: &[u8], index: usize) -> u32 {
    u32::from_be_bytes(blob[index * 4..index * 4 + 4].try_into().unwrap())
}

#[test]
fn malformed_headers_are_typed_errors() {
    let blob = VIRT_GICV2;
    let total = u32::try_from(blob.len()).unwrap();
    let cases: [(&str, Vec<u8>, DtbError); 9] = [
        ("empty", vec![], DtbError::TooShort { length: 0 }),
        (
            "39 bytes",
            blob[..39].to_vec(),
            DtbError::TooShort { length: 39 },
        ),
        (
            "bad magic",
            with_word(blob, 0, 0xEDFE_0DD0),
            DtbError::BadMagic { found: 0xEDFE_0DD0 },
        ),
        (
            "truncated",
            blob[..1000].to_vec(),
            DtbError::BadTotalSize {
                total_size: total,
                available: 1000,
            },
        ),
        (
            "totalsize below header",
            with_word(blob, 4, 39),
            DtbError::BadTotalSize {
                total_size: 39,
                available: blob.len(),
            },
        ),
        (
            "totalsize over 2 MiB",
            with_word(blob, 4, 3 << 20),
            DtbError::BadTotalSize {
                total_size: 3 << 20,
                available: blob.len(),
            },
        ),
        (
            "version 16",
            with_word(blob, 20, 16),
            DtbError::UnsupportedVersion {
                version: 16,
                last_compatible_version: 16,
            },
        ),
        (
            "structure past end",
            with_word(blob, 36, total),
            DtbError::BlockOutOfBounds {
                block: DtbBlock::Structure,
            },
        ),
        (
            "strings past end",
            with_word(blob, 12, total - 1),
            DtbError::BlockOutOfBounds {
                block: DtbBlock::Strings,
            },
        ),
    ];
    for (name, bytes, expected) in cases {
        assert_eq!(
            DeviceTree::from_bytes(&bytes).err(),
            Some(expected),
            "{name}"
        );
    }
}

#[test]
fn malformed_structure_is_a_typed_error() {
    let blob = VIRT_GICV2;
    let structure_offset = usize::try_from(header_word(blob, 2)).unwrap();
    // The root FDT_BEGIN_NODE becomes an unknown token 7.
    assert_eq!(
        DeviceTree::from_bytes(&with_word(blob, structure_offset, 7)).err(),
        Some(DtbError::Structure {
            offset: 0,
            problem: StructureProblem::UnknownToken(7)
        })
    );
    // Root: FDT_BEGIN_NODE at 0, empty name padded to 4 bytes, first FDT_PROP at 8 with its
    // length at 12 and name offset at 16.
    // The root's first property gets a length reaching past the block.
    assert_eq!(
        DeviceTree::from_bytes(&with_word(blob, structure_offset + 12, 0x00FF_FFFF)).err(),
        Some(DtbError::Structure {
            offset: 8,
            problem: StructureProblem::PropertyValueOutOfBounds
        })
    );
    // The root's first property gets a name offset past the strings block.
    assert_eq!(
        DeviceTree::from_bytes(&with_word(blob, structure_offset + 16, 0x00FF_FFFF)).err(),
        Some(DtbError::Structure {
            offset: 8,
            problem: StructureProblem::PropertyNameOutOfBounds
        })
    );
    // Cutting the structure block short (size_dt_struct − 8) loses the FDT_END.
    let structure_size = header_word(blob, 9);
    assert!(matches!(
        DeviceTree::from_bytes(&with_word(blob, 36, structure_size - 8)).err(),
        Some(DtbError::Structure {
            problem: StructureProblem::Truncated,
            ..
        })
    ));
    // The memory reservation block moved to the very end: no terminator fits.
    let total = u32::try_from(blob.len()).unwrap();
    assert_eq!(
        DeviceTree::from_bytes(&with_word(blob, 16, total - 8)).err(),
        Some(DtbError::UnterminatedReservationBlock)
    );
}

#[test]
fn nop_tokens_from_qemu_node_deletion_are_skipped() {
    // QEMU raspi4b deletes GENET/PCIe/RNG/thermal with fdt_nop_node(); everything else must
    // still be found, including nodes after the NOPs inside /scb and /soc.
    let parsed = tree(RPI4_QEMU);
    assert_eq!(parsed.genet(), GenetPresence::Absent);
    assert!(parsed.gic().is_some());
    assert!(parsed.pl011_uart().is_some());
}

#[test]
fn random_bytes_with_a_valid_magic_are_rejected_without_panic() {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    for length in [40usize, 64, 100, 1000, 7574] {
        for _ in 0..50 {
            let mut bytes: Vec<u8> = (0..length)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state.to_le_bytes()[0]
                })
                .collect();
            bytes[..4].copy_from_slice(&0xD00D_FEEDu32.to_be_bytes());
            assert!(DeviceTree::from_bytes(&bytes).is_err());
        }
    }
}

/// Runs every query, so a mutation that parses is also exercised end to end.
fn run_every_query(parsed: &DeviceTree<'_>) {
    let _ = parsed.root_compatible();
    let _ = parsed.model();
    let _ = parsed.memory_regions();
    let _ = parsed.reserved_regions();
    let _ = parsed.bootargs();
    let _ = parsed.pl011_uart();
    let _ = parsed.pl031_rtc();
    let _ = parsed.gic();
    let _ = parsed.timer_interrupts();
    let _ = parsed.psci_method();
    let _ = parsed.virtio_mmio_devices();
    if let Some(host) = parsed.pci_host() {
        let _ = host.interrupt_for(1, 1);
    }
    let _ = parsed.genet();
    let _ = parsed.dma_ranges("brcm,bcm2835-mbox");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    /// Flipping bytes anywhere in a real DTB gives an error or a tree whose queries all return;
    /// never a panic.
    #[test]
    fn mutated_fixtures_never_panic(
        fixture in 0usize..ALL_FIXTURES.len(),
        mutations in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
    ) {
        let mut bytes = ALL_FIXTURES[fixture].1.to_vec();
        for (position, value) in mutations {
            let index = position % bytes.len();
            bytes[index] = value;
        }
        if let Ok(parsed) = DeviceTree::from_bytes(&bytes) {
            run_every_query(&parsed);
        }
    }

    /// Any prefix of a real DTB is rejected (its totalsize no longer fits) without panic.
    #[test]
    fn truncated_fixtures_are_errors(fixture in 0usize..ALL_FIXTURES.len(), cut in any::<usize>()) {
        let blob = ALL_FIXTURES[fixture].1;
        let length = cut % blob.len();
        prop_assert!(DeviceTree::from_bytes(&blob[..length]).is_err());
    }
}

/// The kernel copies the device tree out of the middle of RAM before the heap is set up; the
/// copy keeps only the used bytes (QEMU's `totalsize` says 1 MiB) and reads the same.
#[test]
fn a_compacted_copy_reads_like_the_original() {
    for (name, blob) in [
        ("virt", VIRT_GICV2),
        ("virt-pci", VIRT_PCI_BOOTARGS),
        ("rpi4", RPI4_DEBIAN),
        ("rpi4-firmware", RPI4_FIRMWARE),
    ] {
        let copy = compacted_copy(blob).unwrap_or_else(|| panic!("{name}"));
        assert!(copy.len() <= blob.len(), "{name}");
        assert_eq!(total_size_from_header(&copy).unwrap(), copy.len(), "{name}");
        let (original, copied) = (tree(blob), tree(&copy));
        assert_eq!(original.memory_regions(), copied.memory_regions(), "{name}");
        assert_eq!(
            original.reserved_regions(),
            copied.reserved_regions(),
            "{name}"
        );
        assert_eq!(original.bootargs(), copied.bootargs(), "{name}");
        assert_eq!(original.gic(), copied.gic(), "{name}");
    }
    // As QEMU passes it: the same tree with `totalsize` 1 MiB, the rest free space.
    let mut padded = VIRT_GICV2.to_vec();
    padded.resize(1024 * 1024, 0);
    padded[4..8].copy_from_slice(&(1024u32 * 1024).to_be_bytes());
    let copy = compacted_copy(&padded).unwrap();
    assert_eq!(copy.len(), VIRT_GICV2.len());
    assert_eq!(
        tree(&copy).memory_regions(),
        tree(VIRT_GICV2).memory_regions()
    );
    // Headers whose blocks lie outside the blob are refused, not trusted.
    let mut broken = VIRT_GICV2.to_vec();
    broken[36..40].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(compacted_copy(&broken).is_none());
    assert!(compacted_copy(&VIRT_GICV2[..20]).is_none());
}
