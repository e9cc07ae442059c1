//! Tests of the GENET driver against the register-level model in `model.rs`
//! (docs/bcm2711.md §10.3).
#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

use alloc::vec;
use alloc::vec::Vec;

use smoltcp::phy::{Device, RxToken, TxToken};
use smoltcp::time::Instant;

use super::model::{
    FakeBuffers, FakeClock, GenetModel, Injected, ModelConfig, RECEIVE_POOL_BASE,
    TRANSMIT_POOL_BASE,
};
use super::phy::{self, Duplex, LinkSettings, LinkState, PhyError, Speed};
use super::registers::*;
use super::{BUFFER_SIZE_BYTES, Genet, GenetConfig, GenetError, InterruptStatus, Statistics, mdio};

type Driver = Genet<GenetModel, FakeBuffers, FakeClock>;

const MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x12, 0x34, 0x56];
const PEER_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0xAB, 0xCD, 0xEF];

fn start(config: ModelConfig) -> (Driver, GenetModel, FakeClock) {
    let (model, receive, transmit, clock) = GenetModel::new(config);
    let driver = Genet::new(
        model.clone(),
        receive,
        transmit,
        clock.clone(),
        GenetConfig::new(MAC),
    )
    .unwrap();
    (driver, model, clock)
}

/// Starts the driver and waits out autonegotiation, so the link is up.
fn start_linked(config: ModelConfig) -> (Driver, GenetModel, FakeClock) {
    let duration_us = config.autonegotiation_duration_us;
    let (mut driver, model, clock) = start(config);
    clock.advance_us(duration_us);
    assert!(matches!(
        driver.poll_link().unwrap(),
        Some(LinkState::Up(_))
    ));
    (driver, model, clock)
}

/// An Ethernet frame of `length` bytes to us, with a payload derived from `seed`.
fn frame(length: usize, seed: u8) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(length);
    bytes.extend_from_slice(&MAC);
    bytes.extend_from_slice(&PEER_MAC);
    bytes.extend_from_slice(&[0x88, 0xB5]); // IEEE 802 local experimental EtherType
    for position in 0..length.saturating_sub(14) {
        bytes.push(seed.wrapping_add(position as u8).wrapping_mul(7));
    }
    bytes.truncate(length);
    bytes
}

fn receive_one(driver: &mut Driver) -> Option<Vec<u8>> {
    driver.receive_frame(|bytes| bytes.to_vec()).unwrap()
}

fn send(driver: &mut Driver, bytes: &[u8]) {
    driver.transmit_frame(bytes.len(), |buffer| buffer.copy_from_slice(bytes));
}

fn assert_no_violations(model: &GenetModel) {
    let violations = model.state().violations.clone();
    assert!(violations.is_empty(), "model saw: {violations:?}");
}

#[test]
fn initialisation_writes_the_documented_sequence() {
    let config = ModelConfig {
        initial_receive_index: 0x1234,
        initial_transmit_index: 0x4321,
        ..ModelConfig::default()
    };
    let (_driver, model, _clock) = start(config);
    let state = model.state();
    let is_descriptor =
        |offset: usize| (0x2000..0x2C00).contains(&offset) || (0x4000..0x4C00).contains(&offset);
    let writes: Vec<(usize, u32)> = state
        .write_log
        .iter()
        .copied()
        .filter(|&(offset, _)| offset != MDIO_CMD && !is_descriptor(offset))
        .collect();
    // docs/bcm2711.md §6.3 steps 1–7, with the interrupt masking of §6.5.
    let expected: Vec<(usize, u32)> = vec![
        (0x0004, 3),      // SYS_PORT_CTRL: external gigabit PHY
        (0x0008, 0),      // RBUF_FLUSH_CTRL
        (0x0808, 0),      // UMAC_CMD
        (0x0808, 0xA000), // SW_RESET | LCL_LOOP_EN
        (0x0008, 0b10),   // UMAC reset pulse
        (0x0008, 0),
        (0x0008, 0),
        (0x0808, 0),
        (0x0808, 0xA000),
        (0x0808, 0),
        (0x0D80, 0b111), // MIB counters reset
        (0x0D80, 0),
        (0x0814, 1536),        // MAX_FRAME_LEN
        (0x0300, 0b10),        // RBUF_CTRL: ALIGN_2B
        (0x03B4, 1),           // RBUF_TBUF_SIZE_CTRL
        (0x080C, 0x0200_0012), // MAC0: bytes 0–3
        (0x0810, 0x0000_3456), // MAC1: bytes 4–5
        (0x0210, u32::MAX),    // INTRL2_0 mask all, clear all
        (0x0208, u32::MAX),
        (0x0250, u32::MAX), // INTRL2_1
        (0x0248, u32::MAX),
        (0x5044, 0), // TDMA_CTRL off
        (0x3044, 0), // RDMA_CTRL off
        (0x0B34, 1), // TX flush pulse
        (0x0B34, 0),
        (0x304C, 8),           // RX: SCB burst size
        (0x3014, 0),           // START_ADDR
        (0x302C, 0),           // RDMA_READ_PTR
        (0x3000, 0),           // RDMA_WRITE_PTR
        (0x301C, 767),         // END_ADDR
        (0x300C, 0x1234),      // RDMA_CONS_INDEX := adopted RDMA_PROD_INDEX
        (0x3010, 0x0100_0800), // 256 descriptors of 2048 bytes
        (0x3028, 0x0005_0010), // XON/XOFF
        (0x3040, 1 << 16),     // RING_CFG: ring 16
        (0x504C, 8),           // TX: SCB burst size
        (0x5014, 0),
        (0x5000, 0), // TDMA_READ_PTR
        (0x502C, 0), // TDMA_WRITE_PTR
        (0x501C, 767),
        (0x500C, 0x4321), // TDMA_PROD_INDEX := adopted TDMA_CONS_INDEX
        (0x5024, 1),      // MBUF_DONE_THRESH
        (0x5028, 0),      // FLOW_PERIOD
        (0x5010, 0x0100_0800),
        (0x5040, 1 << 16),
        (0x5044, 0x0002_0001), // TDMA_CTRL: EN | ring 16 buffers
        (0x3044, 0x0002_0001), // RDMA_CTRL
    ];
    assert_eq!(writes, expected);
    assert!(
        state.ignored_writes.is_empty(),
        "wrote read-only or write-once registers: {:?}",
        state.ignored_writes
    );
    drop(state);
    for index in 0..256 {
        let base = 0x2000 + 12 * index;
        assert_eq!(
            model.peek(base + 4),
            RECEIVE_POOL_BASE as u32 + (index * 2048) as u32
        );
        assert_eq!(model.peek(base + 8), 0);
        assert_eq!(model.peek(base), (2048 << 16) | (1 << 15));
        assert_eq!(
            model.peek(0x4000 + 12 * index + 4),
            TRANSMIT_POOL_BASE as u32 + (index * 2048) as u32
        );
    }
    // The MAC stays off until the link is up (docs/bcm2711.md §6.3 step 8).
    assert_eq!(model.peek(UMAC_CMD) & 0b11, 0);
}

