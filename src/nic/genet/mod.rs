//! The Raspberry Pi 4 GENET v5 Ethernet MAC driver, written against small hardware traits so that
//! all of its logic runs in `cargo test` against a register-level model.
//!
//! Facts and sources are in `docs/bcm2711.md` §6 (GENET v5), §7 (caches and DMA) and §8 (MAC
//! address); the init sequence follows U-Boot's `drivers/net/bcmgenet.c` (ring 16 for everything,
//! all 256 descriptors per direction), written from the register facts, not copied.
//!
//! # What the kernel provides
//!
//! * [`RegisterAccess`] — 32-bit volatile reads and writes at `0xFD58_0000 + offset` (Device-nGnRE
//!   memory). The driver only passes offsets below 0x1_0000.
//! * Two [`DmaBuffers`] pools, one for receive and one for transmit, each of [`BUFFERS_PER_POOL`]
//!   buffers of [`BUFFER_SIZE_BYTES`] bytes, 64-byte aligned, sharing no cache line with anything
//!   else, at physical addresses below 1 GiB (docs/bcm2711.md §2) and staying put for the driver's
//!   life. Cache maintenance: [`DmaBuffers::clean_for_device`] is `DC CIVAC` over the range then
//!   `DSB SY` (before the MAC reads a TX frame, and before an RX buffer goes back to the MAC so no
//!   dirty line is evicted over DMA data); [`DmaBuffers::invalidate_for_cpu`] is `DC IVAC` (or
//!   `CIVAC`) then `DSB SY` (after the MAC wrote an RX frame; speculative prefetch may have
//!   refilled lines during the DMA). With the pool mapped Normal Non-cacheable both may be a bare
//!   `DSB SY`.
//! * A [`Clock`] with microseconds, used only by control operations (MDIO, reset pulses).
//!
//! # How the kernel drives it
//!
//! 1. [`Genet::new`] with the MAC address (docs/bcm2711.md §8; [`read_mac_address`] reads what the
//!    firmware or QEMU left in the MAC). It resets the MAC, sets up both rings, checks the PHY ID
//!    and restarts autonegotiation. The link starts down.
//! 2. Every second or so, [`Genet::poll_link`]; it programs the MAC on each change and reports it
//!    (start DHCP after the first `Up`).
//! 3. Hand the driver to smoltcp as a [`smoltcp::phy::Device`] and poll the interface.
//! 4. Optionally, [`Genet::unmask_interrupts`] with [`InterruptStatus::RX_DMA_MBDONE`] |
//!    [`InterruptStatus::TX_DMA_MBDONE`] and, in the INTID 189 handler, call
//!    [`Genet::acknowledge_interrupts`] and wake the network loop. Link interrupts do not fire on
//!    the Pi 4 (docs/bcm2711.md §6.5): keep polling the PHY.
//!
//! # Kernel glue, in outline (`src/kernel/drivers/genet.rs`)
//!
//! ```text
//! struct GenetMmio { base: *mut u32 }              // 0xFD58_0000, mapped Device-nGnRE
//! impl RegisterAccess for GenetMmio {
//!     fn read32(&mut self, offset) -> u32 { SAFETY: offset < 0x1_0000, aligned, mapped: read_volatile(base.byte_add(offset)) }
//!     fn write32(&mut self, offset, value) { likewise write_volatile }
//! }
//! struct DmaPool { virtual_base: *mut u8, physical_base: u64 }  // 256 × 2048 bytes, 64-aligned, < 1 GiB, never freed
//! impl DmaBuffers for DmaPool {
//!     buffer_address(i)          = physical_base + i × 2048
//!     clean_for_device(i, n)     = for each 64-byte line of [i × 2048, i × 2048 + n): DC CIVAC; then DSB SY
//!     invalidate_for_cpu(i, n)   = for each line: DC IVAC (or CIVAC); then DSB SY
//!     bytes(i) / bytes_mut(i)    = slice::from_raw_parts(virtual_base + i × 2048, 2048)
//! }
//! struct GenericTimerClock;  // now_us from CNTPCT_EL0 / CNTFRQ_EL0; delay_us spins on it
//! let nic = Genet::new(GenetMmio { .. }, rx_pool, tx_pool, GenericTimerClock, GenetConfig::new(mac))?;
//! ```
//!
//! The two pools must be distinct memory (1 MiB in all). Round `n` out to whole lines; the
//! buffers own their lines, so maintenance of a whole buffer is always safe.

