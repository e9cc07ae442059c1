//! Handshakes: a SYN to the HTTP port is answered with a SYN cookie (RFC 4987 §3.6) and leaves
//! nothing behind, so a SYN flood from forged addresses holds no socket, no memory and no slot;
//! the connection's socket is made when the client's ACK (or first data segment) returns the
//! cookie, and an ACK without a valid cookie is reset.
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

/// The client's initial sequence number in these tests.
const CLIENT_ISN: TcpSeqNumber = TcpSeqNumber(1000);

/// A SYN to port 80 from `source` (port `source_port`), as an Ethernet frame, with the options
/// a Linux client sends.
fn syn(source: Ipv4Address, source_port: u16) -> Vec<u8> {
    syn_with(source, source_port, Some(1460), Some(7))
}

/// The same with the MSS and window scale options given.
fn syn_with(
    source: Ipv4Address,
    source_port: u16,
    max_seg_size: Option<u16>,
    window_scale: Option<u8>,
) -> Vec<u8> {
    frame(
        source,
        &TcpRepr {
            src_port: source_port,
            dst_port: 80,
            control: TcpControl::Syn,
            seq_number: CLIENT_ISN,
            ack_number: None,
            window_len: 64_000,
            window_scale,
            max_seg_size,
            sack_permitted: true,
            sack_ranges: [None; 3],
            timestamp: Some(smoltcp::wire::TcpTimestampRepr::new(1, 0)),
            payload: &[],
        },
    )
}

/// The third step of the handshake from `source`:`source_port`, acknowledging `ack`, with
/// `payload` (a request sent along with the ACK, or after a lost ACK).
fn ack(source: Ipv4Address, source_port: u16, ack: TcpSeqNumber, payload: &[u8]) -> Vec<u8> {
    frame(
        source,
        &TcpRepr {
            src_port: source_port,
            dst_port: 80,
            control: if payload.is_empty() {
                TcpControl::None
            } else {
                TcpControl::Psh
            },
            seq_number: CLIENT_ISN + 1,
            ack_number: Some(ack),
            window_len: 500,
            window_scale: None,
            max_seg_size: None,
            sack_permitted: false,
            sack_ranges: [None; 3],
            timestamp: None,
            payload,
        },
    )
}

/// `tcp` from `source` to the server, as an Ethernet frame.
fn frame(source: Ipv4Address, tcp: &TcpRepr) -> Vec<u8> {
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

/// What the server sent to the clients.
#[derive(Default)]
struct Sent {
    /// The SYN-ACKs, parsed.
    syn_acks: Vec<SynAck>,
    resets: usize,
    /// Payload bytes of other segments.
    payload: Vec<u8>,
}

/// A SYN-ACK's numbers and options.
#[derive(Debug, Clone, Copy, PartialEq)]
struct SynAck {
    sequence: TcpSeqNumber,
    acknowledgement: Option<TcpSeqNumber>,
    max_seg_size: Option<u16>,
    window_scale: Option<u8>,
    sack_permitted: bool,
    timestamps: bool,
}

/// The TCP segments that reached `end`; answers ARP requests for the gateway as the gateway
/// would.
fn segments(end: &mut WireEnd, now: Instant) -> Sent {
    let mut sent = Sent::default();
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
            let repr = TcpRepr::parse(
                &tcp,
                &IpAddress::Ipv4(packet.src_addr()),
                &IpAddress::Ipv4(packet.dst_addr()),
                &ChecksumCapabilities::default(),
            )
            .expect("a well-formed segment with a valid checksum");
            if tcp.syn() && tcp.ack() {
                sent.syn_acks.push(SynAck {
                    sequence: repr.seq_number,
                    acknowledgement: repr.ack_number,
                    max_seg_size: repr.max_seg_size,
                    window_scale: repr.window_scale,
                    sack_permitted: repr.sack_permitted,
                    timestamps: repr.timestamp.is_some(),
                });
            }
            if tcp.rst() {
                sent.resets += 1;
            }
            sent.payload.extend_from_slice(repr.payload);
        });
    }
    if gateway_asked {
        let reply = arp_reply(FORGED_MAC, GATEWAY, SERVER_MAC, SERVER_IP);
        end.transmit(now)
            .unwrap()
            .consume(reply.len(), |buffer| buffer.copy_from_slice(&reply));
    }
    sent
}