#[test]
fn phy_setup_goes_through_mdio_with_start_busy() {
    let (_driver, model, _clock) = start(ModelConfig::default());
    let state = model.state();
    // Each frame: the command, then the command with START_BUSY (U-Boot order).
    let started: Vec<(u32, u32, u32, u32)> = state
        .write_log
        .iter()
        .filter(|&&(offset, value)| offset == MDIO_CMD && value & mdio::START_BUSY != 0)
        .map(|&(_, value)| {
            (
                (value >> 26) & 0b11,
                (value >> 21) & 0x1F,
                (value >> 16) & 0x1F,
                value & 0xFFFF,
            )
        })
        .collect();
    let (read, write) = (0b10, 0b01);
    assert_eq!(
        started,
        vec![
            (read, 1, 1, 0),       // dummy BMSR read
            (read, 1, 2, 0),       // PHYSID1
            (read, 1, 3, 0),       // PHYSID2
            (write, 1, 4, 0x0DE1), // ADVERTISE: 10/100 half+full, pause, asymmetric pause
            (read, 1, 9, 0),       // CTRL1000
            (write, 1, 9, 0x0300), // advertise 1000 half+full
            (read, 1, 0, 0),       // BMCR
            (write, 1, 0, 0x1200), // AN enable | restart
        ]
    );
}

#[test]
fn other_revisions_are_refused() {
    let (model, receive, transmit, clock) = GenetModel::new(ModelConfig {
        rev_ctrl: 0x0502_0000,
        ..ModelConfig::default()
    });
    let result = Genet::new(model, receive, transmit, clock, GenetConfig::new(MAC));
    assert_eq!(
        result.err(),
        Some(GenetError::UnsupportedRevision {
            rev_ctrl: 0x0502_0000
        })
    );
}

#[test]
fn a_different_phy_is_refused() {
    let (model, receive, transmit, clock) = GenetModel::new(ModelConfig {
        phy_identifier: (0x0362, 0x5E6A),
        ..ModelConfig::default()
    });
    let result = Genet::new(model, receive, transmit, clock, GenetConfig::new(MAC));
    assert_eq!(
        result.err(),
        Some(GenetError::Phy(PhyError::UnexpectedIdentifier {
            physid1: 0x0362,
            physid2: 0x5E6A
        }))
    );
}

#[test]
fn a_newer_phy_revision_is_accepted() {
    let (model, receive, transmit, clock) = GenetModel::new(ModelConfig {
        phy_identifier: (0x600D, 0x84A7),
        ..ModelConfig::default()
    });
    assert!(Genet::new(model, receive, transmit, clock, GenetConfig::new(MAC)).is_ok());
}

#[test]
fn a_stuck_mdio_bus_times_out_in_bounded_time() {
    let (model, receive, transmit, clock) = GenetModel::new(ModelConfig {
        mdio_stuck: true,
        ..ModelConfig::default()
    });
    let result = Genet::new(
        model,
        receive,
        transmit,
        clock.clone(),
        GenetConfig::new(MAC),
    );
    assert!(matches!(
        result.err(),
        Some(GenetError::Phy(PhyError::Mdio(
            mdio::MdioError::Timeout { .. }
        )))
    ));
    // The ignored dummy read and the PHYSID1 read each waited one 20 ms timeout.
    let elapsed_us = clock.now_us_for_test();
    assert!(
        (40_000..41_000).contains(&elapsed_us),
        "elapsed {elapsed_us} µs"
    );
}

#[test]
fn a_missing_phy_reports_read_fail() {
    let (model, receive, transmit, clock) = GenetModel::new(ModelConfig {
        phy_address: 7,
        ..ModelConfig::default()
    });
    let result = Genet::new(model, receive, transmit, clock, GenetConfig::new(MAC));
    assert_eq!(
        result.err(),
        Some(GenetError::Phy(PhyError::Mdio(
            mdio::MdioError::ReadFailed {
                phy_address: 1,
                register: 2
            }
        )))
    );
}

