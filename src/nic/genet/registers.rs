//! GENET v5 register offsets and bit fields (Broadcom BCM2711 Ethernet MAC), from
//! `docs/bcm2711.md` §6.1–§6.2.
//!
//! Offsets are bytes from the block base (ARM physical 0xFD58_0000 on the Raspberry Pi 4). The
//! sources are the Linux driver's `bcmgenet.h` (authoritative definitions), U-Boot's
//! `drivers/net/bcmgenet.c` and Circle's `lib/bcm54213.cpp`, as summarised in `docs/bcm2711.md` §6.
//! Only the registers this driver touches are named.

// ---- SYS block (docs/bcm2711.md §6.1, row "SYS", offset 0x0000) --------------------------------

/// SYS_REV_CTRL: bits 27:24 major revision (6 = GENET v5), 19:16 minor.
pub const SYS_REV_CTRL: usize = 0x0000;
/// SYS_PORT_CTRL: port mode; 3 selects an external gigabit PHY.
pub const SYS_PORT_CTRL: usize = 0x0004;
/// SYS_RBUF_FLUSH_CTRL: bit 1 pulses the RBUF/UMAC reset.
pub const SYS_RBUF_FLUSH_CTRL: usize = 0x0008;
/// SYS_TBUF_FLUSH_CTRL: TX buffer flush control.
pub const SYS_TBUF_FLUSH_CTRL: usize = 0x000C;

/// Shift of the major revision in SYS_REV_CTRL.
pub const REV_MAJOR_SHIFT: u32 = 24;
/// Mask (after shifting) of the major revision in SYS_REV_CTRL.
pub const REV_MAJOR_MASK: u32 = 0xF;
/// The major revision number that identifies GENET v5 (5 would be v4).
pub const REV_MAJOR_GENET_V5: u32 = 6;
/// SYS_PORT_CTRL value for an external gigabit PHY over RGMII.
pub const PORT_MODE_EXTERNAL_GIGABIT_PHY: u32 = 3;
/// SYS_RBUF_FLUSH_CTRL bit 1: RBUF/UMAC reset.
pub const RBUF_FLUSH_RESET: u32 = 1 << 1;

// ---- EXT block (offset 0x0080) --------------------------------------------------------------

/// EXT_RGMII_OOB_CTRL: RGMII link, mode and out-of-band signalling.
pub const EXT_RGMII_OOB_CTRL: usize = 0x008C;
/// EXT_RGMII_OOB_CTRL bit 4: tell the MAC the RGMII link is up.
pub const RGMII_LINK: u32 = 1 << 4;
/// EXT_RGMII_OOB_CTRL bit 5: disable out-of-band link status (we clear it).
pub const OOB_DISABLE: u32 = 1 << 5;
/// EXT_RGMII_OOB_CTRL bit 6: RGMII mode enable.
pub const RGMII_MODE_EN: u32 = 1 << 6;
/// EXT_RGMII_OOB_CTRL bit 16: disable the MAC's internal delay (ID) mode (U-Boot and Circle set it).
pub const ID_MODE_DIS: u32 = 1 << 16;

// ---- Level-2 interrupt controllers (docs/bcm2711.md §6.1 and §6.5) -----------------------------

/// INTRL2_0 base (SPI 157): link, ring-16 DMA done, MDIO.
pub const INTRL2_0: usize = 0x0200;
/// INTRL2_1 base (SPI 158): per-ring done bits of rings 0–15.
pub const INTRL2_1: usize = 0x0240;
/// Offset of CPU_STAT inside an INTRL2 block: raw pending status.
pub const INTRL2_CPU_STAT: usize = 0x00;
/// Offset of CPU_SET inside an INTRL2 block.
pub const INTRL2_CPU_SET: usize = 0x04;
/// Offset of CPU_CLEAR inside an INTRL2 block: write ones to acknowledge.
pub const INTRL2_CPU_CLEAR: usize = 0x08;
/// Offset of CPU_MASK_STATUS inside an INTRL2 block: ones are masked.
pub const INTRL2_CPU_MASK_STATUS: usize = 0x0C;
/// Offset of CPU_MASK_SET inside an INTRL2 block: write ones to mask.
pub const INTRL2_CPU_MASK_SET: usize = 0x10;
/// Offset of CPU_MASK_CLEAR inside an INTRL2 block: write ones to unmask.
pub const INTRL2_CPU_MASK_CLEAR: usize = 0x14;

