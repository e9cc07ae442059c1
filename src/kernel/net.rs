//! Network devices: probing virtio-net (virtio-mmio or PCIe) and GENET, and the one card type
//! the main loop drives ([`Nic`]). The drivers in `crate::drivers` do not import this module.

use core::ptr::NonNull;

use alloc::string::String;

use bareserve::boot::dtb::{DeviceTree, GenetPresence};
use bareserve::boot::pci_bars::BarAllocator;
use bareserve::nic::NetworkCardControl;
use bareserve::nic::virtio::{VirtioRxToken, VirtioTxToken};
use smoltcp::phy::{self, DeviceCapabilities};
use smoltcp::time::Instant;
use virtio_drivers::transport::mmio::{MmioTransport, VirtIOHeader};
use virtio_drivers::transport::pci::PciTransport;
use virtio_drivers::transport::pci::bus::{
    BarInfo, Cam, Command, ConfigurationAccess, DeviceFunction, MemoryBarType, MmioCam, PciRoot,
};
use virtio_drivers::transport::{DeviceType, SomeTransport, Transport};

use crate::drivers::genet::GenetCard;
use crate::drivers::gic::Gic;
use crate::drivers::virtio_hal::VirtioHal;
use crate::drivers::virtio_net::{self, NicTransport, RawQueues, VirtioNic};

/// The network card found, with the interrupt it raises.
///
/// The one dispatch mechanism for cards: this enum, matched in its `phy::Device` and
/// [`NetworkCardControl`] impls, so that smoltcp, the server and the control path are compiled
/// once rather than once per card type (the image stays small; the match per frame costs nothing
/// measurable). Each driver knows only its own card type and the library's trait.
pub enum Nic {
    /// virtio-net, on virtio-mmio or PCIe.
    Virtio {
        /// The device (boxed: its token maps make it far larger than the other variant).
        card: alloc::boxed::Box<VirtioNic<NicTransport>>,
        /// Its interrupt (INTID).
        intid: u32,
    },
    /// The Raspberry Pi 4's GENET.
    Genet {
        /// The device.
        card: GenetCard,
        /// Its interrupts (INTIDs).
        intids: [u32; 2],
    },
}

type GenetDevice = bareserve::nic::genet::Genet<
    crate::drivers::genet::GenetRegisters,
    crate::drivers::genet::DmaPool,
    crate::drivers::genet::GenericTimerClock,
>;

/// A received frame from whichever card.
pub enum NicRxToken<'a> {
    /// From virtio-net (either transport).
    Virtio(VirtioRxToken<'a>),
    /// From GENET.
    Genet(<GenetDevice as phy::Device>::RxToken<'a>),
}

/// Permission to send one frame on whichever card.
pub enum NicTxToken<'a> {
    /// virtio-net.
    Virtio(VirtioTxToken<'a, RawQueues<NicTransport>>),
    /// GENET.
    Genet(<GenetDevice as phy::Device>::TxToken<'a>),
}

impl phy::RxToken for NicRxToken<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, consumer: F) -> R {
        match self {
            NicRxToken::Virtio(token) => token.consume(consumer),
            NicRxToken::Genet(token) => token.consume(consumer),
        }
    }
}

impl phy::TxToken for NicTxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, length: usize, producer: F) -> R {
        match self {
            NicTxToken::Virtio(token) => token.consume(length, producer),
            NicTxToken::Genet(token) => token.consume(length, producer),
        }
    }
}

/// One `phy::Device` for every card (see [`Nic`]).
impl phy::Device for Nic {
    type RxToken<'a>
        = NicRxToken<'a>
    where
        Self: 'a;
    type TxToken<'a>
        = NicTxToken<'a>
    where
        Self: 'a;

    fn receive(&mut self, timestamp: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        match self {
            Nic::Virtio { card, .. } => card
                .receive(timestamp)
                .map(|(rx, tx)| (NicRxToken::Virtio(rx), NicTxToken::Virtio(tx))),
            Nic::Genet { card, .. } => card
                .driver
                .receive(timestamp)
                .map(|(rx, tx)| (NicRxToken::Genet(rx), NicTxToken::Genet(tx))),
        }
    }

    fn transmit(&mut self, timestamp: Instant) -> Option<Self::TxToken<'_>> {
        match self {
            Nic::Virtio { card, .. } => card.transmit(timestamp).map(NicTxToken::Virtio),
            Nic::Genet { card, .. } => card.driver.transmit(timestamp).map(NicTxToken::Genet),
        }
    }

    fn capabilities(&self) -> DeviceCapabilities {
        match self {
            Nic::Virtio { card, .. } => card.capabilities(),
            Nic::Genet { card, .. } => card.driver.capabilities(),
        }
    }
}

