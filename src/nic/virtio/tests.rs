//! Tests of the virtio-net logic against a fake pair of virtqueues that keeps the ownership rules
//! of virtio 1.2 §2.7 (a posted buffer is the device's until it is returned as used) and checks
//! that every `_complete` call gets the very buffer its `_begin` call posted.
#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use smoltcp::iface::{Config, Interface, SocketSet};
use smoltcp::phy::{Checksum, Device, RxToken, TxToken};
use smoltcp::time::Instant;
use smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol,
    EthernetRepr, HardwareAddress, IpAddress, IpCidr, Ipv4Address,
};

use super::features::{
    self, BringUpPlan, FEATURE_CHECKSUM, FEATURE_EVENT_INDEX, FEATURE_SEGMENTATION_IPV4,
    FEATURE_SEGMENTATION_IPV6, TooLittleMemory,
};
use super::{
    BUFFER_BYTES, LARGE_FRAME_BYTES, NicStatistics, Offload, QUEUE_SIZE, VirtioNet, VirtioNetQueues,
};
use crate::nic::NetworkCardControl;

const MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x12, 0x34, 0x56];
const PEER_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0xAB, 0xCD, 0xEF];
/// The modern header (virtio 1.2 §5.1.6, with `num_buffers`).
const HEADER_BYTES: usize = 12;

/// A posted buffer as the fake device sees it: where it is and how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Posted {
    address: usize,
    length: usize,
}

fn posted(bytes: &[u8]) -> Posted {
    Posted {
        address: bytes.as_ptr() as usize,
        length: bytes.len(),
    }
}

/// The fake device's two queues.
#[derive(Default)]
struct FakeQueues {
    /// Descriptors of the transmit queue (`QUEUE_SIZE` unless a test shrinks it).
    transmit_capacity: usize,
    /// Transmit tokens in flight, in order, with their buffers.
    transmit_in_flight: VecDeque<(u16, Posted)>,
    /// Whether the device sends (returns transmit buffers as used).
    transmit_stalled: bool,
    /// Everything posted for transmission, header included, in order.
    transmitted: Vec<Vec<u8>>,
    next_transmit_token: u16,
    /// Receive tokens posted and not yet filled.
    receive_posted: VecDeque<(u16, Posted)>,
    /// Filled receive buffers waiting for `poll_receive`, with the bytes the device wrote.
    receive_filled: VecDeque<(u16, Posted, Vec<u8>)>,
    next_receive_token: u16,
    interrupts_acknowledged: usize,
    /// Broken rules, for the test to assert empty.
    violations: Vec<String>,
}

#[derive(Debug, PartialEq, Eq)]
enum FakeError {
    QueueFull,
    NotReady,
    WrongBuffer,
}

impl FakeQueues {
    fn new() -> Self {
        Self {
            transmit_capacity: QUEUE_SIZE,
            ..Self::default()
        }
    }

    /// The device fills the oldest posted receive buffer with a header and `frame`.
    fn deliver(&mut self, frame: &[u8]) {
        let (token, buffer) = self.receive_posted.pop_front().expect("a posted buffer");
        let mut bytes = vec![0u8; HEADER_BYTES];
        bytes.extend_from_slice(frame);
        assert!(bytes.len() <= buffer.length);
        self.receive_filled.push_back((token, buffer, bytes));
    }

    /// The frames sent, without their headers.
    fn sent_frames(&self) -> Vec<Vec<u8>> {
        self.transmitted
            .iter()
            .map(|bytes| bytes[HEADER_BYTES..].to_vec())
            .collect()
    }
}

impl VirtioNetQueues for FakeQueues {
    type Error = FakeError;

    fn fill_header(&self, buffer: &mut [u8]) -> Result<usize, FakeError> {
        let header = buffer
            .get_mut(..HEADER_BYTES)
            .ok_or(FakeError::WrongBuffer)?;
        header.fill(0);
        Ok(HEADER_BYTES)
    }