// ---- RBUF / TBUF (offsets 0x0300 / 0x0600) --------------------------------------------------

/// RBUF_CTRL: bit 0 64-byte status block, bit 1 ALIGN_2B, bit 2 BAD_DIS.
pub const RBUF_CTRL: usize = 0x0300;
/// RBUF_CTRL bit 1: insert two pad bytes before each received frame so the IP header is aligned.
pub const RBUF_ALIGN_2B: u32 = 1 << 1;
/// RBUF_CTRL bit 0: prepend a 64-byte receive status block (this driver leaves it off).
pub const RBUF_64B_EN: u32 = 1 << 0;
/// RBUF_CHK_CTRL: bit 0 enables receive checksum checking.
pub const RBUF_CHK_CTRL: usize = 0x0314;
/// RBUF_TBUF_SIZE_CTRL: written 1 (U-Boot, Linux for v4+).
pub const RBUF_TBUF_SIZE_CTRL: usize = 0x03B4;
/// TBUF_CTRL: bit 0 enables the 64-byte TX status block (left off).
pub const TBUF_CTRL: usize = 0x0600;

// ---- UMAC (offset 0x0800) -------------------------------------------------------------------

/// UMAC_CMD: the MAC command register, fields in [`UmacCommand`].
pub const UMAC_CMD: usize = 0x0808;
/// UMAC_MAC0: MAC address bytes 0–3, byte 0 in bits 31:24.
pub const UMAC_MAC0: usize = 0x080C;
/// UMAC_MAC1: MAC address bytes 4–5 in bits 15:0.
pub const UMAC_MAC1: usize = 0x0810;
/// UMAC_MAX_FRAME_LEN: largest frame accepted, in bytes.
pub const UMAC_MAX_FRAME_LEN: usize = 0x0814;
/// UMAC_TX_FLUSH: write 1, wait, write 0 to flush the transmit path.
pub const UMAC_TX_FLUSH: usize = 0x0B34;
/// UMAC_MIB_CTRL: bits 0 RX, 1 RUNT, 2 TX counter reset.
pub const UMAC_MIB_CTRL: usize = 0x0D80;
/// UMAC_MIB_CTRL value that resets the RX, runt and TX counters.
pub const MIB_RESET_ALL: u32 = 0b111;
/// MDIO_CMD: Clause 22 management frames, fields in [`crate::nic::genet::mdio`].
pub const MDIO_CMD: usize = 0x0E14;

/// Maximum frame length programmed into UMAC_MAX_FRAME_LEN (U-Boot, Linux `ENET_MAX_MTU_SIZE`).
pub const MAX_FRAME_LENGTH_BYTES: u32 = 1536;

/// The UMAC_CMD register as a value (docs/bcm2711.md §6.1 "UMAC_CMD").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct UmacCommand(pub u32);

impl UmacCommand {
    /// Bit 0: transmitter enable.
    pub const TX_EN: u32 = 1 << 0;
    /// Bit 1: receiver enable.
    pub const RX_EN: u32 = 1 << 1;
    /// Bits 3:2: speed, see [`UmacCommand::SPEED_1000`] and friends.
    pub const SPEED_SHIFT: u32 = 2;
    /// Mask of the speed field (unshifted).
    pub const SPEED_MASK: u32 = 0b11 << 2;
    /// Speed field value for 10 Mb/s.
    pub const SPEED_10: u32 = 0;
    /// Speed field value for 100 Mb/s.
    pub const SPEED_100: u32 = 1;
    /// Speed field value for 1000 Mb/s.
    pub const SPEED_1000: u32 = 2;
    /// Bit 4: promiscuous mode.
    pub const PROMISC: u32 = 1 << 4;
    /// Bit 5: pad short frames.
    pub const PAD_EN: u32 = 1 << 5;
    /// Bit 6: forward the FCS to the host.
    pub const CRC_FWD: u32 = 1 << 6;
    /// Bit 8: ignore received pause frames.
    pub const RX_PAUSE_IGNORE: u32 = 1 << 8;
    /// Bit 10: half duplex.
    pub const HD_EN: u32 = 1 << 10;
    /// Bit 13: software reset.
    pub const SW_RESET: u32 = 1 << 13;
    /// Bit 15: local loopback (keeps the RX clock running through reset).
    pub const LCL_LOOP_EN: u32 = 1 << 15;
    /// Bit 28: do not send pause frames.
    pub const TX_PAUSE_IGNORE: u32 = 1 << 28;

