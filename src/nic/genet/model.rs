//! A register-level model of GENET v5, its MDIO bus, a BCM54213PE PHY and non-coherent DMA
//! memory, for host tests of the driver (docs/bcm2711.md §10.3).
//!
//! It models what docs/bcm2711.md §6–§7 say the hardware does, not what the driver does: reset
//! values (REV_CTRL 0x0600_0000), MDIO_CMD's START_BUSY completing after a number of reads, a PHY
//! with a latched-low BMSR link bit and autonegotiation that completes after a delay, descriptor
//! RAM inside the register file, RX DMA that writes the 2-byte pad and the frame into the next
//! buffer and advances the 16-bit RDMA_PROD_INDEX (or counts DISCARD_CNT when the ring is full),
//! TX DMA that sends the descriptors between TDMA_CONS_INDEX and TDMA_PROD_INDEX, ring
//! START/END/pointer registers that take only their first write after reset and hardware-owned
//! indices that ignore writes (§6.8), and a cache model: each buffer has a device view (RAM) and
//! a CPU view (cache) so a missing clean or invalidate shows up as stale data and as a recorded
//! violation.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};

use super::mdio::{
    DATA_MASK, OPERATION_READ, OPERATION_WRITE, PHY_ADDRESS_SHIFT, READ_FAIL, REGISTER_SHIFT,
    START_BUSY,
};
use super::phy::{
    self, BMCR_AUTONEGOTIATION_RESTART, BMSR_AUTONEGOTIATION_COMPLETE, BMSR_LINK_STATUS,
};
use super::registers::*;
use super::{BUFFER_SIZE_BYTES, BUFFERS_PER_POOL, Clock, DmaBuffers, RegisterAccess};

/// Size of the modelled register window (64 KiB, docs/bcm2711.md §0).
const REGISTER_WINDOW_BYTES: usize = 0x1_0000;
/// BMSR capability bits of a 10/100/1000 PHY with extended status (BMSR 0x796D on QEMU's model
/// minus the dynamic link and AN-complete bits).
const BMSR_CAPABILITIES: u16 = 0x7949;

/// A clock the test controls: time advances only through `delay_us` or [`FakeClock::advance_us`].
#[derive(Clone, Debug, Default)]
pub struct FakeClock {
    now_us: Rc<Cell<u64>>,
}

impl FakeClock {
    /// The current time (the test's view, without the trait).
    pub fn now_us_for_test(&self) -> u64 {
        self.now_us.get()
    }

    /// Moves time forward.
    pub fn advance_us(&self, duration_us: u64) {
        self.now_us.set(self.now_us.get() + duration_us);
    }
}

impl Clock for FakeClock {
    fn now_us(&self) -> u64 {
        self.now_us.get()
    }
    fn delay_us(&mut self, duration_us: u32) {
        self.advance_us(u64::from(duration_us));
    }
}

/// Settings of a model instance.
#[derive(Clone, Debug)]
pub struct ModelConfig {
    /// SYS_REV_CTRL reset value.
    pub rev_ctrl: u32,
    /// RDMA_PROD_INDEX (and RDMA_CONS_INDEX) at reset: a warm-boot leftover.
    pub initial_receive_index: u16,
    /// TDMA_CONS_INDEX (and TDMA_PROD_INDEX) at reset.
    pub initial_transmit_index: u16,
    /// Reads of MDIO_CMD that still show START_BUSY after a start.
    pub mdio_busy_reads: u32,
    /// The MDIO bus never finishes a frame.
    pub mdio_stuck: bool,
    /// MDIO address the PHY answers at.
    pub phy_address: u8,
    /// PHYSID1 / PHYSID2.
    pub phy_identifier: (u16, u16),
    /// Link partner's LPA register once autonegotiation completes.
    pub partner_abilities: u16,
    /// Link partner's STAT1000 bits once autonegotiation completes.
    pub partner_stat1000: u16,
    /// Autonegotiation time after a restart or a cable connect.
    pub autonegotiation_duration_us: u64,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            rev_ctrl: 0x0600_0000,
            initial_receive_index: 0,
            initial_transmit_index: 0,
            mdio_busy_reads: 3,
            mdio_stuck: false,
            phy_address: 1,
            phy_identifier: (0x600D, 0x84A2),
            partner_abilities: phy::ABILITY_10_HALF
                | phy::ABILITY_10_FULL
                | phy::ABILITY_100_HALF
                | phy::ABILITY_100_FULL
                | phy::ABILITY_PAUSE
                | phy::SELECTOR_IEEE_802_3,
            partner_stat1000: phy::STAT1000_PARTNER_1000_FULL | phy::STAT1000_PARTNER_1000_HALF,
            autonegotiation_duration_us: 3_000_000,
        }
    }
}