/// Hands `frame` to the server's end of the wire.
fn inject(peer: &mut WireEnd, now: Instant, frame: &[u8]) {
    peer.transmit(now)
        .unwrap()
        .consume(frame.len(), |buffer| buffer.copy_from_slice(frame));
}

/// A server on the wire, polled once.
fn server() -> (HttpServer, WireEnd, WireEnd) {
    let (mut server_end, mut peer) = wire();
    let mut server = HttpServer::new(test_config(), test_site(), &mut server_end, Instant::ZERO);
    server.poll(at(0), &mut server_end);
    segments(&mut peer, at(0));
    (server, server_end, peer)
}

fn at(ms: u64) -> Instant {
    Instant::ZERO + Duration::from_millis(ms)
}

#[test]
fn a_syn_flood_gets_cookies_and_holds_no_socket() {
    let (mut server, mut server_end, mut peer) = server();
    let sockets_before = server.socket_count();
    // 1,500 SYNs from forged addresses (RFC 5737 TEST-NET-2, behind the gateway); nobody will
    // ever answer the SYN-ACKs.
    for index in 0..1500u16 {
        let frame = syn(
            Ipv4Address::new(198, 51, 100, 1 + (index / 256) as u8),
            30_000 + index,
        );
        inject(&mut peer, at(0), &frame);
        if index % 200 == 199 {
            server.poll(at(0), &mut server_end);
        }
    }
    let mut sent = Sent::default();
    for ms in (0..4000).step_by(100) {
        server.poll(at(ms), &mut server_end);
        let more = segments(&mut peer, at(ms));
        sent.syn_acks.extend(more.syn_acks);
        sent.resets += more.resets;
        assert_eq!(server.connection_count(), 0, "at {ms} ms");
        assert_eq!(server.socket_count(), sockets_before, "at {ms} ms");
    }
    // One SYN-ACK each, never retransmitted (no state), never a RST.
    assert_eq!(sent.syn_acks.len(), 1500);
    assert_eq!(sent.resets, 0);
    assert_eq!(server.statistics().syn_cookies_sent, 1500);
    assert_eq!(server.statistics().connections_accepted, 0);
    // The options a cookie can carry, and none it cannot.
    let first = sent.syn_acks[0];
    assert_eq!(first.acknowledgement, Some(CLIENT_ISN + 1));
    assert_eq!(first.max_seg_size, Some(1460));
    assert_eq!(first.window_scale, Some(0));
    assert!(!first.sack_permitted && !first.timestamps, "{first:?}");
    // Different clients, different cookies.
    assert_ne!(sent.syn_acks[0].sequence, sent.syn_acks[1].sequence);
}

#[test]
fn a_retransmitted_syn_gets_the_same_cookie() {
    let (mut server, mut server_end, mut peer) = server();
    let client = Ipv4Address::new(198, 51, 100, 7);
    inject(&mut peer, at(0), &syn(client, 41_000));
    server.poll(at(0), &mut server_end);
    let first = segments(&mut peer, at(0)).syn_acks;
    inject(&mut peer, at(1000), &syn(client, 41_000));
    server.poll(at(1000), &mut server_end);
    let second = segments(&mut peer, at(1000)).syn_acks;
    assert_eq!(first.len(), 1);
    assert_eq!(first, second);
}