    /// The speed field (0 = 10, 1 = 100, 2 = 1000 Mb/s).
    pub fn speed_field(self) -> u32 {
        (self.0 & Self::SPEED_MASK) >> Self::SPEED_SHIFT
    }
}

// ---- DMA: descriptors, per-ring and common registers (docs/bcm2711.md §6.1, §6.2) ------------

/// Base of the receive DMA block (descriptors first).
pub const RDMA_BASE: usize = 0x2000;
/// Base of the transmit DMA block (descriptors first).
pub const TDMA_BASE: usize = 0x4000;
/// Number of descriptors in each direction's descriptor RAM.
pub const DESCRIPTOR_COUNT: usize = 256;
/// Size of one descriptor in bytes: LENGTH_STATUS, ADDRESS_LO, ADDRESS_HI.
pub const DESCRIPTOR_SIZE_BYTES: usize = 12;
/// Descriptor word offset: LENGTH_STATUS.
pub const DESCRIPTOR_LENGTH_STATUS: usize = 0x0;
/// Descriptor word offset: buffer address bits 31:0.
pub const DESCRIPTOR_ADDRESS_LO: usize = 0x4;
/// Descriptor word offset: buffer address bits 39:32.
pub const DESCRIPTOR_ADDRESS_HI: usize = 0x8;
/// Offset of the per-ring register blocks from the DMA base (ring 0).
pub const RING_REGISTERS_OFFSET: usize = 0x0C00;
/// Size of one per-ring register block.
pub const RING_REGISTERS_SIZE: usize = 0x40;
/// The default ring, which this driver uses for everything (U-Boot).
pub const DEFAULT_RING: usize = 16;
/// Offset of the common DMA registers from the DMA base (after 17 ring blocks).
pub const COMMON_REGISTERS_OFFSET: usize = 0x1040;

/// Offset of descriptor `index` of the DMA block at `dma_base`.
pub const fn descriptor_offset(dma_base: usize, index: usize) -> usize {
    dma_base + index * DESCRIPTOR_SIZE_BYTES
}

/// Offset of the register block of `ring` of the DMA block at `dma_base`.
pub const fn ring_offset(dma_base: usize, ring: usize) -> usize {
    dma_base + RING_REGISTERS_OFFSET + ring * RING_REGISTERS_SIZE
}

/// Per-ring register: TDMA_READ_PTR / RDMA_WRITE_PTR (descriptor-RAM word address).
pub const RING_DMA_POINTER: usize = 0x00;
/// Per-ring register: high bits of [`RING_DMA_POINTER`].
pub const RING_DMA_POINTER_HI: usize = 0x04;
/// Per-ring register: TDMA_CONS_INDEX / RDMA_PROD_INDEX, owned by the hardware.
pub const RING_HARDWARE_INDEX: usize = 0x08;
/// Per-ring register: TDMA_PROD_INDEX / RDMA_CONS_INDEX, owned by software.
pub const RING_SOFTWARE_INDEX: usize = 0x0C;
/// Per-ring register: 31:16 descriptor count, 15:0 buffer length.
pub const RING_BUF_SIZE: usize = 0x10;
/// Per-ring register: first descriptor-RAM word of the ring.
pub const RING_START_ADDR: usize = 0x14;
/// Per-ring register: high bits of [`RING_START_ADDR`].
pub const RING_START_ADDR_HI: usize = 0x18;
/// Per-ring register: last descriptor-RAM word of the ring.
pub const RING_END_ADDR: usize = 0x1C;
/// Per-ring register: high bits of [`RING_END_ADDR`].
pub const RING_END_ADDR_HI: usize = 0x20;
/// Per-ring register (TX): MBUF_DONE_THRESH.
pub const TDMA_MBUF_DONE_THRESH: usize = 0x24;
/// Per-ring register (TX): TDMA_FLOW_PERIOD.
pub const TDMA_FLOW_PERIOD: usize = 0x28;
/// Per-ring register (RX): RDMA_XON_XOFF_THRESH.
pub const RDMA_XON_XOFF_THRESH: usize = 0x28;
/// Per-ring register: TDMA_WRITE_PTR / RDMA_READ_PTR.
pub const RING_CPU_POINTER: usize = 0x2C;
/// Per-ring register: high bits of [`RING_CPU_POINTER`].
pub const RING_CPU_POINTER_HI: usize = 0x30;