mod device;
pub mod mdio;
pub mod phy;
pub mod registers;
pub mod ring;

#[cfg(test)]
mod link_tests;
#[cfg(test)]
mod model;
#[cfg(test)]
mod tests;

use core::cell::RefCell;

use mdio::Mdio;
use phy::{Bcm54213pe, Duplex, LinkSettings, LinkState, PhyError, Speed};
use registers::*;
use ring::{InconsistentIndex, RING_LENGTH, ReceiveRing, TransmitRing};

pub use device::{GenetRxToken, GenetTxToken};
pub use registers::InterruptStatus;

use crate::nic::rules::{STANDARD_FRAME_BYTES, TransmitDrops};

/// 32-bit access to the GENET register block.
///
/// Implementation contract (the kernel's, since this library cannot contain `unsafe`): `offset`
/// is a byte offset from the block base; every call is exactly one 32-bit volatile access in
/// program order with respect to the other calls, to memory mapped Device-nGnRE.
pub trait RegisterAccess {
    /// Reads the 32-bit register at `offset`.
    fn read32(&mut self, offset: usize) -> u32;
    /// Writes the 32-bit register at `offset`.
    fn write32(&mut self, offset: usize, value: u32);
}

/// A monotonic microsecond clock with a busy-wait delay.
pub trait Clock {
    /// Microseconds since an arbitrary fixed point; never goes backwards.
    fn now_us(&self) -> u64;
    /// Waits at least `duration_us` microseconds.
    fn delay_us(&mut self, duration_us: u32);
}

/// Number of buffers in each pool: one per descriptor.
pub const BUFFERS_PER_POOL: usize = RING_LENGTH as usize;
/// Size of each DMA buffer (docs/bcm2711.md §6.3: RING_BUF_SIZE buffer length 2048).
pub const BUFFER_SIZE_BYTES: usize = 2048;
/// Required alignment of each buffer: the Cortex-A72 cache line (docs/bcm2711.md §7).
pub const BUFFER_ALIGNMENT_BYTES: u64 = 64;
/// Highest physical address (exclusive) a buffer may use: the MAC sees RAM below 1 GiB safely
/// (docs/bcm2711.md §2).
pub const DMA_ADDRESS_LIMIT: u64 = 1 << 30;
/// Bytes the MAC puts before each received frame with RBUF_CTRL.ALIGN_2B (docs/bcm2711.md §6.2).
pub const RECEIVE_PAD_BYTES: usize = 2;
/// Ethernet MTU as smoltcp counts it: the frame without FCS (1500 + 14-byte header).
pub const MAXIMUM_FRAME_BYTES: usize = STANDARD_FRAME_BYTES;
/// Shortest frame without FCS; shorter frames are padded with zeros (IEEE 802.3 §4.2.3.3).
pub const MINIMUM_FRAME_BYTES: usize = 60;
/// Shortest frame the receive path accepts (an Ethernet header).
const ETHERNET_HEADER_BYTES: usize = 14;
/// Wait after reset and flush pulses (U-Boot: `udelay(10)`).
const RESET_PULSE_US: u32 = 10;
/// Wait with the UMAC in software reset (U-Boot: `udelay(2)`).
const UMAC_RESET_US: u32 = 2;

// The descriptor length field is 12 bits; the buffer length must fit.
const _: () = assert!(BUFFER_SIZE_BYTES <= DescriptorStatus::LENGTH_MASK as usize + 1);
const _: () = assert!(BUFFER_SIZE_BYTES.is_multiple_of(BUFFER_ALIGNMENT_BYTES as usize));