#[test]
fn autonegotiation_to_1000_full_programs_the_mac() {
    let (mut driver, model, clock) = start(ModelConfig::default());
    assert_eq!(driver.poll_link().unwrap(), None);
    clock.advance_us(2_999_000);
    assert_eq!(
        driver.poll_link().unwrap(),
        None,
        "autonegotiation takes 3 s"
    );
    clock.advance_us(1_000);
    let settings = LinkSettings {
        speed: Speed::Megabits1000,
        duplex: Duplex::Full,
        transmit_pause: true,
        receive_pause: true,
    };
    assert_eq!(driver.poll_link().unwrap(), Some(LinkState::Up(settings)));
    assert_eq!(driver.link_state(), LinkState::Up(settings));
    // UMAC_CMD: SPEED = 2, full duplex, pause honoured both ways, TX_EN | RX_EN
    // (docs/bcm2711.md §6.7).
    assert_eq!(model.peek(UMAC_CMD), (2 << 2) | 0b11);
    assert_eq!(
        model.peek(EXT_RGMII_OOB_CTRL),
        RGMII_LINK | RGMII_MODE_EN | ID_MODE_DIS
    );
    assert_eq!(driver.poll_link().unwrap(), None, "no change, no report");
}

#[test]
fn a_100_half_partner_gives_100_half_without_pause() {
    let config = ModelConfig {
        partner_abilities: phy::ABILITY_100_HALF | phy::ABILITY_10_HALF | phy::SELECTOR_IEEE_802_3,
        partner_stat1000: 0,
        ..ModelConfig::default()
    };
    let (driver, model, _clock) = start_linked(config);
    let settings = LinkSettings {
        speed: Speed::Megabits100,
        duplex: Duplex::Half,
        transmit_pause: false,
        receive_pause: false,
    };
    assert_eq!(driver.link_state(), LinkState::Up(settings));
    let expected = (1 << 2)
        | UmacCommand::HD_EN
        | UmacCommand::RX_PAUSE_IGNORE
        | UmacCommand::TX_PAUSE_IGNORE
        | 0b11;
    assert_eq!(model.peek(UMAC_CMD), expected);
}

#[test]
fn link_loss_stops_dma_and_flushes() {
    let (mut driver, model, _clock) = start_linked(ModelConfig::default());
    let flushes_before = model.state().transmit_flushes;
    model.set_cable_connected(false);
    assert_eq!(driver.poll_link().unwrap(), Some(LinkState::Down));
    assert_eq!(model.peek(UMAC_CMD) & 0b11, 0, "TX_EN and RX_EN off");
    assert_eq!(
        model.peek(TDMA_COMMON + DMA_CTRL) & (DMA_EN | DMA_RING16_BUF_EN),
        0
    );
    assert_eq!(
        model.peek(RDMA_COMMON + DMA_CTRL) & (DMA_EN | DMA_RING16_BUF_EN),
        0
    );
    assert_eq!(model.peek(EXT_RGMII_OOB_CTRL) & RGMII_LINK, 0);
    assert_eq!(model.state().transmit_flushes, flushes_before + 1);
    assert!(
        driver.transmit(Instant::ZERO).is_none(),
        "no transmit token without link"
    );
}

#[test]
fn frames_queued_before_link_loss_are_not_sent_afterwards() {
    let (mut driver, model, clock) = start_linked(ModelConfig {
        initial_transmit_index: 0xFFFE,
        ..ModelConfig::default()
    });
    model.set_transmit_stalled(true);
    for seed in 0..3 {
        send(&mut driver, &frame(100, seed));
    }
    model.set_cable_connected(false);
    assert_eq!(driver.poll_link().unwrap(), Some(LinkState::Down));
    model.set_transmit_stalled(false);
    model.set_cable_connected(true);
    clock.advance_us(3_000_000);
    assert!(matches!(
        driver.poll_link().unwrap(),
        Some(LinkState::Up(_))
    ));
    assert!(
        model.state().transmitted.is_empty(),
        "stale frames went out"
    );
    assert_eq!(driver.statistics().transmit_dropped, 3);
    assert_eq!(
        model.peek(TDMA_COMMON + DMA_CTRL),
        DMA_EN | DMA_RING16_BUF_EN,
        "DMA back on"
    );
    let fresh = frame(80, 9);
    send(&mut driver, &fresh);
    assert_eq!(model.state().transmitted, vec![fresh]);
}

#[test]
fn a_brief_link_drop_is_reported_through_the_latched_bit() {
    let (mut driver, model, clock) = start_linked(ModelConfig {
        autonegotiation_duration_us: 1_000,
        ..ModelConfig::default()
    });
    model.set_cable_connected(false);
    model.set_cable_connected(true);
    clock.advance_us(1_000);
    // BMSR now says link up, but its latched-low bit remembers the drop.
    assert_eq!(driver.poll_link().unwrap(), Some(LinkState::Down));
    assert!(matches!(
        driver.poll_link().unwrap(),
        Some(LinkState::Up(_))
    ));
}

#[test]
fn received_frames_arrive_exactly_without_the_pad() {
    let (mut driver, model, _clock) = start_linked(ModelConfig::default());
    let frames = [frame(60, 1), frame(1514, 2), frame(64, 3), frame(14, 4)];
    for bytes in &frames {
        assert_eq!(model.inject_frame(bytes, 0), Injected::Delivered);
    }
    for bytes in &frames {
        assert_eq!(receive_one(&mut driver).as_ref(), Some(bytes));
    }
    assert_eq!(receive_one(&mut driver), None);
    let statistics = driver.statistics();
    assert_eq!(statistics.receive_frames, 4);
    assert_eq!(statistics.receive_bytes, 60 + 1514 + 64 + 14);
    assert_eq!(model.peek(RDMA_RING16 + RING_SOFTWARE_INDEX), 4);
    assert_no_violations(&model);
}

