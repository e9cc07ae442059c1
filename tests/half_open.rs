//! Half-open connections: a SYN whose sender never completes the handshake (a SYN flood with
//! forged addresses) holds a socket in SYN-RECEIVED only for the handshake limit, then the slot
//! is free again; beyond the half-open limit the oldest handshake makes way.
#![allow(clippy::unwrap_used)]

mod common;

use bareserve::net::HttpServer;
use bareserve::net::arp::arp_reply;
use common::{SERVER_IP, SERVER_MAC, WireEnd, test_config, test_site, wire};
use smoltcp::phy::{ChecksumCapabilities, Device, RxToken, TxToken};
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol,
    EthernetRepr, IpAddress, IpProtocol, Ipv4Address, Ipv4Packet, Ipv4Repr, TcpControl, TcpPacket,
    TcpRepr, TcpSeqNumber,
};

/// The gateway's MAC: the forged sources are off-link, so replies go through the gateway.
const FORGED_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x66]);
const GATEWAY: Ipv4Address = Ipv4Address::new(10, 0, 2, 2);

/// A SYN to port 80 from `source` (port `source_port`), as an Ethernet frame.
fn syn(source: Ipv4Address, source_port: u16) -> Vec<u8> {
    let tcp = TcpRepr {
        src_port: source_port,
        dst_port: 80,
        control: TcpControl::Syn,
        seq_number: TcpSeqNumber(1000),
        ack_number: None,
        window_len: 64_000,
        window_scale: None,
        max_seg_size: Some(1460),
        sack_permitted: false,
        sack_ranges: [None; 3],
        timestamp: None,
        payload: &[],
    };
    let ip = Ipv4Repr {
        src_addr: source,
        dst_addr: SERVER_IP,
        next_header: IpProtocol::Tcp,
        payload_len: tcp.buffer_len(),
        hop_limit: 64,
    };
    let ethernet = EthernetRepr {
        src_addr: FORGED_MAC,
        dst_addr: SERVER_MAC,
        ethertype: EthernetProtocol::Ipv4,
    };
    let mut bytes = vec![0u8; ethernet.buffer_len() + ip.buffer_len() + tcp.buffer_len()];
    let mut frame = EthernetFrame::new_unchecked(&mut bytes);
    ethernet.emit(&mut frame);
    let checksums = ChecksumCapabilities::default();
    let mut packet = Ipv4Packet::new_unchecked(frame.payload_mut());
    ip.emit(&mut packet, &checksums);
    tcp.emit(
        &mut TcpPacket::new_unchecked(packet.payload_mut()),
        &IpAddress::Ipv4(source),
        &IpAddress::Ipv4(SERVER_IP),
        &checksums,
    );
    bytes
}

/// (SYN-ACKs, RSTs) among the TCP segments that reached `end`; answers ARP requests for the
/// gateway as the gateway would.
fn segments(end: &mut WireEnd, now: Instant) -> (usize, usize) {
    let (mut syn_acks, mut resets) = (0, 0);
    let mut gateway_asked = false;
    while let Some((token, _)) = end.receive(now) {
        token.consume(|bytes| {
            let frame = EthernetFrame::new_checked(bytes).unwrap();
            if frame.ethertype() == EthernetProtocol::Arp {
                let arp = ArpRepr::parse(&ArpPacket::new_checked(frame.payload()).unwrap());
                if let Ok(ArpRepr::EthernetIpv4 {
                    operation: ArpOperation::Request,
                    target_protocol_addr: GATEWAY,
                    ..
                }) = arp
                {
                    gateway_asked = true;
                }
                return;
            }
            if frame.ethertype() != EthernetProtocol::Ipv4 {
                return;
            }
            let packet = Ipv4Packet::new_checked(frame.payload()).unwrap();
            if packet.next_header() != IpProtocol::Tcp {
                return;
            }
            let tcp = TcpPacket::new_checked(packet.payload()).unwrap();
            if tcp.syn() && tcp.ack() {
                syn_acks += 1;
            }
            if tcp.rst() {
                resets += 1;
            }
        });
    }
    if gateway_asked {
        let reply = arp_reply(FORGED_MAC, GATEWAY, SERVER_MAC, SERVER_IP);
        end.transmit(now)
            .unwrap()
            .consume(reply.len(), |buffer| buffer.copy_from_slice(&reply));
    }
    (syn_acks, resets)
}