/// One DMA buffer as the model sees it.
#[derive(Debug)]
struct DeviceBuffer {
    /// What RAM holds (what the DMA reads and writes).
    device: Vec<u8>,
    /// The CPU wrote through its cache and has not cleaned.
    cpu_dirty: bool,
    /// The DMA wrote RAM and the CPU has not invalidated since.
    cpu_stale: bool,
}

/// The PHY's state.
#[derive(Debug)]
struct PhyModel {
    registers: [u16; 32],
    cable_connected: bool,
    autonegotiation_done_at_us: u64,
    link_latched_low: bool,
}

/// What happened to an injected frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Injected {
    /// Written into the ring.
    Delivered,
    /// Dropped for lack of a buffer; DISCARD_CNT counted it.
    Discarded,
    /// The MAC is not receiving (DMA off, RX_EN clear or no link).
    NotReceiving,
}

/// Everything the model holds; shared between the register fake, the buffer fakes and the test.
#[derive(Debug)]
pub struct ModelState {
    config: ModelConfig,
    now_us: Rc<Cell<u64>>,
    registers: Vec<u32>,
    /// Every register write in order (descriptor RAM included).
    pub write_log: Vec<(usize, u32)>,
    write_once_taken: BTreeSet<usize>,
    /// Writes the hardware ignored (write-once registers after their first write, hardware-owned
    /// indices), in order.
    pub ignored_writes: Vec<(usize, u32)>,
    mdio_busy_reads_left: u32,
    mdio_command: Option<u32>,
    phy: PhyModel,
    memory: BTreeMap<u64, DeviceBuffer>,
    /// Frames the TX DMA sent, as read from RAM.
    pub transmitted: Vec<Vec<u8>>,
    /// Cache-maintenance and protocol violations seen by the model.
    pub violations: Vec<String>,
    /// While set, the TX DMA does not progress (a busy wire).
    pub transmit_stalled: bool,
    /// Number of UMAC_TX_FLUSH pulses (1 written).
    pub transmit_flushes: u32,
}

/// The register side of the model.
#[derive(Clone, Debug)]
pub struct GenetModel {
    state: Rc<RefCell<ModelState>>,
}

/// One buffer pool backed by the model's memory, with its own CPU view (the "cache").
#[derive(Debug)]
pub struct FakeBuffers {
    state: Rc<RefCell<ModelState>>,
    base_address: u64,
    cpu_view: Vec<Vec<u8>>,
    /// Test switch: pretend `clean_for_device` happened without doing it.
    pub skip_clean: bool,
    /// Test switch: pretend `invalidate_for_cpu` happened without doing it.
    pub skip_invalidate: bool,
}

/// Physical base of the fake receive pool (below 1 GiB).
pub const RECEIVE_POOL_BASE: u64 = 0x0100_0000;
/// Physical base of the fake transmit pool.
pub const TRANSMIT_POOL_BASE: u64 = 0x0200_0000;