#[test]
fn receive_indices_wrap_past_65535() {
    let (mut driver, model, _clock) = start_linked(ModelConfig {
        initial_receive_index: 0xFFF0,
        ..ModelConfig::default()
    });
    for seed in 0..40u8 {
        let bytes = frame(64 + usize::from(seed), seed);
        assert_eq!(model.inject_frame(&bytes, 0), Injected::Delivered);
        assert_eq!(receive_one(&mut driver), Some(bytes), "frame {seed}");
    }
    assert_eq!(model.peek(RDMA_RING16 + RING_SOFTWARE_INDEX), 0x0018);
    assert_eq!(
        model.peek(RDMA_RING16 + RING_HARDWARE_INDEX) & 0xFFFF,
        0x0018
    );
    assert_no_violations(&model);
}

#[test]
fn a_full_receive_ring_discards_and_the_count_is_reported() {
    let (mut driver, model, _clock) = start_linked(ModelConfig {
        initial_receive_index: 0xFF80,
        ..ModelConfig::default()
    });
    for index in 0..256u16 {
        assert_eq!(
            model.inject_frame(&frame(60, index as u8), 0),
            Injected::Delivered
        );
    }
    assert_eq!(model.inject_frame(&frame(60, 0xEE), 0), Injected::Discarded);
    assert_eq!(model.inject_frame(&frame(60, 0xEF), 0), Injected::Discarded);
    assert_eq!(driver.statistics().receive_discarded, 2);
    for index in 0..256u16 {
        assert_eq!(receive_one(&mut driver), Some(frame(60, index as u8)));
    }
    assert_eq!(model.inject_frame(&frame(60, 0xF0), 0), Injected::Delivered);
    assert_eq!(receive_one(&mut driver), Some(frame(60, 0xF0)));
    let statistics = driver.statistics();
    assert_eq!(
        (statistics.receive_frames, statistics.receive_discarded),
        (257, 2)
    );
    assert_no_violations(&model);
}

#[test]
fn frames_with_error_bits_are_dropped_and_counted() {
    let (mut driver, model, _clock) = start_linked(ModelConfig::default());
    let good = [frame(60, 1), frame(70, 2), frame(80, 3)];
    model.inject_frame(&good[0], 0);
    model.inject_frame(&frame(60, 9), DescriptorStatus::RX_CRC_ERROR);
    model.inject_frame(&good[1], 0);
    model.inject_frame(
        &frame(60, 9),
        DescriptorStatus::RX_OVERRUN | DescriptorStatus::RX_LONG,
    );
    model.inject_frame(&frame(60, 9), DescriptorStatus::RX_RXER);
    model.inject_frame(&frame(10, 9), 0); // shorter than an Ethernet header
    model.inject_frame(&good[2], 0);
    for bytes in &good {
        assert_eq!(receive_one(&mut driver).as_ref(), Some(bytes));
    }
    assert_eq!(receive_one(&mut driver), None);
    let statistics = driver.statistics();
    assert_eq!(
        (
            statistics.receive_frames,
            statistics.receive_errors,
            statistics.receive_malformed
        ),
        (3, 3, 1)
    );
    // Every descriptor, dropped or not, went back to the MAC.
    assert_eq!(model.peek(RDMA_RING16 + RING_SOFTWARE_INDEX), 7);
}

#[test]
fn transmitted_frames_leave_exactly() {
    let (mut driver, model, _clock) = start_linked(ModelConfig::default());
    let frames = [frame(60, 1), frame(1514, 2), frame(61, 3)];
    for bytes in &frames {
        send(&mut driver, bytes);
    }
    assert_eq!(model.state().transmitted, frames.to_vec());
    let status = DescriptorStatus(model.peek(TDMA_BASE + 12));
    assert_eq!(
        status.0,
        (1514 << 16) | (0x3F << 7) | (1 << 6) | (1 << 13) | (1 << 14)
    );
    assert_eq!(driver.statistics().transmit_frames, 3);
    assert_no_violations(&model);
}

#[test]
fn short_frames_are_padded_with_zeros_to_60_bytes() {
    let (mut driver, model, _clock) = start_linked(ModelConfig::default());
    // Fill every buffer with non-zero data first, so padding must overwrite it.
    for seed in 0..=255u8 {
        send(&mut driver, &[0xAA ^ seed; 200]);
    }
    let short = frame(42, 5);
    send(&mut driver, &short);
    let mut expected = short.clone();
    expected.resize(60, 0);
    assert_eq!(model.state().transmitted.last(), Some(&expected));
    assert_no_violations(&model);
}

#[test]
fn the_transmit_ring_fills_at_256_and_reclaims_across_the_wrap() {
    let (mut driver, model, _clock) = start_linked(ModelConfig {
        initial_transmit_index: 0xFFF0,
        ..ModelConfig::default()
    });
    model.set_transmit_stalled(true);
    for index in 0..256u16 {
        assert!(
            driver.transmit(Instant::ZERO).is_some(),
            "descriptor {index} should be free"
        );
        send(&mut driver, &frame(60, index as u8));
    }
    assert_eq!(driver.free_transmit_descriptors(), 0);
    assert!(
        driver.transmit(Instant::ZERO).is_none(),
        "full ring: no token"
    );
    send(&mut driver, &frame(60, 0xFF));
    assert_eq!(driver.statistics().transmit_dropped, 1);
    assert_eq!(model.peek(TDMA_RING16 + RING_SOFTWARE_INDEX), 0x00F0);
    model.set_transmit_stalled(false);
    assert_eq!(model.state().transmitted.len(), 256);
    assert_eq!(driver.reclaim_transmitted().unwrap(), 256);
    assert_eq!(driver.free_transmit_descriptors(), 256);
    assert!(driver.transmit(Instant::ZERO).is_some());
    let sent = model.state().transmitted.clone();
    for (index, bytes) in sent.iter().enumerate() {
        assert_eq!(bytes, &frame(60, index as u8));
    }
    assert_no_violations(&model);
}