/// Shift of DISCARD_CNT in RDMA_PROD_INDEX (bits 31:16: frames dropped for lack of a buffer).
pub const DISCARD_COUNT_SHIFT: u32 = 16;
/// Mask of the 16-bit producer/consumer index in the index registers.
pub const INDEX_MASK: u32 = 0xFFFF;
/// RDMA_XON_XOFF_THRESH for 256 descriptors: (5 << 16) | 16 (U-Boot).
pub const RX_XON_XOFF_THRESHOLD: u32 = (5 << 16) | 16;

/// Common register: RING_CFG (bit n enables ring n).
pub const DMA_RING_CFG: usize = 0x00;
/// Common register: DMA_CTRL (bit 0 EN, bit n+1 RING_BUF_EN for ring n).
pub const DMA_CTRL: usize = 0x04;
/// Common register: DMA_STATUS (bit 0 DISABLED).
pub const DMA_STATUS: usize = 0x08;
/// Common register: SCB_BURST_SIZE.
pub const DMA_SCB_BURST_SIZE: usize = 0x0C;
/// DMA_CTRL bit 0: DMA enable.
pub const DMA_EN: u32 = 1 << 0;
/// DMA_CTRL RING_BUF_EN bit of the default ring (ring 16 → bit 17).
pub const DMA_RING16_BUF_EN: u32 = 1 << (DEFAULT_RING + 1);
/// RING_CFG bit of the default ring.
pub const DMA_RING16_CFG: u32 = 1 << DEFAULT_RING;
/// DMA_STATUS bit 0: the engine has stopped.
pub const DMA_STATUS_DISABLED: u32 = 1 << 0;
/// SCB_BURST_SIZE for the BCM2711 (Linux `bcm2711_plat_data`).
pub const SCB_BURST_SIZE_BCM2711: u32 = 8;

/// Ring 16 registers of the receive DMA.
pub const RDMA_RING16: usize = ring_offset(RDMA_BASE, DEFAULT_RING);
/// Ring 16 registers of the transmit DMA.
pub const TDMA_RING16: usize = ring_offset(TDMA_BASE, DEFAULT_RING);
/// Common registers of the receive DMA.
pub const RDMA_COMMON: usize = RDMA_BASE + COMMON_REGISTERS_OFFSET;
/// Common registers of the transmit DMA.
pub const TDMA_COMMON: usize = TDMA_BASE + COMMON_REGISTERS_OFFSET;

// docs/bcm2711.md §6.1: "ring 16 at 0x3000 / 0x5000", "common registers 0x3040 / 0x5040",
// descriptors end before the ring registers.
const _: () = assert!(RDMA_RING16 == 0x3000);
const _: () = assert!(TDMA_RING16 == 0x5000);
const _: () = assert!(RDMA_COMMON == 0x3040);
const _: () = assert!(TDMA_COMMON == 0x5040);
const _: () = assert!(descriptor_offset(RDMA_BASE, DESCRIPTOR_COUNT) == 0x2C00);
const _: () = assert!(descriptor_offset(TDMA_BASE, DESCRIPTOR_COUNT) == 0x4C00);
const _: () = assert!(DMA_RING16_BUF_EN == 1 << 17);

/// Last descriptor-RAM word of a ring that spans all 256 descriptors (3 words each): 767.
pub const RING_END_WORD: u32 = (DESCRIPTOR_COUNT * DESCRIPTOR_SIZE_BYTES / 4 - 1) as u32;
const _: () = assert!(RING_END_WORD == 767);

/// A descriptor's LENGTH_STATUS word (docs/bcm2711.md §6.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct DescriptorStatus(pub u32);