impl GenetModel {
    /// A model after hardware reset, its clock, and the two buffer pools.
    pub fn new(config: ModelConfig) -> (Self, FakeBuffers, FakeBuffers, FakeClock) {
        let clock = FakeClock::default();
        let mut registers = vec![0u32; REGISTER_WINDOW_BYTES / 4];
        let mut set = |offset: usize, value: u32| registers[offset / 4] = value;
        set(SYS_REV_CTRL, config.rev_ctrl);
        set(
            RDMA_RING16 + RING_HARDWARE_INDEX,
            u32::from(config.initial_receive_index),
        );
        set(
            RDMA_RING16 + RING_SOFTWARE_INDEX,
            u32::from(config.initial_receive_index),
        );
        set(
            TDMA_RING16 + RING_HARDWARE_INDEX,
            u32::from(config.initial_transmit_index),
        );
        set(
            TDMA_RING16 + RING_SOFTWARE_INDEX,
            u32::from(config.initial_transmit_index),
        );
        set(RDMA_COMMON + DMA_STATUS, DMA_STATUS_DISABLED);
        set(TDMA_COMMON + DMA_STATUS, DMA_STATUS_DISABLED);
        set(INTRL2_0 + INTRL2_CPU_MASK_STATUS, u32::MAX);
        set(INTRL2_1 + INTRL2_CPU_MASK_STATUS, u32::MAX);
        let mut phy_registers = [0u16; 32];
        phy_registers[usize::from(phy::BMCR)] = phy::BMCR_AUTONEGOTIATION_ENABLE;
        phy_registers[usize::from(phy::PHYSID1)] = config.phy_identifier.0;
        phy_registers[usize::from(phy::PHYSID2)] = config.phy_identifier.1;
        // IEEE 802.3 §28.2.4.1.3: the default advertisement is every ability the PHY has.
        phy_registers[usize::from(phy::ADVERTISE)] = 0x01E1;
        phy_registers[usize::from(phy::CTRL1000)] = 0x0300;
        let mut memory = BTreeMap::new();
        for base in [RECEIVE_POOL_BASE, TRANSMIT_POOL_BASE] {
            for index in 0..BUFFERS_PER_POOL {
                memory.insert(
                    base + (index * BUFFER_SIZE_BYTES) as u64,
                    DeviceBuffer {
                        device: vec![0; BUFFER_SIZE_BYTES],
                        cpu_dirty: false,
                        cpu_stale: false,
                    },
                );
            }
        }
        let state = Rc::new(RefCell::new(ModelState {
            now_us: clock.now_us.clone(),
            phy: PhyModel {
                registers: phy_registers,
                cable_connected: true,
                autonegotiation_done_at_us: config.autonegotiation_duration_us,
                link_latched_low: true,
            },
            config,
            registers,
            write_log: Vec::new(),
            write_once_taken: BTreeSet::new(),
            ignored_writes: Vec::new(),
            mdio_busy_reads_left: 0,
            mdio_command: None,
            memory,
            transmitted: Vec::new(),
            violations: Vec::new(),
            transmit_stalled: false,
            transmit_flushes: 0,
        }));
        let pool = |base_address| FakeBuffers {
            state: state.clone(),
            base_address,
            cpu_view: vec![vec![0u8; BUFFER_SIZE_BYTES]; BUFFERS_PER_POOL],
            skip_clean: false,
            skip_invalidate: false,
        };
        let receive = pool(RECEIVE_POOL_BASE);
        let transmit = pool(TRANSMIT_POOL_BASE);
        (Self { state }, receive, transmit, clock)
    }

    /// Two fresh buffer pools over the same memory (for a second driver after the first is
    /// dropped: a warm re-initialisation). Their CPU views start clean.
    pub fn new_pools(&self) -> (FakeBuffers, FakeBuffers) {
        let pool = |base_address| FakeBuffers {
            state: self.state.clone(),
            base_address,
            cpu_view: vec![vec![0u8; BUFFER_SIZE_BYTES]; BUFFERS_PER_POOL],
            skip_clean: false,
            skip_invalidate: false,
        };
        (pool(RECEIVE_POOL_BASE), pool(TRANSMIT_POOL_BASE))
    }

