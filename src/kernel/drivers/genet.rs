//! GENET v5 glue for the Raspberry Pi 4: volatile register access, the DMA buffer pools with
//! cache maintenance, the clock, and the interrupt, around the portable driver in
//! `bareserve::nic::genet` (whose module documentation states what this file must provide).
//!
//! It depends on the library only, not on `crate::net`: the probe returns the card, and
//! `net.rs` wraps it in its `Nic`.

use alloc::alloc::{Layout, alloc_zeroed};
use alloc::string::String;
use core::ptr::NonNull;

use bareserve::boot::dtb::GenetDescription;
use bareserve::nic::NetworkCardControl;
use bareserve::nic::genet::phy::LinkState;
use bareserve::nic::genet::{
    BUFFER_SIZE_BYTES, BUFFERS_PER_POOL, Clock, DMA_ADDRESS_LIMIT, DmaBuffers, Genet, GenetConfig,
    InterruptStatus, RegisterAccess, read_mac_address,
};

use crate::arch::{cache, timer};
use crate::drivers::gic::Gic;

/// Size of the GENET register block (DTB `reg`; docs/bcm2711.md §6.1).
const REGISTER_BLOCK_BYTES: usize = 0x1_0000;
/// How often the PHY is polled: link interrupts do not fire on the Pi 4 (docs/bcm2711.md §6.5).
const LINK_POLL_INTERVAL_US: u64 = 1_000_000;

/// The GENET register block, accessed with single volatile 32-bit loads and stores.
pub struct GenetRegisters {
    base: NonNull<u32>,
}

impl RegisterAccess for GenetRegisters {
    fn read32(&mut self, offset: usize) -> u32 {
        if offset >= REGISTER_BLOCK_BYTES || !offset.is_multiple_of(4) {
            log::error!("GENET: refused read at offset {offset:#x}");
            return 0;
        }
        let register = self.base.as_ptr().wrapping_byte_add(offset);
        // SAFETY: `base` is the GENET block from the device tree, mapped Device-nGnRE
        // (board DEVICE_WINDOWS) and owned by this driver; the offset is aligned and inside it.
        unsafe { register.read_volatile() }
    }

    fn write32(&mut self, offset: usize, value: u32) {
        if offset >= REGISTER_BLOCK_BYTES || !offset.is_multiple_of(4) {
            log::error!("GENET: refused write at offset {offset:#x}");
            return;
        }
        let register = self.base.as_ptr().wrapping_byte_add(offset);
        // SAFETY: as in `read32`.
        unsafe { register.write_volatile(value) }
    }
}

/// One pool of [`BUFFERS_PER_POOL`] DMA buffers of [`BUFFER_SIZE_BYTES`] bytes each, allocated
/// once from the heap (which lies below 1 GiB on this board: `board::HEAP_END_LIMIT`), aligned
/// to a page so every buffer owns its cache lines, and never freed.
pub struct DmaPool {
    base: NonNull<u8>,
}

impl DmaPool {
    fn allocate() -> Option<DmaPool> {
        let layout = Layout::from_size_align(BUFFERS_PER_POOL * BUFFER_SIZE_BYTES, 4096).ok()?;
        // SAFETY: the layout has a non-zero size.
        let base = NonNull::new(unsafe { alloc_zeroed(layout) })?;
        if base.as_ptr() as u64 + layout.size() as u64 > DMA_ADDRESS_LIMIT {
            log::error!(
                "GENET: DMA pool at {:#x} is above 1 GiB",
                base.as_ptr() as usize
            );
            return None;
        }
        // The CPU wrote zeros through the cache: make memory agree before the MAC sees it.
        cache::clean_and_invalidate(base.as_ptr() as usize, layout.size());
        Some(DmaPool { base })
    }

    fn buffer_start(&self, index: usize) -> usize {
        self.base.as_ptr() as usize + index.min(BUFFERS_PER_POOL - 1) * BUFFER_SIZE_BYTES
    }
}

impl DmaBuffers for DmaPool {
    fn buffer_address(&self, index: usize) -> u64 {
        // Identity map, and GENET takes ARM physical addresses (docs/bcm2711.md §2: `/scb` has no
        // dma-ranges).
        self.buffer_start(index) as u64
    }

    fn clean_for_device(&mut self, index: usize, length_bytes: usize) {
        cache::clean_and_invalidate(
            self.buffer_start(index),
            length_bytes.min(BUFFER_SIZE_BYTES),
        );
    }

    fn invalidate_for_cpu(&mut self, index: usize, length_bytes: usize) {
        cache::invalidate(
            self.buffer_start(index),
            length_bytes.min(BUFFER_SIZE_BYTES),
        );
    }

    fn bytes(&self, index: usize) -> &[u8] {
        // SAFETY: the buffer lies inside the pool allocation (index clamped), which lives forever;
        // the driver's ring ownership rules keep the MAC from writing it while borrowed.
        unsafe {
            core::slice::from_raw_parts(self.buffer_start(index) as *const u8, BUFFER_SIZE_BYTES)
        }
    }