    fn transmit_begin(&mut self, buffer: &[u8]) -> Result<u16, FakeError> {
        if self.transmit_in_flight.len() >= self.transmit_capacity {
            return Err(FakeError::QueueFull);
        }
        let token = self.next_transmit_token;
        self.next_transmit_token = (token + 1) % QUEUE_SIZE as u16;
        self.transmit_in_flight.push_back((token, posted(buffer)));
        self.transmitted.push(buffer.to_vec());
        Ok(token)
    }

    fn poll_transmit(&mut self) -> Option<u16> {
        if self.transmit_stalled {
            return None;
        }
        self.transmit_in_flight.front().map(|(token, _)| *token)
    }

    fn transmit_complete(&mut self, token: u16, buffer: &[u8]) -> Result<(), FakeError> {
        let (front, expected) = self
            .transmit_in_flight
            .pop_front()
            .ok_or(FakeError::NotReady)?;
        if front != token || expected != posted(buffer) {
            self.violations.push(alloc::format!(
                "transmit token {token} completed with another buffer"
            ));
            return Err(FakeError::WrongBuffer);
        }
        Ok(())
    }

    fn receive_begin(&mut self, buffer: &mut [u8]) -> Result<u16, FakeError> {
        if self.receive_posted.len() + self.receive_filled.len() >= QUEUE_SIZE {
            return Err(FakeError::QueueFull);
        }
        let token = self.next_receive_token;
        self.next_receive_token = (token + 1) % QUEUE_SIZE as u16;
        self.receive_posted.push_back((token, posted(buffer)));
        Ok(token)
    }

    fn poll_receive(&mut self) -> Option<u16> {
        self.receive_filled.front().map(|(token, _, _)| *token)
    }

    fn receive_complete(
        &mut self,
        token: u16,
        buffer: &mut [u8],
    ) -> Result<(usize, usize), FakeError> {
        let (front, expected, bytes) =
            self.receive_filled.pop_front().ok_or(FakeError::NotReady)?;
        if front != token || expected != posted(buffer) {
            self.violations.push(alloc::format!(
                "receive token {token} completed with another buffer"
            ));
            return Err(FakeError::WrongBuffer);
        }
        buffer[..bytes.len()].copy_from_slice(&bytes);
        Ok((HEADER_BYTES, bytes.len() - HEADER_BYTES))
    }

    fn acknowledge_interrupt(&mut self) {
        self.interrupts_acknowledged += 1;
    }
}

type Nic = VirtioNet<FakeQueues>;

fn start(offload: Offload) -> Nic {
    VirtioNet::new(FakeQueues::new(), offload, MAC).unwrap()
}

fn assert_no_violations(nic: &mut Nic) {
    let violations = &nic.queues_mut().violations;
    assert!(violations.is_empty(), "fake saw: {violations:?}");
}