    /// The shared state, for inspection.
    pub fn state(&self) -> core::cell::RefMut<'_, ModelState> {
        self.state.borrow_mut()
    }

    /// Sets a register behind the driver's back (fault injection: a misbehaving device).
    pub fn force(&self, offset: usize, value: u32) {
        self.state.borrow_mut().set(offset, value);
    }

    /// The current value of a register, without side effects.
    pub fn peek(&self, offset: usize) -> u32 {
        self.state.borrow().registers[offset / 4]
    }

    /// A frame arrives on the wire (`error_bits`: RX status bits the MAC would set).
    pub fn inject_frame(&self, frame: &[u8], error_bits: u32) -> Injected {
        self.state.borrow_mut().receive(frame, error_bits)
    }

    /// Plugs or unplugs the cable. Plugging in starts autonegotiation.
    pub fn set_cable_connected(&self, connected: bool) {
        let mut state = self.state.borrow_mut();
        let now_us = state.now_us.get();
        let duration_us = state.config.autonegotiation_duration_us;
        let phy = &mut state.phy;
        if connected && !phy.cable_connected {
            phy.autonegotiation_done_at_us = now_us + duration_us;
        }
        if !connected {
            phy.link_latched_low = true;
        }
        phy.cable_connected = connected;
    }

    /// Stops or resumes the TX DMA.
    pub fn set_transmit_stalled(&self, stalled: bool) {
        let mut state = self.state.borrow_mut();
        state.transmit_stalled = stalled;
        state.run_transmit();
    }

    /// Sets the link partner's abilities (takes effect at the next autonegotiation).
    pub fn set_partner(&self, abilities: u16, stat1000: u16) {
        let mut state = self.state.borrow_mut();
        state.config.partner_abilities = abilities;
        state.config.partner_stat1000 = stat1000;
    }
}

impl ModelState {
    fn read(&self, offset: usize) -> u32 {
        self.registers.get(offset / 4).copied().unwrap_or(0)
    }

    fn set(&mut self, offset: usize, value: u32) {
        if let Some(slot) = self.registers.get_mut(offset / 4) {
            *slot = value;
        }
    }

    fn phy_link_up(&self) -> bool {
        self.phy.cable_connected && self.now_us.get() >= self.phy.autonegotiation_done_at_us
    }

    fn phy_read(&mut self, register: u8) -> u16 {
        let link_up = self.phy_link_up();
        match register {
            phy::BMSR => {
                let mut value = BMSR_CAPABILITIES;
                if link_up {
                    value |= BMSR_AUTONEGOTIATION_COMPLETE;
                }
                // IEEE 802.3 §22.2.4.2.13: the link bit stays 0 after a failure until read.
                if link_up && !self.phy.link_latched_low {
                    value |= BMSR_LINK_STATUS;
                }
                self.phy.link_latched_low = !link_up;
                value
            }
            phy::LPA if link_up => self.config.partner_abilities,
            phy::LPA => 0,
            phy::STAT1000 if link_up => self.config.partner_stat1000,
            phy::STAT1000 => 0,
            _ => self
                .phy
                .registers
                .get(usize::from(register))
                .copied()
                .unwrap_or(0xFFFF),
        }
    }

    fn phy_write(&mut self, register: u8, value: u16) {
        if register == phy::BMCR && value & BMCR_AUTONEGOTIATION_RESTART != 0 {
            self.phy.autonegotiation_done_at_us =
                self.now_us.get() + self.config.autonegotiation_duration_us;
            self.phy.link_latched_low = true;
        }
        if let Some(slot) = self.phy.registers.get_mut(usize::from(register)) {
            // BMCR's restart bit self-clears (§22.2.4.1.7).
            *slot = if register == phy::BMCR {
                value & !BMCR_AUTONEGOTIATION_RESTART
            } else {
                value
            };
        }
    }

    fn read_register(&mut self, offset: usize) -> u32 {
        if offset == MDIO_CMD {
            return self.read_mdio();
        }
        self.read(offset)
    }