    fn bytes_mut(&mut self, index: usize) -> &mut [u8] {
        // SAFETY: as in `bytes`, and `&mut self` makes the borrow exclusive.
        unsafe {
            core::slice::from_raw_parts_mut(self.buffer_start(index) as *mut u8, BUFFER_SIZE_BYTES)
        }
    }
}

/// The generic timer as the driver's clock.
pub struct GenericTimerClock;

impl Clock for GenericTimerClock {
    fn now_us(&self) -> u64 {
        timer::now_us()
    }

    fn delay_us(&mut self, duration_us: u32) {
        timer::delay_us(u64::from(duration_us));
    }
}

/// GENET as the kernel's network card.
pub struct GenetCard {
    /// The portable driver (a smoltcp `phy::Device`).
    pub driver: Genet<GenetRegisters, DmaPool, GenericTimerClock>,
    next_link_poll_us: u64,
}

/// Brings up GENET as described by the device tree, and enables its interrupts; returns the card
/// and its INTIDs.
pub fn probe(description: &GenetDescription<'_>, gic: &mut Gic) -> Option<(GenetCard, [u32; 2])> {
    let Some(base) = NonNull::new(description.base as usize as *mut u32) else {
        log::error!("GENET: register block at address 0");
        return None;
    };
    let mut registers = GenetRegisters { base };
    // docs/bcm2711.md §8: the DTB's address (the firmware fills it), else the firmware's answer
    // over the mailbox, else what the MAC holds (QEMU preloads its NIC's address there).
    let from_mailbox = || {
        crate::board::MAILBOX_BASE
            .and_then(|base| crate::drivers::mailbox::board_mac_address(base as usize))
            .filter(|mac| usable_mac(*mac))
    };
    let (mac, source) = match description.mac {
        Some(mac) => (mac, "device tree"),
        None => match from_mailbox() {
            Some(mac) => (mac, "firmware mailbox"),
            None => (read_mac_address(&mut registers), "MAC registers"),
        },
    };
    if !usable_mac(mac) {
        log::error!(
            "GENET: no usable MAC address (device tree has none, registers hold {mac:02x?})"
        );
        return None;
    }
    let (Some(receive_pool), Some(transmit_pool)) = (DmaPool::allocate(), DmaPool::allocate())
    else {
        log::error!("GENET: cannot allocate DMA buffers below 1 GiB");
        return None;
    };
    let mut config = GenetConfig::new(mac);
    if let Some(address) = description
        .phy_address
        .and_then(|address| u8::try_from(address).ok())
    {
        config.phy_address = address;
    }
    let mut driver = match Genet::new(
        registers,
        receive_pool,
        transmit_pool,
        GenericTimerClock,
        config,
    ) {
        Ok(driver) => driver,
        Err(error) => {
            log::error!(
                "GENET at {:#x}: bring-up failed: {error:?}",
                description.base
            );
            return None;
        }
    };
    driver.unmask_interrupts(InterruptStatus::RX_DMA_MBDONE | InterruptStatus::TX_DMA_MBDONE);
    for &intid in &description.intids {
        gic.enable(intid, false);
    }
    // Whatever was latched during bring-up is cleared; the first poll finds its frames.
    let _ = driver.acknowledge_interrupts();
    log::info!(
        "GENET v5 at {:#x}, INTIDs {:?}, MAC {:02x?} (from the {source}); waiting for link",
        description.base,
        description.intids,
        mac
    );
    Some((
        GenetCard {
            driver,
            next_link_poll_us: 0,
        },
        description.intids,
    ))
}

/// A unicast address that is not all zeros (the library's one rule, `boot::mac`).
fn usable_mac(mac: [u8; 6]) -> bool {
    bareserve::boot::mac::is_usable_unicast(mac)
}

impl NetworkCardControl for GenetCard {
    fn mac_address(&self) -> [u8; 6] {
        self.driver.mac_address()
    }

    fn acknowledge_interrupt(&mut self) {
        let _ = self.driver.acknowledge_interrupts();
    }

    fn housekeeping(&mut self, now_us: u64) -> Option<u64> {
        if now_us >= self.next_link_poll_us {
            self.next_link_poll_us = now_us.saturating_add(LINK_POLL_INTERVAL_US);
            match self.driver.poll_link() {
                Ok(Some(LinkState::Up(settings))) => log::info!("GENET: link up, {settings:?}"),
                Ok(Some(LinkState::Down)) => log::warn!("GENET: link down"),
                Ok(None) => {}
                Err(error) => log::error!("GENET: link poll failed: {error:?}"),
            }
        }
        Some(self.next_link_poll_us)
    }

    fn link_up(&self) -> bool {
        matches!(self.driver.link_state(), LinkState::Up(_))
    }

    fn describe_statistics(&self) -> String {
        alloc::format!("GENET: link {:?}", self.driver.link_state())
    }
}