/// Writes an Ethernet header with smoltcp's own writer (what panics on a short buffer) and a
/// payload derived from `seed`.
fn write_smoltcp_frame(buffer: &mut [u8], seed: u8) {
    use smoltcp::wire::{EthernetAddress, EthernetFrame, EthernetProtocol, EthernetRepr};
    let ethernet = EthernetRepr {
        src_addr: EthernetAddress(MAC),
        dst_addr: EthernetAddress(PEER_MAC),
        ethertype: EthernetProtocol::Unknown(0x88B5),
    };
    let mut frame = EthernetFrame::new_unchecked(&mut *buffer);
    ethernet.emit(&mut frame);
    for (position, byte) in frame.payload_mut().iter_mut().enumerate() {
        *byte = seed.wrapping_add(position as u8);
    }
}

/// The shared rule on a full ring (`nic::rules::TransmitDrops`): with all 256 descriptors
/// holding smoltcp-sized frames, `transmit` gives no token; the token `receive` still hands out
/// (smoltcp answers from inside the receive closure) gets a scratch buffer of the asked length,
/// and the frame is counted as dropped.
#[test]
fn a_full_transmit_ring_drops_smoltcp_frames_into_a_buffer_of_the_asked_length() {
    let (mut driver, model, _clock) = start_linked(ModelConfig::default());
    model.set_transmit_stalled(true);
    for seed in 0..256u16 {
        let token = driver.transmit(Instant::ZERO).expect("a free descriptor");
        token.consume(1514, |buffer| {
            assert_eq!(buffer.len(), 1514);
            write_smoltcp_frame(buffer, seed as u8);
        });
    }
    assert!(
        driver.transmit(Instant::ZERO).is_none(),
        "full ring: no token"
    );
    let incoming = frame(100, 3);
    model.inject_frame(&incoming, 0);
    let (rx, tx) = driver.receive(Instant::ZERO).unwrap();
    let written = rx.consume(|bytes| {
        assert_eq!(bytes, &incoming[..]);
        tx.consume(1514, |buffer| {
            write_smoltcp_frame(buffer, 0xEE);
            buffer.len()
        })
    });
    assert_eq!(written, 1514);
    assert_eq!(driver.statistics().transmit_dropped, 1);
    model.set_transmit_stalled(false);
    let sent = model.state().transmitted.clone();
    assert_eq!(sent.len(), 256, "the dropped frame never reached the ring");
    for (seed, bytes) in sent.iter().enumerate() {
        let mut expected = vec![0u8; 1514];
        write_smoltcp_frame(&mut expected, seed as u8);
        assert_eq!(bytes, &expected);
    }
    assert_no_violations(&model);
}

#[test]
fn oversized_frames_are_dropped() {
    let (mut driver, model, _clock) = start_linked(ModelConfig::default());
    let written = driver.transmit_frame(1515, |buffer| buffer.len());
    assert_eq!(
        written, 1515,
        "smoltcp still gets a buffer of the size it asked for"
    );
    assert!(model.state().transmitted.is_empty());
    assert_eq!(driver.statistics().transmit_dropped, 1);
}

#[test]
fn a_missing_clean_before_transmit_is_detected_by_the_model() {
    let (model, receive, mut transmit, clock) = GenetModel::new(ModelConfig::default());
    transmit.skip_clean = true;
    let mut driver = Genet::new(
        model.clone(),
        receive,
        transmit,
        clock.clone(),
        GenetConfig::new(MAC),
    )
    .unwrap();
    clock.advance_us(3_000_000);
    driver.poll_link().unwrap();
    send(&mut driver, &frame(60, 1));
    let state = model.state();
    assert_ne!(
        state.transmitted,
        vec![frame(60, 1)],
        "the DMA read stale RAM"
    );
    assert!(
        state
            .violations
            .iter()
            .any(|violation| violation.contains("uncleaned")),
        "{:?}",
        state.violations
    );
}

#[test]
fn a_missing_invalidate_after_receive_is_detected_by_the_model() {
    let (model, mut receive, transmit, clock) = GenetModel::new(ModelConfig::default());
    receive.skip_invalidate = true;
    let mut driver = Genet::new(
        model.clone(),
        receive,
        transmit,
        clock.clone(),
        GenetConfig::new(MAC),
    )
    .unwrap();
    clock.advance_us(3_000_000);
    driver.poll_link().unwrap();
    model.inject_frame(&frame(60, 1), 0);
    assert_ne!(
        receive_one(&mut driver),
        Some(frame(60, 1)),
        "the CPU read stale cache lines"
    );
    let state = model.state();
    assert!(
        state
            .violations
            .iter()
            .any(|violation| violation.contains("without invalidating")),
        "{:?}",
        state.violations
    );
}

#[test]
fn interrupts_are_masked_until_unmasked_and_cleared_when_acknowledged() {
    let (mut driver, model, _clock) = start_linked(ModelConfig::default());
    model.inject_frame(&frame(60, 1), 0);
    assert_eq!(
        driver.acknowledge_interrupts(),
        InterruptStatus(0),
        "all masked after init"
    );
    driver.unmask_interrupts(InterruptStatus::RX_DMA_MBDONE | InterruptStatus::TX_DMA_MBDONE);
    let status = driver.acknowledge_interrupts();
    assert_eq!(status, InterruptStatus(InterruptStatus::RX_DMA_MBDONE));
    assert!(status.receive_done() && !status.transmit_done());
    assert_eq!(
        model.peek(INTRL2_0 + INTRL2_CPU_STAT) & InterruptStatus::RX_DMA_MBDONE,
        0,
        "cleared"
    );
    assert_eq!(driver.acknowledge_interrupts(), InterruptStatus(0));
    send(&mut driver, &frame(60, 2));
    assert_eq!(
        driver.acknowledge_interrupts(),
        InterruptStatus(InterruptStatus::TX_DMA_MBDONE)
    );
    driver.mask_interrupts(InterruptStatus::TX_DMA_MBDONE);
    send(&mut driver, &frame(60, 3));
    assert_eq!(driver.acknowledge_interrupts(), InterruptStatus(0));
    // Still pending in the raw status, just masked.
    assert_ne!(
        model.peek(INTRL2_0 + INTRL2_CPU_STAT) & InterruptStatus::TX_DMA_MBDONE,
        0
    );
}