    fn read_mdio(&mut self) -> u32 {
        let Some(command) = self.mdio_command else {
            return self.read(MDIO_CMD);
        };
        if self.config.mdio_stuck || self.mdio_busy_reads_left > 0 {
            self.mdio_busy_reads_left = self.mdio_busy_reads_left.saturating_sub(1);
            return command;
        }
        self.mdio_command = None;
        let phy_address = ((command >> PHY_ADDRESS_SHIFT) & 0x1F) as u8;
        let register = ((command >> REGISTER_SHIFT) & 0x1F) as u8;
        let operation = command & (0b11 << 26);
        let mut result = command & !START_BUSY;
        if phy_address != self.config.phy_address {
            result |= READ_FAIL;
        } else if operation == OPERATION_READ {
            result = (result & !DATA_MASK) | u32::from(self.phy_read(register));
        } else if operation == OPERATION_WRITE {
            self.phy_write(register, (command & DATA_MASK) as u16);
        }
        self.set(MDIO_CMD, result);
        self.set_interrupt(InterruptStatus::MDIO_DONE);
        result
    }

    fn set_interrupt(&mut self, bits: u32) {
        let status = self.read(INTRL2_0 + INTRL2_CPU_STAT);
        self.set(INTRL2_0 + INTRL2_CPU_STAT, status | bits);
    }

    fn is_write_once(offset: usize) -> bool {
        [RDMA_RING16, TDMA_RING16].iter().any(|&ring| {
            [
                RING_START_ADDR,
                RING_END_ADDR,
                RING_DMA_POINTER,
                RING_CPU_POINTER,
            ]
            .iter()
            .any(|&field| offset == ring + field)
        })
    }

    fn write_register(&mut self, offset: usize, value: u32) {
        self.write_log.push((offset, value));
        if offset == RDMA_RING16 + RING_HARDWARE_INDEX
            || offset == TDMA_RING16 + RING_HARDWARE_INDEX
        {
            // Hardware-owned: U-Boot "the producer index cannot be reset".
            self.ignored_writes.push((offset, value));
            return;
        }
        if Self::is_write_once(offset) && !self.write_once_taken.insert(offset) {
            // docs/bcm2711.md §6.8: write-once after hardware reset.
            self.ignored_writes.push((offset, value));
            return;
        }
        match offset {
            MDIO_CMD => {
                self.set(MDIO_CMD, value);
                if value & START_BUSY != 0 {
                    self.mdio_command = Some(value);
                    self.mdio_busy_reads_left = self.config.mdio_busy_reads;
                }
            }
            _ if offset == INTRL2_0 + INTRL2_CPU_CLEAR || offset == INTRL2_1 + INTRL2_CPU_CLEAR => {
                let status = offset - INTRL2_CPU_CLEAR + INTRL2_CPU_STAT;
                let pending = self.read(status);
                self.set(status, pending & !value);
            }
            _ if offset == INTRL2_0 + INTRL2_CPU_MASK_SET
                || offset == INTRL2_1 + INTRL2_CPU_MASK_SET =>
            {
                let mask = offset - INTRL2_CPU_MASK_SET + INTRL2_CPU_MASK_STATUS;
                let current = self.read(mask);
                self.set(mask, current | value);
            }
            _ if offset == INTRL2_0 + INTRL2_CPU_MASK_CLEAR
                || offset == INTRL2_1 + INTRL2_CPU_MASK_CLEAR =>
            {
                let mask = offset - INTRL2_CPU_MASK_CLEAR + INTRL2_CPU_MASK_STATUS;
                let current = self.read(mask);
                self.set(mask, current & !value);
            }
            UMAC_TX_FLUSH => {
                if value & 1 != 0 {
                    self.transmit_flushes += 1;
                }
                self.set(offset, value);
            }
            _ if offset == RDMA_COMMON + DMA_CTRL || offset == TDMA_COMMON + DMA_CTRL => {
                self.set(offset, value);
                let status = offset - DMA_CTRL + DMA_STATUS;
                self.set(
                    status,
                    if value & DMA_EN != 0 {
                        0
                    } else {
                        DMA_STATUS_DISABLED
                    },
                );
                self.run_transmit();
            }
            _ => {
                self.set(offset, value);
                if offset == TDMA_RING16 + RING_SOFTWARE_INDEX || offset == UMAC_CMD {
                    self.run_transmit();
                }
            }
        }
    }