/// One pool of DMA buffers, owned by the kernel; the driver names buffers by index
/// (`0..BUFFERS_PER_POOL`), and descriptor *i* always uses buffer *i*.
///
/// Implementation contract: every index below [`BUFFERS_PER_POOL`] names a distinct buffer of at
/// least [`BUFFER_SIZE_BYTES`] bytes at a fixed physical address, 64-byte aligned, below
/// [`DMA_ADDRESS_LIMIT`], sharing no cache line with other data; [`DmaBuffers::bytes`] and
/// [`DmaBuffers::bytes_mut`] return the CPU view of exactly that memory. The memory must outlive
/// the driver *and* any DMA the MAC may still do: after dropping the driver, stop the MAC (or
/// reset it) before reusing the pool. Out-of-range indices are never passed.
pub trait DmaBuffers {
    /// Physical address of buffer `index` as the MAC sees it.
    fn buffer_address(&self, index: usize) -> u64;
    /// Makes the first `length_bytes` of buffer `index` visible to the device and leaves no line
    /// of it dirty or valid in the cache: `DC CIVAC` per line, then `DSB SY`.
    fn clean_for_device(&mut self, index: usize, length_bytes: usize);
    /// Discards cached copies of the first `length_bytes` of buffer `index` so the CPU reads what
    /// the device wrote: `DC IVAC` (or `CIVAC`) per line, then `DSB SY`.
    fn invalidate_for_cpu(&mut self, index: usize, length_bytes: usize);
    /// The CPU view of buffer `index`.
    fn bytes(&self, index: usize) -> &[u8];
    /// The CPU view of buffer `index`, writable.
    fn bytes_mut(&mut self, index: usize) -> &mut [u8];
}

/// Settings for [`Genet::new`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GenetConfig {
    /// The station address to program (docs/bcm2711.md §8).
    pub mac_address: [u8; 6],
    /// MDIO address of the PHY ([`phy::DEFAULT_PHY_ADDRESS`] on the Pi 4).
    pub phy_address: u8,
    /// Longest wait for one MDIO frame.
    pub mdio_timeout_us: u64,
}

impl GenetConfig {
    /// The Raspberry Pi 4 defaults with the given MAC address.
    pub fn new(mac_address: [u8; 6]) -> Self {
        Self {
            mac_address,
            phy_address: phy::DEFAULT_PHY_ADDRESS,
            mdio_timeout_us: mdio::DEFAULT_TIMEOUT_US,
        }
    }
}

/// Why the driver failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GenetError {
    /// SYS_REV_CTRL does not say GENET v5 (major 6).
    UnsupportedRevision {
        /// The register as read.
        rev_ctrl: u32,
    },
    /// The PHY did not answer or is not a BCM54213PE.
    Phy(PhyError),
    /// A buffer of a pool breaks the [`DmaBuffers`] contract.
    UnusableBuffer {
        /// Receive (`true`) or transmit pool.
        receive_pool: bool,
        /// The buffer index.
        index: usize,
        /// Its physical address.
        address: u64,
        /// Its CPU-view length.
        length_bytes: usize,
    },
    /// The hardware reported an index that cannot be right (docs/bcm2711.md §6.4).
    InconsistentIndex {
        /// Receive (`true`) or transmit ring.
        receive_ring: bool,
        /// The index values.
        index: InconsistentIndex,
    },
}

impl From<PhyError> for GenetError {
    fn from(error: PhyError) -> Self {
        GenetError::Phy(error)
    }
}

/// Counters kept by the driver.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Statistics {
    /// Frames passed up.
    pub receive_frames: u64,
    /// Bytes passed up (without pad or FCS).
    pub receive_bytes: u64,
    /// Frames dropped for an error bit in the descriptor (CRC, overrun, RXER, non-octet, long).
    pub receive_errors: u64,
    /// Frames dropped because they did not fit one buffer or were too short (no SOP/EOP, length).
    pub receive_malformed: u64,
    /// Frames the MAC dropped for lack of a free buffer (RDMA_PROD_INDEX DISCARD_CNT).
    pub receive_discarded: u64,
    /// Frames handed to the DMA.
    pub transmit_frames: u64,
    /// Bytes handed to the DMA (after padding, without FCS).
    pub transmit_bytes: u64,
    /// Frames dropped: ring full, link down, longer than the MTU, or abandoned at link loss.
    pub transmit_dropped: u64,
    /// Times the hardware reported an impossible ring index through the smoltcp API (which has
    /// no way to return the error; [`Genet::receive_frame`] and [`Genet::reclaim_transmitted`]
    /// return it). A growing count means the MAC needs a reset.
    pub index_faults: u64,
}