/// The main loop's interface to whichever card (see [`Nic`]).
impl NetworkCardControl for Nic {
    fn mac_address(&self) -> [u8; 6] {
        match self {
            Nic::Virtio { card, .. } => card.mac_address(),
            Nic::Genet { card, .. } => card.mac_address(),
        }
    }

    fn acknowledge_interrupt(&mut self) {
        match self {
            Nic::Virtio { card, .. } => card.acknowledge_interrupt(),
            Nic::Genet { card, .. } => card.acknowledge_interrupt(),
        }
    }

    fn housekeeping(&mut self, now_us: u64) -> Option<u64> {
        match self {
            Nic::Virtio { card, .. } => card.housekeeping(now_us),
            Nic::Genet { card, .. } => card.housekeeping(now_us),
        }
    }

    fn link_up(&self) -> bool {
        match self {
            Nic::Virtio { card, .. } => card.link_up(),
            Nic::Genet { card, .. } => card.link_up(),
        }
    }

    fn describe_statistics(&self) -> String {
        match self {
            Nic::Virtio { card, .. } => card.describe_statistics(),
            Nic::Genet { card, .. } => card.describe_statistics(),
        }
    }
}

impl Nic {
    /// The INTIDs the card raises.
    pub fn interrupt_ids(&self) -> &[u32] {
        match self {
            Nic::Virtio { intid, .. } => core::slice::from_ref(intid),
            Nic::Genet { intids, .. } => intids,
        }
    }
}

/// Finds the network card the device tree describes — virtio-net on virtio-mmio, on PCIe, or the
/// Pi 4's GENET — brings it up and enables its interrupt. Says on the console why when there is
/// none.
pub fn probe(device_tree: &DeviceTree<'_>, gic: &mut Gic) -> Option<Nic> {
    if let Some(nic) = probe_virtio_mmio(device_tree, gic) {
        return Some(nic);
    }
    if let Some(nic) = probe_virtio_pci(device_tree, gic) {
        return Some(nic);
    }
    match device_tree.genet() {
        GenetPresence::Present(description) => crate::drivers::genet::probe(&description, gic)
            .map(|(card, intids)| Nic::Genet { card, intids }),
        GenetPresence::Absent => {
            log::warn!(
                "no network card: no virtio-net, and GENET is absent from the device tree (stock QEMU raspi4b removes it)"
            );
            None
        }
        GenetPresence::Disabled { status } => {
            log::warn!(
                "no network card: no virtio-net, and GENET is disabled in the device tree (status \"{status}\")"
            );
            None
        }
        GenetPresence::Malformed => {
            log::error!(
                "no network card: no virtio-net, and the device tree's GENET node cannot be decoded"
            );
            None
        }
    }
}

/// Looks for virtio-net on virtio-mmio.
fn probe_virtio_mmio(device_tree: &DeviceTree<'_>, gic: &mut Gic) -> Option<Nic> {
    for device in device_tree.virtio_mmio_devices() {
        let Some(header) = NonNull::new(device.base as usize as *mut VirtIOHeader) else {
            continue;
        };
        // SAFETY: the device tree says a virtio-mmio register block of `size` bytes lives at
        // `base`; it is mapped as device memory (board DEVICE_WINDOWS) and this is its only user.
        let transport = match unsafe { MmioTransport::new(header, device.size as usize) } {
            Ok(transport) => transport,
            Err(_) => continue,
        };
        if transport.device_type() != DeviceType::Network {
            continue;
        }
        let Some(interrupt) = device.interrupt else {
            log::warn!(
                "virtio-mmio at {:#x}: network device without an interrupt; skipped",
                device.base
            );
            continue;
        };
        match virtio_net::bring_up(SomeTransport::from(transport)) {
            Ok(card) => {
                log::info!(
                    "virtio-net on virtio-mmio at {:#x}, INTID {}, offload: {}",
                    device.base,
                    interrupt.intid,
                    card.offload().describe()
                );
                let mut card = alloc::boxed::Box::new(card);
                enable_interrupt_after_bring_up(gic, &mut card, interrupt);
                return Some(Nic::Virtio {
                    card,
                    intid: interrupt.intid,
                });
            }
            Err(error) => log::error!(
                "virtio-net at {:#x}: bring-up failed: {:?}",
                device.base,
                error.0
            ),
        }
    }
    None
}

/// Enables a virtio device's interrupt once the device is up, then clears its interrupt status.
///
/// QEMU's virtio-mmio line is a level (high while the ISR has a bit set) that the device tree
/// declares edge-triggered. A frame that arrives while the driver is still posting receive
/// buffers raises the line before the GIC watches for edges; nothing would ever lower it (only
/// the handler acknowledges the ISR), so no edge — and no interrupt — would come again: the
/// server then ran only on the idle loop's 1 s timer wake-ups. Acknowledging after enabling
/// lowers the line, so the next event is an edge; whatever arrived before is found by the first
/// poll of the rings.
fn enable_interrupt_after_bring_up(
    gic: &mut Gic,
    card: &mut VirtioNic<NicTransport>,
    interrupt: bareserve::boot::dtb::Interrupt,
) {
    gic.enable(
        interrupt.intid,
        interrupt.trigger == bareserve::boot::dtb::Trigger::Edge,
    );
    card.acknowledge_interrupt();
}