#[test]
fn a_warm_reinitialisation_adopts_the_indices_left_behind() {
    let (mut driver, model, clock) = start_linked(ModelConfig {
        initial_receive_index: 0xFFFE,
        ..ModelConfig::default()
    });
    for seed in 0..5 {
        model.inject_frame(&frame(60, seed), 0);
        send(&mut driver, &frame(70, seed));
    }
    for _ in 0..3 {
        receive_one(&mut driver).unwrap();
    }
    drop(driver);
    // The new driver finds RX 5 produced / 3 consumed and TX 5 sent: it skips the two stale RX
    // frames (they belong to the previous owner's buffers) and continues from the indices.
    let (receive, transmit) = model.new_pools();
    let mut driver: Driver = Genet::new(
        model.clone(),
        receive,
        transmit,
        clock.clone(),
        GenetConfig::new(MAC),
    )
    .unwrap();
    {
        let state = model.state();
        let ignored: Vec<usize> = state
            .ignored_writes
            .iter()
            .map(|&(offset, _)| offset)
            .collect();
        // Only the write-once ring registers were rewritten (with the same values), never an index.
        for offset in &ignored {
            assert!(
                ![
                    RDMA_RING16 + RING_HARDWARE_INDEX,
                    TDMA_RING16 + RING_HARDWARE_INDEX
                ]
                .contains(offset)
            );
        }
        assert_eq!(ignored.len(), 8);
    }
    assert_eq!(model.peek(RDMA_RING16 + RING_SOFTWARE_INDEX), 0x0003);
    assert_eq!(model.peek(TDMA_RING16 + RING_SOFTWARE_INDEX), 0x0005);
    clock.advance_us(3_000_000);
    driver.poll_link().unwrap();
    let bytes = frame(90, 42);
    model.inject_frame(&bytes, 0);
    assert_eq!(receive_one(&mut driver), Some(bytes.clone()));
    send(&mut driver, &bytes);
    assert_eq!(model.state().transmitted.last(), Some(&bytes));
}

#[test]
fn smoltcp_tokens_receive_and_send_through_the_rings() {
    let (mut driver, model, _clock) = start_linked(ModelConfig::default());
    let capabilities = driver.capabilities();
    assert_eq!(capabilities.max_transmission_unit, 1514);
    assert_eq!(capabilities.max_burst_size, Some(256));
    assert!(driver.receive(Instant::ZERO).is_none());
    let incoming = frame(100, 7);
    model.inject_frame(&incoming, 0);
    let (rx, tx) = driver.receive(Instant::ZERO).unwrap();
    // smoltcp answers from inside the receive closure: both tokens are live at once.
    let echoed = rx.consume(|bytes| {
        tx.consume(bytes.len(), |buffer| buffer.copy_from_slice(bytes));
        bytes.to_vec()
    });
    assert_eq!(echoed, incoming);
    assert_eq!(model.state().transmitted, vec![incoming]);
    assert_eq!(
        model.peek(RDMA_RING16 + RING_SOFTWARE_INDEX),
        1,
        "descriptor re-armed"
    );
    // An unconsumed receive token leaves the frame in place.
    model.inject_frame(&frame(60, 8), 0);
    assert!(driver.receive(Instant::ZERO).is_some());
    assert_eq!(receive_one(&mut driver), Some(frame(60, 8)));
    let statistics = driver.statistics();
    assert_eq!(
        statistics,
        Statistics {
            receive_frames: 2,
            receive_bytes: 160,
            transmit_frames: 1,
            transmit_bytes: 100,
            ..Statistics::default()
        }
    );
    assert_no_violations(&model);
}

#[test]
fn the_hardware_mac_address_reads_back() {
    let (mut model, _receive, _transmit, _clock) = GenetModel::new(ModelConfig::default());
    use super::RegisterAccess;
    model.write32(UMAC_MAC0, 0x5254_0012);
    model.write32(UMAC_MAC1, 0x0000_3456);
    assert_eq!(
        super::read_mac_address(&mut model),
        [0x52, 0x54, 0x00, 0x12, 0x34, 0x56]
    );
}

#[test]
fn buffers_above_one_gibibyte_are_refused() {
    struct HighBuffers(FakeBuffers);
    impl super::DmaBuffers for HighBuffers {
        fn buffer_address(&self, index: usize) -> u64 {
            0x4000_0000 + (index * BUFFER_SIZE_BYTES) as u64
        }
        fn clean_for_device(&mut self, index: usize, length_bytes: usize) {
            self.0.clean_for_device(index, length_bytes)
        }
        fn invalidate_for_cpu(&mut self, index: usize, length_bytes: usize) {
            self.0.invalidate_for_cpu(index, length_bytes)
        }
        fn bytes(&self, index: usize) -> &[u8] {
            self.0.bytes(index)
        }
        fn bytes_mut(&mut self, index: usize) -> &mut [u8] {
            self.0.bytes_mut(index)
        }
    }
    let (model, receive, transmit, clock) = GenetModel::new(ModelConfig::default());
    let result = Genet::new(
        model,
        HighBuffers(receive),
        HighBuffers(transmit),
        clock,
        GenetConfig::new(MAC),
    );
    assert_eq!(
        result.err(),
        Some(GenetError::UnusableBuffer {
            receive_pool: true,
            index: 0,
            address: 0x4000_0000,
            length_bytes: 2048
        })
    );
}