/// Reads the station address the MAC holds now (docs/bcm2711.md §8 source 3: QEMU preloads it; the
/// firmware may have left one).
pub fn read_mac_address<R: RegisterAccess>(registers: &mut R) -> [u8; 6] {
    let high = registers.read32(UMAC_MAC0).to_be_bytes();
    let low = registers.read32(UMAC_MAC1).to_be_bytes();
    [high[0], high[1], high[2], high[3], low[2], low[3]]
}

/// The receive half: its buffer pool, ring state and counters.
struct ReceivePath<B> {
    buffers: B,
    ring: ReceiveRing,
    last_discard_count: u16,
    frames: u64,
    bytes: u64,
    errors: u64,
    malformed: u64,
    discarded: u64,
    index_faults: u64,
}

/// The transmit half: its buffer pool, ring state, counters, and where frames that must be
/// dropped go (smoltcp still needs somewhere to write them: `rules::TransmitDrops`).
struct TransmitPath<B> {
    buffers: B,
    ring: TransmitRing,
    link_up: bool,
    drops: TransmitDrops,
    frames: u64,
    bytes: u64,
    index_faults: u64,
}

/// The GENET v5 driver: MAC, both DMA rings on ring 16 and the BCM54213PE PHY.
pub struct Genet<R: RegisterAccess, B: DmaBuffers, C: Clock> {
    registers: RefCell<R>,
    clock: C,
    phy: Bcm54213pe,
    mac_address: [u8; 6],
    dma_enabled: bool,
    receive: ReceivePath<B>,
    transmit: TransmitPath<B>,
}

impl<R: RegisterAccess, B: DmaBuffers, C: Clock> Genet<R, B, C> {
    /// Probes, resets and initialises the MAC and both rings, checks the PHY and restarts
    /// autonegotiation (docs/bcm2711.md §6.3 steps 1–8). The link is down until
    /// [`Genet::poll_link`] reports it up.
    pub fn new(
        mut registers: R,
        receive_buffers: B,
        transmit_buffers: B,
        mut clock: C,
        config: GenetConfig,
    ) -> Result<Self, GenetError> {
        check_pool(&receive_buffers, true)?;
        check_pool(&transmit_buffers, false)?;

        // Step 1: probe. GENET v5 reports major revision 6 (v4 reports 5).
        let rev_ctrl = registers.read32(SYS_REV_CTRL);
        if (rev_ctrl >> REV_MAJOR_SHIFT) & REV_MAJOR_MASK != REV_MAJOR_GENET_V5 {
            return Err(GenetError::UnsupportedRevision { rev_ctrl });
        }
        registers.write32(SYS_PORT_CTRL, PORT_MODE_EXTERNAL_GIGABIT_PHY);
        registers.write32(SYS_RBUF_FLUSH_CTRL, 0);
        clock.delay_us(RESET_PULSE_US);
        registers.write32(UMAC_CMD, 0);
        // Local loopback keeps the RX clock stable while the UMAC is in reset (U-Boot).
        registers.write32(UMAC_CMD, UmacCommand::SW_RESET | UmacCommand::LCL_LOOP_EN);

        // Step 2: UMAC reset.
        let flush = registers.read32(SYS_RBUF_FLUSH_CTRL);
        registers.write32(SYS_RBUF_FLUSH_CTRL, flush | RBUF_FLUSH_RESET);
        clock.delay_us(RESET_PULSE_US);
        registers.write32(SYS_RBUF_FLUSH_CTRL, flush & !RBUF_FLUSH_RESET);
        clock.delay_us(RESET_PULSE_US);
        registers.write32(SYS_RBUF_FLUSH_CTRL, 0);
        clock.delay_us(RESET_PULSE_US);
        registers.write32(UMAC_CMD, 0);
        registers.write32(UMAC_CMD, UmacCommand::SW_RESET | UmacCommand::LCL_LOOP_EN);
        clock.delay_us(UMAC_RESET_US);
        registers.write32(UMAC_CMD, 0);
        registers.write32(UMAC_MIB_CTRL, MIB_RESET_ALL);
        registers.write32(UMAC_MIB_CTRL, 0);
        registers.write32(UMAC_MAX_FRAME_LEN, MAX_FRAME_LENGTH_BYTES);
        let rbuf_ctrl = registers.read32(RBUF_CTRL);
        // No status block: the frame starts right after the 2-byte pad.
        registers.write32(RBUF_CTRL, (rbuf_ctrl | RBUF_ALIGN_2B) & !RBUF_64B_EN);
        registers.write32(RBUF_TBUF_SIZE_CTRL, 1);

        // Step 3: station address.
        write_mac_address(&mut registers, config.mac_address);

        // Interrupts: all masked and cleared until the kernel asks for some (Linux).
        for block in [INTRL2_0, INTRL2_1] {
            registers.write32(block + INTRL2_CPU_MASK_SET, u32::MAX);
            registers.write32(block + INTRL2_CPU_CLEAR, u32::MAX);
        }

        // Step 4: stop both DMA engines and flush the transmit path.
        stop_dma(&mut registers, &mut clock);

        // Steps 5 and 6: the rings, adopting the hardware-owned indices.
        let mut receive_buffers = receive_buffers;
        let receive_ring = init_receive_ring(&mut registers, &mut receive_buffers);
        let last_discard_count =
            (registers.read32(RDMA_RING16 + RING_HARDWARE_INDEX) >> DISCARD_COUNT_SHIFT) as u16;
        let transmit_ring = init_transmit_ring(&mut registers, &transmit_buffers);

        // Step 7: enable DMA.
        enable_dma(&mut registers);

        // Step 8: the PHY. The MAC's TX/RX enables wait for the link (poll_link).
        let mut phy = Bcm54213pe::new(
            Mdio {
                timeout_us: config.mdio_timeout_us,
            },
            config.phy_address,
        );
        phy.identify(&mut registers, &mut clock)?;
        phy.start_autonegotiation(&mut registers, &mut clock)?;

        Ok(Self {
            registers: RefCell::new(registers),
            clock,
            phy,
            mac_address: config.mac_address,
            dma_enabled: true,
            receive: ReceivePath {
                buffers: receive_buffers,
                ring: receive_ring,
                last_discard_count,
                frames: 0,
                bytes: 0,
                errors: 0,
                malformed: 0,
                discarded: 0,
                index_faults: 0,
            },
            transmit: TransmitPath {
                buffers: transmit_buffers,
                ring: transmit_ring,
                link_up: false,
                drops: TransmitDrops::new(BUFFER_SIZE_BYTES),
                frames: 0,
                bytes: 0,
                index_faults: 0,
            },
        })
    }