#[test]
fn the_cookie_ack_opens_the_connection_and_a_request_is_served() {
    for (name, with_pure_ack) in [("ACK, then the request", true), ("lost ACK", false)] {
        let (mut server, mut server_end, mut peer) = server();
        let client = Ipv4Address::new(198, 51, 100, 9);
        inject(&mut peer, at(0), &syn(client, 42_000));
        server.poll(at(0), &mut server_end);
        let syn_ack = segments(&mut peer, at(0)).syn_acks[0];
        assert_eq!(server.connection_count(), 0, "{name}");
        let cookie_ack = syn_ack.sequence + 1;
        if with_pure_ack {
            inject(&mut peer, at(10), &ack(client, 42_000, cookie_ack, &[]));
            server.poll(at(10), &mut server_end);
            assert_eq!(server.connection_count(), 1, "{name}");
        }
        let request = common::get("/hello.txt");
        inject(
            &mut peer,
            at(20),
            &ack(client, 42_000, cookie_ack, &request),
        );
        let mut sent = Sent::default();
        for ms in (20..3000).step_by(10) {
            server.poll(at(ms), &mut server_end);
            sent.payload.extend(segments(&mut peer, at(ms)).payload);
        }
        let text = String::from_utf8_lossy(&sent.payload).into_owned();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{name}: {text}");
        assert!(
            text.ends_with(std::str::from_utf8(common::HELLO).unwrap()),
            "{name}"
        );
        assert_eq!(server.statistics().connections_accepted, 1, "{name}");
        assert_eq!(server.statistics().cookie_handshakes_failed, 0, "{name}");
    }
}

#[test]
fn every_mss_and_window_scale_a_client_offers_gives_a_working_connection() {
    for max_seg_size in [
        None,
        Some(88),
        Some(536),
        Some(1220),
        Some(1459),
        Some(9000),
        Some(u16::MAX),
    ] {
        for window_scale in [None, Some(0), Some(7), Some(14), Some(15)] {
            let name = format!("MSS {max_seg_size:?}, window scale {window_scale:?}");
            let (mut server, mut server_end, mut peer) = server();
            let client = Ipv4Address::new(198, 51, 100, 20);
            inject(
                &mut peer,
                at(0),
                &syn_with(client, 44_000, max_seg_size, window_scale),
            );
            server.poll(at(0), &mut server_end);
            let syn_ack = segments(&mut peer, at(0)).syn_acks[0];
            // Window scaling only if the client offered it (RFC 7323 §1.3).
            assert_eq!(syn_ack.window_scale, window_scale.map(|_| 0), "{name}");
            let request = common::get("/hello.txt");
            inject(
                &mut peer,
                at(10),
                &ack(client, 44_000, syn_ack.sequence + 1, &request),
            );
            let mut payload = Vec::new();
            for ms in (10..3000).step_by(10) {
                server.poll(at(ms), &mut server_end);
                payload.extend(segments(&mut peer, at(ms)).payload);
            }
            let text = String::from_utf8_lossy(&payload).into_owned();
            assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{name}: {text}");
            assert!(
                text.ends_with(std::str::from_utf8(common::HELLO).unwrap()),
                "{name}"
            );
        }
    }
}

#[test]
fn an_ack_without_a_valid_cookie_is_reset_and_opens_nothing() {
    let (mut server, mut server_end, mut peer) = server();
    let client = Ipv4Address::new(198, 51, 100, 11);
    inject(&mut peer, at(0), &syn(client, 43_000));
    server.poll(at(0), &mut server_end);
    let syn_ack = segments(&mut peer, at(0)).syn_acks[0];
    // Off by one, and a guess for a port that sent no SYN.
    inject(
        &mut peer,
        at(10),
        &ack(client, 43_000, syn_ack.sequence + 2, &[]),
    );
    inject(
        &mut peer,
        at(10),
        &ack(client, 43_001, syn_ack.sequence + 1, &[]),
    );
    server.poll(at(10), &mut server_end);
    let sent = segments(&mut peer, at(10));
    assert_eq!(sent.resets, 2);
    assert_eq!(server.connection_count(), 0);
    assert_eq!(server.statistics().invalid_cookie_acks, 2);
    // A cookie is good for one to two minutes (64 s ticks), not longer.
    inject(
        &mut peer,
        at(130_000),
        &ack(client, 43_000, syn_ack.sequence + 1, &[]),
    );
    server.poll(at(130_000), &mut server_end);
    segments(&mut peer, at(130_000));
    assert_eq!(server.statistics().invalid_cookie_acks, 3);
    assert_eq!(server.connection_count(), 0);
}