#[test]
fn a_renegotiated_link_reprograms_the_speed() {
    let (mut driver, model, clock) = start_linked(ModelConfig::default());
    assert_eq!(model.peek(UMAC_CMD) & UmacCommand::SPEED_MASK, 2 << 2);
    model.set_cable_connected(false);
    assert_eq!(driver.poll_link().unwrap(), Some(LinkState::Down));
    model.set_partner(
        phy::ABILITY_100_FULL | phy::ABILITY_10_FULL | phy::SELECTOR_IEEE_802_3,
        0,
    );
    model.set_cable_connected(true);
    clock.advance_us(3_000_000);
    let settings = LinkSettings {
        speed: Speed::Megabits100,
        duplex: Duplex::Full,
        transmit_pause: false,
        receive_pause: false,
    };
    assert_eq!(driver.poll_link().unwrap(), Some(LinkState::Up(settings)));
    let expected = (1 << 2) | UmacCommand::RX_PAUSE_IGNORE | UmacCommand::TX_PAUSE_IGNORE | 0b11;
    assert_eq!(model.peek(UMAC_CMD), expected);
}

/// The whole stack: a smoltcp `Interface` on the driver answers ARP and ping frames injected
/// into the model.
mod full_stack {
    use super::*;
    use smoltcp::iface::{Config, Interface, SocketSet};
    use smoltcp::socket::icmp;
    use smoltcp::wire::{
        ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol,
        EthernetRepr, HardwareAddress, Icmpv4Packet, Icmpv4Repr, IpAddress, IpCidr, IpProtocol,
        Ipv4Address, Ipv4Packet, Ipv4Repr,
    };

    // RFC 5737 documentation addresses.
    const OUR_IP: Ipv4Address = Ipv4Address::new(192, 0, 2, 10);
    const PEER_IP: Ipv4Address = Ipv4Address::new(192, 0, 2, 1);

    fn arp_request() -> Vec<u8> {
        let arp = ArpRepr::EthernetIpv4 {
            operation: ArpOperation::Request,
            source_hardware_addr: EthernetAddress(PEER_MAC),
            source_protocol_addr: PEER_IP,
            target_hardware_addr: EthernetAddress([0; 6]),
            target_protocol_addr: OUR_IP,
        };
        let ethernet = EthernetRepr {
            src_addr: EthernetAddress(PEER_MAC),
            dst_addr: EthernetAddress::BROADCAST,
            ethertype: EthernetProtocol::Arp,
        };
        let mut bytes = vec![0u8; ethernet.buffer_len() + arp.buffer_len()];
        let mut frame = EthernetFrame::new_unchecked(&mut bytes);
        ethernet.emit(&mut frame);
        arp.emit(&mut ArpPacket::new_unchecked(frame.payload_mut()));
        bytes
    }

    fn echo_request(payload: &[u8]) -> Vec<u8> {
        let icmp = Icmpv4Repr::EchoRequest {
            ident: 0x1234,
            seq_no: 7,
            data: payload,
        };
        let ip = Ipv4Repr {
            src_addr: PEER_IP,
            dst_addr: OUR_IP,
            next_header: IpProtocol::Icmp,
            payload_len: icmp.buffer_len(),
            hop_limit: 64,
        };
        let ethernet = EthernetRepr {
            src_addr: EthernetAddress(PEER_MAC),
            dst_addr: EthernetAddress(MAC),
            ethertype: EthernetProtocol::Ipv4,
        };
        let mut bytes = vec![0u8; ethernet.buffer_len() + ip.buffer_len() + icmp.buffer_len()];
        let mut frame = EthernetFrame::new_unchecked(&mut bytes);
        ethernet.emit(&mut frame);
        let checksums = smoltcp::phy::ChecksumCapabilities::default();
        let mut packet = Ipv4Packet::new_unchecked(frame.payload_mut());
        ip.emit(&mut packet, &checksums);
        icmp.emit(
            &mut Icmpv4Packet::new_unchecked(packet.payload_mut()),
            &checksums,
        );
        bytes
    }

    /// smoltcp itself on a full ring: its ARP reply is dropped and counted, nothing panics, and
    /// once the MAC has sent the ring it answers the next request.
    #[test]
    fn smoltcp_on_a_full_transmit_ring_drops_its_reply_and_answers_later() {
        let (mut driver, model, _clock) = start_linked(ModelConfig::default());
        let mut interface = Interface::new(
            Config::new(HardwareAddress::Ethernet(EthernetAddress(MAC))),
            &mut driver,
            Instant::ZERO,
        );
        interface.update_ip_addrs(|addresses| {
            addresses
                .push(IpCidr::new(IpAddress::Ipv4(OUR_IP), 24))
                .unwrap()
        });
        let mut sockets = SocketSet::new(vec![]);
        model.set_transmit_stalled(true);
        for seed in 0..256u16 {
            let token = driver.transmit(Instant::ZERO).unwrap();
            token.consume(1514, |buffer| {
                super::write_smoltcp_frame(buffer, seed as u8)
            });
        }
        model.inject_frame(&arp_request(), 0);
        interface.poll(Instant::from_millis(1), &mut driver, &mut sockets);
        assert_eq!(driver.statistics().transmit_dropped, 1);
        model.set_transmit_stalled(false);
        assert_eq!(model.state().transmitted.len(), 256);
        model.inject_frame(&arp_request(), 0);
        interface.poll(Instant::from_millis(2), &mut driver, &mut sockets);
        let reply = model.state().transmitted.pop().expect("an ARP reply");
        let frame = EthernetFrame::new_checked(&reply[..]).unwrap();
        assert_eq!(frame.ethertype(), EthernetProtocol::Arp);
        assert_eq!(driver.statistics().transmit_dropped, 1);
        assert_no_violations(&model);
    }