    /// The station address programmed into the MAC.
    pub fn mac_address(&self) -> [u8; 6] {
        self.mac_address
    }

    /// The link state after the last [`Genet::poll_link`].
    pub fn link_state(&self) -> LinkState {
        self.phy.state()
    }

    /// The driver's counters, with the MAC's discard count brought up to date.
    pub fn statistics(&mut self) -> Statistics {
        let produced = self
            .registers
            .get_mut()
            .read32(RDMA_RING16 + RING_HARDWARE_INDEX);
        self.receive.account_discards(produced);
        Statistics {
            receive_frames: self.receive.frames,
            receive_bytes: self.receive.bytes,
            receive_errors: self.receive.errors,
            receive_malformed: self.receive.malformed,
            receive_discarded: self.receive.discarded,
            transmit_frames: self.transmit.frames,
            transmit_bytes: self.transmit.bytes,
            transmit_dropped: self.transmit.drops.dropped_frames(),
            index_faults: self.receive.index_faults + self.transmit.index_faults,
        }
    }

    /// Polls the PHY once (call about once a second) and, on a change, programs the MAC:
    /// up → RGMII and UMAC_CMD speed/duplex/pause, DMA on, TX/RX on (docs/bcm2711.md §6.7);
    /// down → TX/RX off, DMA stopped, TX flushed and untransmitted frames dropped (§6.8).
    /// Returns the new state when it changed.
    pub fn poll_link(&mut self) -> Result<Option<LinkState>, GenetError> {
        let registers = self.registers.get_mut();
        let change = self.phy.poll(registers, &mut self.clock)?;
        match change {
            Some(LinkState::Up(settings)) => self.link_up(settings),
            Some(LinkState::Down) => self.link_down()?,
            None => {}
        }
        Ok(change)
    }