    fn ring_enabled(&self, common: usize) -> bool {
        let control = self.read(common + DMA_CTRL);
        control & DMA_EN != 0
            && control & DMA_RING16_BUF_EN != 0
            && self.read(common + DMA_RING_CFG) & DMA_RING16_CFG != 0
    }

    fn ring_length(&self, ring: usize) -> u16 {
        ((self.read(ring + RING_BUF_SIZE) >> 16) as u16).max(1)
    }

    fn descriptor_address(&self, dma_base: usize, descriptor: usize) -> u64 {
        let base = descriptor_offset(dma_base, descriptor);
        u64::from(self.read(base + DESCRIPTOR_ADDRESS_LO))
            | (u64::from(self.read(base + DESCRIPTOR_ADDRESS_HI) & 0xFF) << 32)
    }

    fn receive(&mut self, frame: &[u8], error_bits: u32) -> Injected {
        let receiving = self.ring_enabled(RDMA_COMMON)
            && self.read(UMAC_CMD) & UmacCommand::RX_EN != 0
            && self.phy_link_up();
        if !receiving {
            return Injected::NotReceiving;
        }
        let produced_register = self.read(RDMA_RING16 + RING_HARDWARE_INDEX);
        let produced = (produced_register & INDEX_MASK) as u16;
        let consumed = (self.read(RDMA_RING16 + RING_SOFTWARE_INDEX) & INDEX_MASK) as u16;
        let ring_length = self.ring_length(RDMA_RING16);
        if produced.wrapping_sub(consumed) >= ring_length {
            let discards = ((produced_register >> DISCARD_COUNT_SHIFT) as u16).wrapping_add(1);
            self.set(
                RDMA_RING16 + RING_HARDWARE_INDEX,
                (u32::from(discards) << DISCARD_COUNT_SHIFT) | u32::from(produced),
            );
            return Injected::Discarded;
        }
        let descriptor = usize::from(produced % ring_length);
        let address = self.descriptor_address(RDMA_BASE, descriptor);
        let pad = if self.read(RBUF_CTRL) & RBUF_ALIGN_2B != 0 {
            2
        } else {
            0
        };
        let Some(buffer) = self.memory.get_mut(&address) else {
            self.violations.push(alloc::format!(
                "RX descriptor {descriptor} points at {address:#x}, outside every buffer"
            ));
            return Injected::Discarded;
        };
        if buffer.cpu_dirty {
            self.violations.push(alloc::format!(
                "RX DMA into buffer {address:#x} with dirty CPU lines (missing clean)"
            ));
        }
        let length = (frame.len() + pad).min(BUFFER_SIZE_BYTES);
        buffer.device[..pad].fill(0);
        buffer.device[pad..length].copy_from_slice(&frame[..length - pad]);
        buffer.cpu_stale = true;
        let mut status = ((length as u32) << DescriptorStatus::LENGTH_SHIFT)
            | DescriptorStatus::SOP
            | DescriptorStatus::EOP
            | error_bits;
        if frame.first().is_some_and(|byte| byte & 1 != 0) {
            status |= if frame.get(..6) == Some(&[0xFF; 6]) {
                1 << 6
            } else {
                1 << 5
            };
        }
        self.set(descriptor_offset(RDMA_BASE, descriptor), status);
        self.set(
            RDMA_RING16 + RING_HARDWARE_INDEX,
            (produced_register & !INDEX_MASK) | u32::from(produced.wrapping_add(1)),
        );
        self.set_interrupt(InterruptStatus::RX_DMA_MBDONE);
        Injected::Delivered
    }