#[test]
fn a_handshake_that_never_completes_frees_its_slot_within_three_seconds() {
    let (mut server_end, mut peer) = wire();
    let mut server = HttpServer::new(test_config(), test_site(), &mut server_end, Instant::ZERO);
    let at = |ms: u64| Instant::ZERO + Duration::from_millis(ms);
    server.poll(at(0), &mut server_end);
    segments(&mut peer, at(0));

    // Ten SYNs from forged addresses (RFC 5737 TEST-NET-2, behind the gateway); nobody will ever
    // answer the SYN-ACKs.
    for index in 0..10u8 {
        let frame = syn(
            Ipv4Address::new(198, 51, 100, 50 + index),
            40_000 + u16::from(index),
        );
        peer.transmit(at(0))
            .unwrap()
            .consume(frame.len(), |buffer| buffer.copy_from_slice(&frame));
    }
    let (mut syn_acks, mut resets) = (0, 0);
    let mut poll_every_10_ms = |server: &mut HttpServer, range: std::ops::Range<u64>| {
        for ms in range.step_by(10) {
            server.poll(at(ms), &mut server_end);
            let (acks, rsts) = segments(&mut peer, at(ms));
            syn_acks += acks;
            resets += rsts;
        }
    };
    poll_every_10_ms(&mut server, 0..2490);
    assert_eq!(
        server.connection_count(),
        10,
        "half-open sockets hold slots"
    );
    assert_eq!(server.statistics().handshakes_abandoned, 0);
    // No request head can come before the handshake, so nothing was "accepted" yet.
    assert_eq!(server.statistics().connections_accepted, 0);

    poll_every_10_ms(&mut server, 2490..2600);
    assert_eq!(server.connection_count(), 0, "the slots are free again");
    assert_eq!(server.statistics().handshakes_abandoned, 10);
    // Each got its SYN-ACK (and retransmissions), then one RST when it was given up.
    assert!(syn_acks >= 10, "{syn_acks} SYN-ACKs");
    assert_eq!(resets, 10);

    // The server still takes new connections normally afterwards.
    let mut harness = common::Harness::new(test_config());
    let client = harness.connect();
    let responses = harness.request(client, &common::get("/hello.txt"), &[false]);
    assert_eq!(responses[0].body, common::HELLO);
}

/// A burst of forged SYNs larger than the half-open limit (1,024): the oldest half-open sockets
/// are aborted as new SYNs arrive, so the flood never holds more than the limit, and a real
/// client is still served in the middle of it.
#[test]
fn a_syn_flood_holds_at_most_the_half_open_limit() {
    let (mut server_end, mut peer) = wire();
    let mut config = test_config();
    config.tcp_tx_buffer_bytes = 8 * 1024;
    let mut server = HttpServer::new(config, test_site(), &mut server_end, Instant::ZERO);
    let at = |ms: u64| Instant::ZERO + Duration::from_millis(ms);
    server.poll(at(0), &mut server_end);
    segments(&mut peer, at(0));
    for index in 0..1500u16 {
        let frame = syn(
            Ipv4Address::new(198, 51, 100, 1 + (index / 256) as u8),
            30_000 + index,
        );
        peer.transmit(at(0))
            .unwrap()
            .consume(frame.len(), |buffer| buffer.copy_from_slice(&frame));
    }
    for ms in (0..100).step_by(10) {
        server.poll(at(ms), &mut server_end);
        segments(&mut peer, at(ms));
    }
    assert!(
        server.connection_count() <= 1024,
        "{} half-open sockets",
        server.connection_count()
    );
    assert!(
        server.statistics().handshakes_abandoned >= 1500 - 1024,
        "{} abandoned",
        server.statistics().handshakes_abandoned
    );
}