    fn link_up(&mut self, settings: LinkSettings) {
        let registers = self.registers.get_mut();
        let oob = registers.read32(EXT_RGMII_OOB_CTRL);
        registers.write32(
            EXT_RGMII_OOB_CTRL,
            (oob & !OOB_DISABLE) | RGMII_LINK | RGMII_MODE_EN | ID_MODE_DIS,
        );
        let command = umac_command_for(registers.read32(UMAC_CMD), settings);
        registers.write32(UMAC_CMD, command);
        if !self.dma_enabled {
            enable_dma(registers);
            self.dma_enabled = true;
        }
        registers.write32(UMAC_CMD, command | UmacCommand::TX_EN | UmacCommand::RX_EN);
        self.transmit.link_up = true;
    }

    fn link_down(&mut self) -> Result<(), GenetError> {
        let registers = self.registers.get_mut();
        let command = registers.read32(UMAC_CMD);
        registers.write32(
            UMAC_CMD,
            command & !(UmacCommand::TX_EN | UmacCommand::RX_EN),
        );
        let oob = registers.read32(EXT_RGMII_OOB_CTRL);
        registers.write32(EXT_RGMII_OOB_CTRL, oob & !RGMII_LINK);
        stop_dma(registers, &mut self.clock);
        self.dma_enabled = false;
        // The software-owned producer index goes back to where the DMA stopped, so descriptors
        // that were queued but not sent are not sent when DMA restarts (docs/bcm2711.md §6.8).
        let consumed = (registers.read32(TDMA_RING16 + RING_HARDWARE_INDEX) & INDEX_MASK) as u16;
        let in_flight_before = self.transmit.ring.in_flight();
        let completed = consumed.wrapping_sub(self.transmit.ring.consumer());
        if completed > in_flight_before {
            return Err(GenetError::InconsistentIndex {
                receive_ring: false,
                index: InconsistentIndex {
                    software_index: self.transmit.ring.producer(),
                    hardware_index: consumed,
                },
            });
        }
        let dropped = self.transmit.ring.abandon(consumed);
        registers.write32(TDMA_RING16 + RING_SOFTWARE_INDEX, u32::from(consumed));
        self.transmit.drops.count(u64::from(dropped));
        self.transmit.link_up = false;
        Ok(())
    }

    /// Reads the pending, unmasked INTRL2_0 bits and acknowledges them (Linux: status =
    /// CPU_STAT & ~CPU_MASK_STATUS, written to CPU_CLEAR). Call from the interrupt handler.
    pub fn acknowledge_interrupts(&mut self) -> InterruptStatus {
        let registers = self.registers.get_mut();
        let status = registers.read32(INTRL2_0 + INTRL2_CPU_STAT)
            & !registers.read32(INTRL2_0 + INTRL2_CPU_MASK_STATUS);
        if status != 0 {
            registers.write32(INTRL2_0 + INTRL2_CPU_CLEAR, status);
        }
        InterruptStatus(status)
    }

    /// Unmasks the given INTRL2_0 bits ([`InterruptStatus`] constants).
    pub fn unmask_interrupts(&mut self, bits: u32) {
        self.registers
            .get_mut()
            .write32(INTRL2_0 + INTRL2_CPU_MASK_CLEAR, bits);
    }

    /// Masks the given INTRL2_0 bits.
    pub fn mask_interrupts(&mut self, bits: u32) {
        self.registers
            .get_mut()
            .write32(INTRL2_0 + INTRL2_CPU_MASK_SET, bits);
    }

    /// Reclaims transmit descriptors the DMA has finished with; returns how many.
    pub fn reclaim_transmitted(&mut self) -> Result<u16, GenetError> {
        self.transmit.reclaim(self.registers.get_mut())
    }

    /// Free transmit descriptors as of the last reclaim.
    pub fn free_transmit_descriptors(&self) -> u16 {
        self.transmit.ring.free()
    }

    /// Receives one frame, if any, and passes it (without pad and FCS) to `consume`. Frames
    /// with error bits are dropped and counted on the way. The smoltcp [`smoltcp::phy::Device`] API does the
    /// same through tokens.
    pub fn receive_frame<T>(
        &mut self,
        consume: impl FnOnce(&[u8]) -> T,
    ) -> Result<Option<T>, GenetError> {
        let registers = &self.registers;
        // Bound first, so the register borrow ends before `consume` runs.
        let next = self.receive.next_frame(&mut *registers.borrow_mut());
        match next? {
            Some(frame) => Ok(Some(self.receive.consume(registers, frame, consume))),
            None => Ok(None),
        }
    }