/// An Ethernet frame of `length` bytes from us to the peer, built by smoltcp's own writer (what
/// panicked on the zero-length buffer).
fn write_frame(buffer: &mut [u8], seed: u8) {
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

#[test]
fn offloads_are_taken_only_as_the_rules_allow() {
    let both = FEATURE_SEGMENTATION_IPV4 | FEATURE_SEGMENTATION_IPV6;
    assert_eq!(features::offloads_wanted(0), 0);
    // §5.1.3.1: segmentation requires VIRTIO_NET_F_CSUM.
    assert_eq!(features::offloads_wanted(both), 0);
    assert_eq!(
        features::offloads_wanted(FEATURE_CHECKSUM),
        FEATURE_CHECKSUM
    );
    // IPv4 segmentation alone is not taken: an IPv6 SYN's MSS could not be raised safely.
    assert_eq!(
        features::offloads_wanted(FEATURE_CHECKSUM | FEATURE_SEGMENTATION_IPV4),
        FEATURE_CHECKSUM
    );
    assert_eq!(
        features::offloads_wanted(FEATURE_CHECKSUM | both | (1 << 5) | FEATURE_EVENT_INDEX),
        FEATURE_CHECKSUM | both
    );
}

#[test]
fn event_index_is_neither_offered_nor_accepted() {
    let offered = FEATURE_EVENT_INDEX | FEATURE_CHECKSUM | (1 << 32);
    assert_eq!(
        features::device_features_offered(offered),
        FEATURE_CHECKSUM | (1 << 32)
    );
    assert_eq!(
        features::driver_features_written(FEATURE_EVENT_INDEX | (1 << 32), FEATURE_CHECKSUM),
        FEATURE_CHECKSUM | (1 << 32)
    );
}

#[test]
fn bring_up_refuses_too_little_heap_and_segmentation_that_would_crowd_the_sockets() {
    let everything = FEATURE_CHECKSUM | FEATURE_SEGMENTATION_IPV4 | FEATURE_SEGMENTATION_IPV6;
    let base = features::BASE_POOL_BYTES;
    assert_eq!(base, 2 * 256 * 1536 + 64 * 1024);
    assert_eq!(
        features::plan_bring_up(everything, base - 1),
        Err(TooLittleMemory {
            needed_bytes: base,
            free_bytes: base - 1
        })
    );
    let roomy = base + 8 * features::LARGE_POOL_BYTES;
    assert_eq!(
        features::plan_bring_up(everything, roomy - 1),
        Ok(BringUpPlan {
            offloads: FEATURE_CHECKSUM,
            offload: Offload::Checksum,
            segmentation_refused_for_memory: true,
        })
    );
    assert_eq!(
        features::plan_bring_up(everything, roomy),
        Ok(BringUpPlan {
            offloads: everything,
            offload: Offload::ChecksumAndSegmentation,
            segmentation_refused_for_memory: false,
        })
    );
    assert_eq!(
        features::plan_bring_up(0, base).map(|plan| plan.offload),
        Ok(Offload::None)
    );
}

#[test]
fn bring_up_posts_every_receive_buffer() {
    let mut nic = start(Offload::None);
    assert_eq!(nic.receive.waiting(), 0);
    let queues = nic.queues_mut();
    assert_eq!(queues.receive_posted.len(), QUEUE_SIZE);
    assert!(
        queues
            .receive_posted
            .iter()
            .all(|(_, buffer)| buffer.length == BUFFER_BYTES && buffer.address % 64 == 0)
    );
}

#[test]
fn received_frames_arrive_exactly_and_their_buffers_go_back() {
    let mut nic = start(Offload::None);
    let incoming = arp_request();
    nic.queues_mut().deliver(&incoming);
    let (rx, _) = nic.receive(Instant::ZERO).unwrap();
    assert_eq!(rx.consume(|bytes| bytes.to_vec()), incoming);
    assert_eq!(nic.receive.waiting(), 1, "to be posted at the next poll");
    assert!(nic.receive(Instant::ZERO).is_none());
    assert_eq!(nic.receive.waiting(), 0);
    assert_eq!(nic.queues_mut().receive_posted.len(), QUEUE_SIZE);
    assert_eq!(nic.statistics().frames_received, 1);
    assert_no_violations(&mut nic);
}

#[test]
fn sent_frames_carry_a_plain_header_and_their_buffers_come_back() {
    let mut nic = start(Offload::None);
    let token = nic.transmit(Instant::ZERO).unwrap();
    token.consume(60, |buffer| write_frame(buffer, 1));
    let posted = nic.queues_mut().transmitted[0].clone();
    assert_eq!(posted.len(), HEADER_BYTES + 60);
    assert_eq!(posted[..HEADER_BYTES], [0; HEADER_BYTES]);
    assert_eq!(&posted[..][HEADER_BYTES..HEADER_BYTES + 6], &PEER_MAC);
    assert_eq!(nic.transmit.free_standard(), QUEUE_SIZE - 1);
    // The next poll reclaims the used buffer.
    assert!(nic.transmit(Instant::ZERO).is_some());
    assert_eq!(nic.transmit.free_standard(), QUEUE_SIZE);
    assert_eq!(nic.statistics().frames_sent, 1);
    assert_no_violations(&mut nic);
}

#[test]
fn capabilities_follow_the_shared_rules() {
    let plain = start(Offload::None).capabilities();
    assert_eq!(plain.max_transmission_unit, 1514);
    assert_eq!(plain.max_burst_size, Some(QUEUE_SIZE));
    assert!(matches!(plain.checksum.tcp, Checksum::Both));
    let offloaded = start(Offload::ChecksumAndSegmentation).capabilities();
    assert_eq!(offloaded.max_transmission_unit, LARGE_FRAME_BYTES);
    assert!(matches!(offloaded.checksum.tcp, Checksum::Rx));
    assert!(matches!(offloaded.checksum.ipv4, Checksum::Both));
    // The burst size is the ring's, not the momentary free count: it stays while frames are in
    // flight (the old driver reported 1 here).
    let mut nic = start(Offload::None);
    nic.queues_mut().transmit_stalled = true;
    for seed in 0..QUEUE_SIZE - 1 {
        let token = nic.transmit(Instant::ZERO).unwrap();
        token.consume(60, |buffer| write_frame(buffer, seed as u8));
    }
    assert_eq!(nic.capabilities().max_burst_size, Some(QUEUE_SIZE));
}

/// Fills the transmit queue with smoltcp-sized frames while the device sends nothing, then keeps
/// asking: no token, no panic; and the frames smoltcp writes into tokens that cannot be sent are
/// counted, each with a buffer of the length asked for.
#[test]
fn a_full_transmit_queue_gives_no_token_and_drops_what_cannot_be_sent() {
    let mut nic = start(Offload::None);
    nic.queues_mut().transmit_stalled = true;
    for seed in 0..QUEUE_SIZE {
        let token = nic.transmit(Instant::ZERO).expect("a free buffer");
        token.consume(1514, |buffer| {
            assert_eq!(buffer.len(), 1514);
            write_frame(buffer, seed as u8);
        });
    }
    assert_eq!(nic.queues_mut().transmit_in_flight.len(), QUEUE_SIZE);
    for _ in 0..3 {
        assert!(nic.transmit(Instant::ZERO).is_none(), "full: no token");
    }
    // A received frame is left in its queue while nothing could answer it (as before).
    nic.queues_mut().deliver(&arp_request());
    assert!(nic.receive(Instant::ZERO).is_none());
    assert_eq!(nic.statistics().transmit_ring_full, 4);

    // A token whose frame finds no buffer at consume time: scratch of the asked length.
    let token = super::VirtioTxToken {
        queues: &mut nic.queues,
        pool: &mut nic.transmit,
        offload: Offload::None,
        counters: &mut nic.counters,
    };
    let written = token.consume(1514, |buffer| {
        write_frame(buffer, 0xEE);
        buffer.len()
    });
    assert_eq!(written, 1514);
    assert_eq!(nic.statistics().frames_unsendable, 1);
    assert_eq!(
        nic.queues_mut().transmitted.len(),
        QUEUE_SIZE,
        "nothing more posted"
    );

    // The device catches up: everything sent is exactly what smoltcp wrote, in order.
    nic.queues_mut().transmit_stalled = false;
    let (rx, _) = nic.receive(Instant::ZERO).expect("the waiting frame");
    rx.consume(|bytes| assert_eq!(bytes, arp_request()));
    let sent = nic.queues_mut().sent_frames();
    for (seed, frame) in sent.iter().enumerate() {
        let mut expected = vec![0u8; 1514];
        write_frame(&mut expected, seed as u8);
        assert_eq!(frame, &expected);
    }
    assert_eq!(nic.statistics().frames_sent, QUEUE_SIZE as u64);
    assert_no_violations(&mut nic);
}

/// The virtqueue itself refuses (fewer descriptors than buffers): the frame already written is
/// dropped and counted; a frame longer than a standard buffer without large buffers is written
/// into scratch of its full length. Neither panics.
#[test]
fn frames_the_queue_refuses_or_no_buffer_holds_are_dropped_and_counted() {
    let mut nic = start(Offload::None);
    nic.queues_mut().transmit_stalled = true;
    nic.queues_mut().transmit_capacity = 4;
    for seed in 0..6u8 {
        let token = nic.transmit(Instant::ZERO).expect("the pool has buffers");
        token.consume(1514, |buffer| write_frame(buffer, seed));
    }
    assert_eq!(nic.queues_mut().transmitted.len(), 4);
    assert_eq!(nic.statistics().transmit_ring_full, 2);
    assert_eq!(
        nic.transmit.free_standard(),
        QUEUE_SIZE - 4,
        "refused buffers are free again"
    );

    // The old driver gave `min(length, buffer)`-long slices here, or none at all.
    let token = nic.transmit(Instant::ZERO).unwrap();
    let written = token.consume(BUFFER_BYTES + 100, |buffer| {
        write_frame(buffer, 9);
        buffer.len()
    });
    assert_eq!(written, BUFFER_BYTES + 100);
    assert_eq!(nic.statistics().frames_unsendable, 1);
    assert_eq!(nic.transmit.free_standard(), QUEUE_SIZE - 4);
    assert_no_violations(&mut nic);
}

/// smoltcp itself on a full queue: it is given no token, so it sends nothing and does not panic;
/// once the device has sent, its ARP reply goes out.
#[test]
fn smoltcp_on_a_full_transmit_queue_waits_and_then_answers() {
    let mut nic = start(Offload::None);
    let mut interface = Interface::new(
        Config::new(HardwareAddress::Ethernet(EthernetAddress(MAC))),
        &mut nic,
        Instant::ZERO,
    );
    interface.update_ip_addrs(|addresses| {
        addresses
            .push(IpCidr::new(IpAddress::Ipv4(OUR_IP), 24))
            .unwrap()
    });
    let mut sockets = SocketSet::new(vec![]);
    nic.queues_mut().transmit_stalled = true;
    for seed in 0..QUEUE_SIZE {
        let token = nic.transmit(Instant::ZERO).unwrap();
        token.consume(1514, |buffer| write_frame(buffer, seed as u8));
    }
    nic.queues_mut().deliver(&arp_request());
    interface.poll(Instant::from_millis(1), &mut nic, &mut sockets);
    assert_eq!(nic.queues_mut().transmitted.len(), QUEUE_SIZE);
    nic.queues_mut().transmit_stalled = false;
    interface.poll(Instant::from_millis(2), &mut nic, &mut sockets);
    let reply = nic.queues_mut().sent_frames().pop().expect("an ARP reply");
    let frame = EthernetFrame::new_checked(&reply[..]).unwrap();
    assert_eq!(frame.ethertype(), EthernetProtocol::Arp);
    assert_eq!(frame.dst_addr(), EthernetAddress(PEER_MAC));
    assert_eq!(
        nic.statistics(),
        NicStatistics {
            frames_received: 1,
            // The queue's frames and the ARP reply (reclaimed at smoltcp's next look).
            frames_sent: QUEUE_SIZE as u64 + 1,
            transmit_ring_full: 1,
            ..NicStatistics::default()
        }
    );
    assert_no_violations(&mut nic);
}

#[test]
fn the_card_interface_reports_the_address_and_acknowledges_interrupts() {
    let mut nic = start(Offload::Checksum);
    assert_eq!(NetworkCardControl::mac_address(&nic), MAC);
    assert!(nic.link_up());
    nic.acknowledge_interrupt();
    assert_eq!(nic.queues_mut().interrupts_acknowledged, 1);
    assert!(
        nic.describe_statistics()
            .starts_with("virtio-net: 0 frames received")
    );
}

/// A TCP segment over IPv4 from us as smoltcp builds it with `Checksum::Rx` (checksum left
/// zero), with `payload_bytes` of payload.
fn tcp_segment(payload_bytes: usize) -> Vec<u8> {
    use smoltcp::phy::ChecksumCapabilities;
    use smoltcp::wire::{
        IpProtocol, Ipv4Packet, Ipv4Repr, TcpControl, TcpPacket, TcpRepr, TcpSeqNumber,
    };
    let payload = vec![0x5A; payload_bytes];
    let tcp = TcpRepr {
        src_port: 80,
        dst_port: 40000,
        control: TcpControl::Psh,
        seq_number: TcpSeqNumber(1000),
        ack_number: Some(TcpSeqNumber(5000)),
        window_len: 64240,
        window_scale: None,
        max_seg_size: None,
        sack_permitted: false,
        sack_ranges: [None; 3],
        timestamp: None,
        payload: &payload,
    };
    let mut bytes = vec![0u8; 14 + 20 + tcp.buffer_len()];
    let mut ethernet = EthernetFrame::new_unchecked(&mut bytes[..]);
    EthernetRepr {
        src_addr: EthernetAddress(MAC),
        dst_addr: EthernetAddress(PEER_MAC),
        ethertype: EthernetProtocol::Ipv4,
    }
    .emit(&mut ethernet);
    let mut ip = Ipv4Packet::new_unchecked(ethernet.payload_mut());
    Ipv4Repr {
        src_addr: OUR_IP,
        dst_addr: PEER_IP,
        next_header: IpProtocol::Tcp,
        payload_len: tcp.buffer_len(),
        hop_limit: 64,
    }
    .emit(&mut ip, &ChecksumCapabilities::default());
    let mut caps = ChecksumCapabilities::default();
    caps.tcp = Checksum::Rx;
    tcp.emit(
        &mut TcpPacket::new_unchecked(ip.payload_mut()),
        &IpAddress::Ipv4(OUR_IP),
        &IpAddress::Ipv4(PEER_IP),
        &caps,
    );
    bytes
}

/// With offload, the header of a sent TCP frame asks the device to checksum from the TCP header
/// (virtio 1.2 §5.1.6.2: `VIRTIO_NET_HDR_F_NEEDS_CSUM`, `csum_start`, `csum_offset`) and, for a
/// large segment, to cut it (`gso_type`, `hdr_len`, `gso_size`); a large frame goes into a large
/// buffer. Without offload the header stays zero (checked above).
#[test]
fn offloaded_tcp_frames_carry_the_checksum_and_segmentation_fields() {
    let mut nic = start(Offload::ChecksumAndSegmentation);
    nic.queues_mut().transmit_stalled = true;
    let small = tcp_segment(100);
    let token = nic.transmit(Instant::ZERO).unwrap();
    token.consume(small.len(), |buffer| buffer.copy_from_slice(&small));
    let header = nic.queues_mut().transmitted[0][..HEADER_BYTES].to_vec();
    assert_eq!(header[0], 1, "NEEDS_CSUM");
    assert_eq!(header[1], 0, "GSO_NONE");
    assert_eq!(u16::from_le_bytes([header[6], header[7]]), 34, "csum_start");
    assert_eq!(
        u16::from_le_bytes([header[8], header[9]]),
        16,
        "csum_offset"
    );

    let large = tcp_segment(4 * 1460);
    assert!(large.len() > 1514);
    let token = nic.transmit(Instant::ZERO).unwrap();
    token.consume(large.len(), |buffer| buffer.copy_from_slice(&large));
    let posted = nic.queues_mut().transmitted[1].clone();
    assert_eq!(posted.len(), HEADER_BYTES + large.len());
    assert_eq!(posted[1], 1, "GSO_TCPV4");
    assert_eq!(u16::from_le_bytes([posted[2], posted[3]]), 54, "hdr_len");
    assert_eq!(u16::from_le_bytes([posted[4], posted[5]]), 1460, "gso_size");
    assert_eq!(nic.statistics().large_segments_sent, 1);
    assert_eq!(
        nic.transmit.free_standard(),
        QUEUE_SIZE - 1,
        "the large frame took a large buffer"
    );
    assert_no_violations(&mut nic);
}