/// Offset of the Interrupt Line register in a type 0 header; Interrupt Pin is the byte after it
/// (PCI Local Bus 3.0 §6.2.4).
const INTERRUPT_LINE_OFFSET: u8 = 0x3C;

/// Enumerates bus 0 of the ECAM host bridge, assigns BARs from the 32-bit window, and brings up
/// the first virtio-net function.
fn probe_virtio_pci(device_tree: &DeviceTree<'_>, gic: &mut Gic) -> Option<Nic> {
    let host = device_tree.pci_host()?;
    let window = host.mmio32_window?;
    // SAFETY: the ECAM region comes from the device tree's `pci-host-ecam-generic` node, is mapped
    // as device memory (kernel_init maps it), and nothing else accesses configuration space.
    let access = unsafe { MmioCam::new(host.ecam.base as usize as *mut u8, Cam::Ecam) };
    let mut root = PciRoot::new(access);
    let mut allocator = BarAllocator::new(
        window.cpu_address,
        window.cpu_address.saturating_add(window.size),
    );
    for (function, info) in root.enumerate_bus(0) {
        if virtio_drivers::transport::pci::virtio_device_type(&info) != Some(DeviceType::Network) {
            continue;
        }
        if let Err(reason) = allocate_bars(&mut root, function, &mut allocator) {
            log::error!("PCI {function}: cannot assign BARs: {reason}");
            continue;
        }
        root.set_command(function, Command::MEMORY_SPACE | Command::BUS_MASTER);
        let pin = interrupt_pin(host.ecam.base, function);
        let Some(intid) = host.interrupt_for(function.device, pin) else {
            log::error!("PCI {function}: no interrupt-map entry for pin {pin}");
            continue;
        };
        let transport = match PciTransport::new::<VirtioHal, _>(&mut root, function) {
            Ok(transport) => transport,
            Err(error) => {
                log::error!("PCI {function}: not a usable virtio device: {error:?}");
                continue;
            }
        };
        match virtio_net::bring_up(SomeTransport::from(transport)) {
            Ok(card) => {
                let card = alloc::boxed::Box::new(card);
                log::info!(
                    "virtio-net on PCIe {function}, INTID {}, offload: {}",
                    intid.intid,
                    card.offload().describe()
                );
                let mut card = card;
                enable_interrupt_after_bring_up(gic, &mut card, intid);
                return Some(Nic::Virtio {
                    card,
                    intid: intid.intid,
                });
            }
            Err(error) => log::error!(
                "virtio-net on PCIe {function}: bring-up failed: {:?}",
                error.0
            ),
        }
    }
    None
}

/// The function's Interrupt Pin (1 = INTA … 4 = INTD, 0 = none), read from its ECAM header.
fn interrupt_pin(ecam_base: u64, function: DeviceFunction) -> u8 {
    // PCIe Base 4.0 §7.2.2: ECAM offset = bus << 20 | device << 15 | function << 12 | register.
    let offset = u64::from(function.bus) << 20
        | u64::from(function.device) << 15
        | u64::from(function.function) << 12
        | u64::from(INTERRUPT_LINE_OFFSET);
    let register = (ecam_base + offset) as usize as *const u32;
    // SAFETY: the address lies in the ECAM region of a function `enumerate_bus` just found
    // present; configuration reads have no side effects, and the region is mapped as device memory.
    let value = unsafe { register.read_volatile() };
    (value >> 8) as u8
}

fn allocate_bars<C: ConfigurationAccess>(
    root: &mut PciRoot<C>,
    function: DeviceFunction,
    allocator: &mut BarAllocator,
) -> Result<(), &'static str> {
    let bars = root.bars(function).map_err(|_| "reading the BARs failed")?;
    for (index, bar) in bars.into_iter().enumerate() {
        let Some(BarInfo::Memory {
            address_type, size, ..
        }) = bar
        else {
            continue;
        };
        if size == 0 {
            continue;
        }
        let address = allocator
            .allocate(size)
            .ok_or("the 32-bit memory window is full")?;
        match address_type {
            MemoryBarType::Width32 | MemoryBarType::Below1MiB => root.set_bar_32(
                function,
                index as u8,
                u32::try_from(address).map_err(|_| "BAR above 4 GiB")?,
            ),
            MemoryBarType::Width64 => root.set_bar_64(function, index as u8, address),
        }
    }
    Ok(())
}