    /// Sends one frame of `length_bytes` that `fill` writes. Returns `fill`'s result; the frame
    /// is dropped (and counted) when the ring is full, the link is down or it is longer than
    /// [`MAXIMUM_FRAME_BYTES`].
    pub fn transmit_frame<T>(
        &mut self,
        length_bytes: usize,
        fill: impl FnOnce(&mut [u8]) -> T,
    ) -> T {
        self.transmit.send(&self.registers, length_bytes, fill)
    }
}

/// UMAC_CMD for the negotiated link (docs/bcm2711.md §6.7), TX/RX enables cleared.
fn umac_command_for(current: u32, settings: LinkSettings) -> u32 {
    let speed = match settings.speed {
        Speed::Megabits10 => UmacCommand::SPEED_10,
        Speed::Megabits100 => UmacCommand::SPEED_100,
        Speed::Megabits1000 => UmacCommand::SPEED_1000,
    };
    let mut command = current
        & !(UmacCommand::SPEED_MASK
            | UmacCommand::HD_EN
            | UmacCommand::RX_PAUSE_IGNORE
            | UmacCommand::TX_PAUSE_IGNORE
            | UmacCommand::TX_EN
            | UmacCommand::RX_EN
            | UmacCommand::SW_RESET
            | UmacCommand::LCL_LOOP_EN);
    command |= speed << UmacCommand::SPEED_SHIFT;
    if settings.duplex == Duplex::Half {
        command |= UmacCommand::HD_EN;
    }
    if !settings.receive_pause {
        command |= UmacCommand::RX_PAUSE_IGNORE;
    }
    if !settings.transmit_pause {
        command |= UmacCommand::TX_PAUSE_IGNORE;
    }
    command
}

fn write_mac_address<R: RegisterAccess>(registers: &mut R, mac: [u8; 6]) {
    registers.write32(
        UMAC_MAC0,
        u32::from_be_bytes([mac[0], mac[1], mac[2], mac[3]]),
    );
    registers.write32(UMAC_MAC1, u32::from_be_bytes([0, 0, mac[4], mac[5]]));
}

/// docs/bcm2711.md §6.3 step 4 (and §6.8 after link loss): DMA off on both sides (Linux also clears
/// RING_BUF_EN), then pulse UMAC_TX_FLUSH.
fn stop_dma<R: RegisterAccess, C: Clock>(registers: &mut R, clock: &mut C) {
    for common in [TDMA_COMMON, RDMA_COMMON] {
        let control = registers.read32(common + DMA_CTRL);
        registers.write32(common + DMA_CTRL, control & !(DMA_EN | DMA_RING16_BUF_EN));
    }
    registers.write32(UMAC_TX_FLUSH, 1);
    clock.delay_us(RESET_PULSE_US);
    registers.write32(UMAC_TX_FLUSH, 0);
}

/// docs/bcm2711.md §6.3 step 7.
fn enable_dma<R: RegisterAccess>(registers: &mut R) {
    registers.write32(TDMA_COMMON + DMA_CTRL, DMA_EN | DMA_RING16_BUF_EN);
    let control = registers.read32(RDMA_COMMON + DMA_CTRL);
    registers.write32(RDMA_COMMON + DMA_CTRL, control | DMA_EN | DMA_RING16_BUF_EN);
}

const RING_BUF_SIZE_VALUE: u32 = ((RING_LENGTH as u32) << 16) | BUFFER_SIZE_BYTES as u32;

/// Points the descriptor at `base` to the DMA buffer at `address`: the low word, then bits
/// 39:32 in the high word (the DMA addresses 40 bits), in that order, as the hardware reads them.
fn write_descriptor_address<R: RegisterAccess>(registers: &mut R, base: usize, address: u64) {
    registers.write32(base + DESCRIPTOR_ADDRESS_LO, address as u32);
    registers.write32(
        base + DESCRIPTOR_ADDRESS_HI,
        ((address >> 32) & 0xFF) as u32,
    );
}