    #[test]
    fn smoltcp_answers_arp_and_ping_through_the_driver() {
        let (mut driver, model, _clock) = start_linked(ModelConfig::default());
        let mut interface = Interface::new(
            Config::new(HardwareAddress::Ethernet(EthernetAddress(MAC))),
            &mut driver,
            Instant::ZERO,
        );
        interface.update_ip_addrs(|addresses| {
            addresses
                .push(IpCidr::new(IpAddress::Ipv4(OUR_IP), 24))
                .unwrap()
        });
        let mut sockets = SocketSet::new(vec![]);

        model.inject_frame(&arp_request(), 0);
        interface.poll(Instant::from_millis(1), &mut driver, &mut sockets);
        let reply = model.state().transmitted.pop().expect("an ARP reply");
        let frame = EthernetFrame::new_checked(&reply[..]).unwrap();
        assert_eq!(frame.dst_addr(), EthernetAddress(PEER_MAC));
        assert_eq!(frame.src_addr(), EthernetAddress(MAC));
        let arp = ArpRepr::parse(&ArpPacket::new_checked(frame.payload()).unwrap()).unwrap();
        assert_eq!(
            arp,
            ArpRepr::EthernetIpv4 {
                operation: ArpOperation::Reply,
                source_hardware_addr: EthernetAddress(MAC),
                source_protocol_addr: OUR_IP,
                target_hardware_addr: EthernetAddress(PEER_MAC),
                target_protocol_addr: PEER_IP,
            }
        );

        // An ICMP socket answers, which works whether or not smoltcp's `auto-icmp-echo-reply`
        // feature is on (with it, the interface sends an identical reply of its own as well).
        let mut icmp_socket = icmp::Socket::new(
            icmp::PacketBuffer::new(vec![icmp::PacketMetadata::EMPTY; 2], vec![0; 512]),
            icmp::PacketBuffer::new(vec![icmp::PacketMetadata::EMPTY; 2], vec![0; 512]),
        );
        icmp_socket.bind(icmp::Endpoint::Ident(0x1234)).unwrap();
        let handle = sockets.add(icmp_socket);
        let payload = b"bareserve ping payload 0123456789";
        model.inject_frame(&echo_request(payload), 0);
        interface.poll(Instant::from_millis(2), &mut driver, &mut sockets);
        let checksums = smoltcp::phy::ChecksumCapabilities::default();
        let socket = sockets.get_mut::<icmp::Socket>(handle);
        let (request, source) = socket
            .recv()
            .map(|(bytes, source)| (bytes.to_vec(), source))
            .unwrap();
        assert_eq!(source, IpAddress::Ipv4(PEER_IP));
        let request = Icmpv4Packet::new_checked(&request[..]).unwrap();
        let Icmpv4Repr::EchoRequest {
            ident,
            seq_no,
            data,
        } = Icmpv4Repr::parse(&request, &checksums).unwrap()
        else {
            panic!("not an echo request");
        };
        let answer = Icmpv4Repr::EchoReply {
            ident,
            seq_no,
            data,
        };
        let mut answer_bytes = vec![0u8; answer.buffer_len()];
        answer.emit(
            &mut Icmpv4Packet::new_unchecked(&mut answer_bytes[..]),
            &checksums,
        );
        socket.send_slice(&answer_bytes, source).unwrap();
        interface.poll(Instant::from_millis(3), &mut driver, &mut sockets);
        let reply = model.state().transmitted.pop().expect("an echo reply");
        let frame = EthernetFrame::new_checked(&reply[..]).unwrap();
        assert_eq!(frame.ethertype(), EthernetProtocol::Ipv4);
        let packet = Ipv4Packet::new_checked(frame.payload()).unwrap();
        assert!(packet.verify_checksum());
        assert_eq!((packet.src_addr(), packet.dst_addr()), (OUR_IP, PEER_IP));
        let icmp = Icmpv4Packet::new_checked(packet.payload()).unwrap();
        assert!(icmp.verify_checksum());
        assert_eq!(
            Icmpv4Repr::parse(&icmp, &checksums).unwrap(),
            Icmpv4Repr::EchoReply {
                ident: 0x1234,
                seq_no: 7,
                data: payload
            }
        );
        assert_eq!(driver.statistics().receive_frames, 2);
        assert_no_violations(&model);
    }
}

#[test]
fn impossible_hardware_indices_are_errors_not_panics() {
    let (mut driver, model, _clock) = start_linked(ModelConfig::default());
    // RDMA_PROD_INDEX 300 ahead of the consumer: more frames than descriptors.
    model.force(RDMA_RING16 + RING_HARDWARE_INDEX, 300);
    assert!(matches!(
        driver.receive_frame(|bytes| bytes.len()),
        Err(GenetError::InconsistentIndex {
            receive_ring: true,
            ..
        })
    ));
    assert!(driver.receive(Instant::ZERO).is_none());
    // TDMA_CONS_INDEX beyond the producer.
    model.force(TDMA_RING16 + RING_HARDWARE_INDEX, 5);
    assert!(matches!(
        driver.reclaim_transmitted(),
        Err(GenetError::InconsistentIndex {
            receive_ring: false,
            ..
        })
    ));
    assert_eq!(driver.statistics().index_faults, 3);
}