    fn run_transmit(&mut self) {
        let sending = self.ring_enabled(TDMA_COMMON)
            && self.read(UMAC_CMD) & UmacCommand::TX_EN != 0
            && self.phy_link_up();
        if !sending || self.transmit_stalled {
            return;
        }
        let ring_length = self.ring_length(TDMA_RING16);
        loop {
            let consumed = (self.read(TDMA_RING16 + RING_HARDWARE_INDEX) & INDEX_MASK) as u16;
            let produced = (self.read(TDMA_RING16 + RING_SOFTWARE_INDEX) & INDEX_MASK) as u16;
            if consumed == produced {
                break;
            }
            let descriptor = usize::from(consumed % ring_length);
            let status = DescriptorStatus(self.read(descriptor_offset(TDMA_BASE, descriptor)));
            let expected =
                DescriptorStatus::SOP | DescriptorStatus::EOP | DescriptorStatus::TX_APPEND_CRC;
            if status.0 & expected != expected {
                self.violations.push(alloc::format!(
                    "TX descriptor {descriptor} status {:#x} lacks SOP/EOP/APPEND_CRC",
                    status.0
                ));
            }
            let address = self.descriptor_address(TDMA_BASE, descriptor);
            match self.memory.get(&address) {
                Some(buffer) => {
                    if buffer.cpu_dirty {
                        self.violations.push(alloc::format!(
                            "TX DMA read buffer {address:#x} with uncleaned CPU writes"
                        ));
                    }
                    let length = status.length_bytes().min(BUFFER_SIZE_BYTES);
                    let frame = buffer.device[..length].to_vec();
                    self.transmitted.push(frame);
                }
                None => self.violations.push(alloc::format!(
                    "TX descriptor {descriptor} points at {address:#x}, outside every buffer"
                )),
            }
            self.set(
                TDMA_RING16 + RING_HARDWARE_INDEX,
                u32::from(consumed.wrapping_add(1)),
            );
            self.set_interrupt(InterruptStatus::TX_DMA_MBDONE);
        }
    }
}

impl RegisterAccess for GenetModel {
    fn read32(&mut self, offset: usize) -> u32 {
        self.state.borrow_mut().read_register(offset)
    }
    fn write32(&mut self, offset: usize, value: u32) {
        self.state.borrow_mut().write_register(offset, value);
    }
}

impl FakeBuffers {
    fn address(&self, index: usize) -> u64 {
        self.base_address + (index * BUFFER_SIZE_BYTES) as u64
    }
}

impl DmaBuffers for FakeBuffers {
    fn buffer_address(&self, index: usize) -> u64 {
        self.address(index)
    }

    fn clean_for_device(&mut self, index: usize, length_bytes: usize) {
        if self.skip_clean {
            return;
        }
        let address = self.address(index);
        let mut state = self.state.borrow_mut();
        let Some(buffer) = state.memory.get_mut(&address) else {
            return;
        };
        // DC CIVAC writes back only dirty lines.
        if buffer.cpu_dirty {
            let length = length_bytes.min(BUFFER_SIZE_BYTES);
            buffer.device[..length].copy_from_slice(&self.cpu_view[index][..length]);
            buffer.cpu_dirty = false;
        }
    }

    fn invalidate_for_cpu(&mut self, index: usize, length_bytes: usize) {
        if self.skip_invalidate {
            return;
        }
        let address = self.address(index);
        let mut state = self.state.borrow_mut();
        let dirty = state
            .memory
            .get(&address)
            .is_some_and(|buffer| buffer.cpu_dirty);
        if dirty {
            state.violations.push(alloc::format!(
                "invalidate of buffer {address:#x} discarded dirty CPU data"
            ));
        }
        let Some(buffer) = state.memory.get_mut(&address) else {
            return;
        };
        let length = length_bytes.min(BUFFER_SIZE_BYTES);
        self.cpu_view[index][..length].copy_from_slice(&buffer.device[..length]);
        buffer.cpu_stale = false;
    }

    fn bytes(&self, index: usize) -> &[u8] {
        let address = self.address(index);
        let mut state = self.state.borrow_mut();
        if state
            .memory
            .get(&address)
            .is_some_and(|buffer| buffer.cpu_stale)
        {
            state.violations.push(alloc::format!(
                "CPU read buffer {address:#x} after DMA without invalidating"
            ));
        }
        &self.cpu_view[index]
    }

    fn bytes_mut(&mut self, index: usize) -> &mut [u8] {
        let address = self.address(index);
        if let Some(buffer) = self.state.borrow_mut().memory.get_mut(&address) {
            buffer.cpu_dirty = true;
        }
        &mut self.cpu_view[index]
    }
}