/// docs/bcm2711.md §6.3 step 5: ring 16 spans all descriptors; adopt RDMA_PROD_INDEX; hand every
/// buffer to the MAC.
fn init_receive_ring<R: RegisterAccess, B: DmaBuffers>(
    registers: &mut R,
    buffers: &mut B,
) -> ReceiveRing {
    registers.write32(RDMA_COMMON + DMA_SCB_BURST_SIZE, SCB_BURST_SIZE_BCM2711);
    registers.write32(RDMA_RING16 + RING_START_ADDR, 0);
    registers.write32(RDMA_RING16 + RING_CPU_POINTER, 0);
    registers.write32(RDMA_RING16 + RING_DMA_POINTER, 0);
    registers.write32(RDMA_RING16 + RING_END_ADDR, RING_END_WORD);
    // U-Boot: the producer index cannot be reset to 0, so the consumer starts where it is.
    let produced = (registers.read32(RDMA_RING16 + RING_HARDWARE_INDEX) & INDEX_MASK) as u16;
    registers.write32(RDMA_RING16 + RING_SOFTWARE_INDEX, u32::from(produced));
    registers.write32(RDMA_RING16 + RING_BUF_SIZE, RING_BUF_SIZE_VALUE);
    registers.write32(RDMA_RING16 + RDMA_XON_XOFF_THRESH, RX_XON_XOFF_THRESHOLD);
    registers.write32(RDMA_COMMON + DMA_RING_CFG, DMA_RING16_CFG);
    for index in 0..BUFFERS_PER_POOL {
        buffers.clean_for_device(index, BUFFER_SIZE_BYTES);
        let address = buffers.buffer_address(index);
        let base = descriptor_offset(RDMA_BASE, index);
        write_descriptor_address(registers, base, address);
        registers.write32(
            base + DESCRIPTOR_LENGTH_STATUS,
            ((BUFFER_SIZE_BYTES as u32) << DescriptorStatus::LENGTH_SHIFT) | DescriptorStatus::OWN,
        );
    }
    ReceiveRing::adopt(produced)
}

/// docs/bcm2711.md §6.3 step 6: ring 16 spans all descriptors; adopt TDMA_CONS_INDEX.
fn init_transmit_ring<R: RegisterAccess, B: DmaBuffers>(
    registers: &mut R,
    buffers: &B,
) -> TransmitRing {
    registers.write32(TDMA_COMMON + DMA_SCB_BURST_SIZE, SCB_BURST_SIZE_BCM2711);
    registers.write32(TDMA_RING16 + RING_START_ADDR, 0);
    registers.write32(TDMA_RING16 + RING_DMA_POINTER, 0);
    registers.write32(TDMA_RING16 + RING_CPU_POINTER, 0);
    registers.write32(TDMA_RING16 + RING_END_ADDR, RING_END_WORD);
    let consumed = (registers.read32(TDMA_RING16 + RING_HARDWARE_INDEX) & INDEX_MASK) as u16;
    registers.write32(TDMA_RING16 + RING_SOFTWARE_INDEX, u32::from(consumed));
    registers.write32(TDMA_RING16 + TDMA_MBUF_DONE_THRESH, 1);
    registers.write32(TDMA_RING16 + TDMA_FLOW_PERIOD, 0);
    registers.write32(TDMA_RING16 + RING_BUF_SIZE, RING_BUF_SIZE_VALUE);
    registers.write32(TDMA_COMMON + DMA_RING_CFG, DMA_RING16_CFG);
    for index in 0..BUFFERS_PER_POOL {
        let address = buffers.buffer_address(index);
        let base = descriptor_offset(TDMA_BASE, index);
        write_descriptor_address(registers, base, address);
        registers.write32(base + DESCRIPTOR_LENGTH_STATUS, 0);
    }
    TransmitRing::adopt(consumed)
}

fn check_pool<B: DmaBuffers>(buffers: &B, receive_pool: bool) -> Result<(), GenetError> {
    for index in 0..BUFFERS_PER_POOL {
        let address = buffers.buffer_address(index);
        let length_bytes = buffers.bytes(index).len();
        let aligned = address % BUFFER_ALIGNMENT_BYTES == 0;
        let below_limit = address
            .checked_add(BUFFER_SIZE_BYTES as u64)
            .is_some_and(|end| end <= DMA_ADDRESS_LIMIT);
        if !aligned || !below_limit || length_bytes < BUFFER_SIZE_BYTES {
            return Err(GenetError::UnusableBuffer {
                receive_pool,
                index,
                address,
                length_bytes,
            });
        }
    }
    Ok(())
}