impl DescriptorStatus {
    /// Bits 27:16: length in bytes.
    pub const LENGTH_SHIFT: u32 = 16;
    /// Mask of the length field (unshifted, 12 bits).
    pub const LENGTH_MASK: u32 = 0xFFF;
    /// Bit 15: owned by the hardware.
    pub const OWN: u32 = 1 << 15;
    /// Bit 14: end of packet.
    pub const EOP: u32 = 1 << 14;
    /// Bit 13: start of packet.
    pub const SOP: u32 = 1 << 13;
    /// Bit 12: last descriptor of the ring.
    pub const WRAP: u32 = 1 << 12;
    /// TX bit 6: the MAC appends the FCS.
    pub const TX_APPEND_CRC: u32 = 1 << 6;
    /// TX bits 12:7 QTAG, written all ones by every driver.
    pub const TX_QTAG: u32 = 0x3F << 7;
    /// RX bit 0: overrun.
    pub const RX_OVERRUN: u32 = 1 << 0;
    /// RX bit 1: CRC error.
    pub const RX_CRC_ERROR: u32 = 1 << 1;
    /// RX bit 2: receive error signalled by the PHY.
    pub const RX_RXER: u32 = 1 << 2;
    /// RX bit 3: non-octet-aligned frame.
    pub const RX_NO: u32 = 1 << 3;
    /// RX bit 4: frame longer than the maximum.
    pub const RX_LONG: u32 = 1 << 4;
    /// RX bits that mark a frame as bad.
    pub const RX_ERRORS: u32 =
        Self::RX_OVERRUN | Self::RX_CRC_ERROR | Self::RX_RXER | Self::RX_NO | Self::RX_LONG;

    /// The length field in bytes.
    pub fn length_bytes(self) -> usize {
        ((self.0 >> Self::LENGTH_SHIFT) & Self::LENGTH_MASK) as usize
    }

    /// LENGTH_STATUS for a single-buffer transmit frame of `length_bytes` (docs/bcm2711.md §6.4).
    pub fn transmit(length_bytes: usize) -> Self {
        let length = (length_bytes as u32) & Self::LENGTH_MASK;
        Self(
            (length << Self::LENGTH_SHIFT)
                | Self::TX_QTAG
                | Self::TX_APPEND_CRC
                | Self::SOP
                | Self::EOP,
        )
    }
}

/// Bits of INTRL2_0 (docs/bcm2711.md §6.5, Linux `UMAC_IRQ_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct InterruptStatus(pub u32);

impl InterruptStatus {
    /// Bit 4: link up (does not fire on the Pi 4; poll the PHY instead).
    pub const LINK_UP: u32 = 1 << 4;
    /// Bit 5: link down (does not fire on the Pi 4).
    pub const LINK_DOWN: u32 = 1 << 5;
    /// Bit 13: ring-16 receive DMA done (multiple buffers).
    pub const RX_DMA_MBDONE: u32 = 1 << 13;
    /// Bit 14: receive DMA packet done.
    pub const RX_DMA_PDONE: u32 = 1 << 14;
    /// Bit 15: receive DMA buffer done.
    pub const RX_DMA_BDONE: u32 = 1 << 15;
    /// Bit 16: ring-16 transmit DMA done.
    pub const TX_DMA_MBDONE: u32 = 1 << 16;
    /// Bit 23: MDIO transaction done.
    pub const MDIO_DONE: u32 = 1 << 23;
    /// Bit 24: MDIO transaction error.
    pub const MDIO_ERROR: u32 = 1 << 24;

    /// True when a receive-done bit is set.
    pub fn receive_done(self) -> bool {
        self.0 & (Self::RX_DMA_MBDONE | Self::RX_DMA_PDONE | Self::RX_DMA_BDONE) != 0
    }

    /// True when the transmit-done bit is set.
    pub fn transmit_done(self) -> bool {
        self.0 & Self::TX_DMA_MBDONE != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transmit_length_status_matches_the_documented_formula() {
        // docs/bcm2711.md §6.4: (len << 16) | 0x3F << 7 | APPEND_CRC | SOP | EOP.
        assert_eq!(
            DescriptorStatus::transmit(60).0,
            (60 << 16) | (0x3F << 7) | (1 << 6) | (1 << 13) | (1 << 14)
        );
        assert_eq!(DescriptorStatus::transmit(1514).length_bytes(), 1514);
    }

    #[test]
    fn umac_speed_field_reads_back() {
        assert_eq!(
            UmacCommand(UmacCommand::SPEED_1000 << UmacCommand::SPEED_SHIFT | UmacCommand::TX_EN)
                .speed_field(),
            2
        );
    }
}
