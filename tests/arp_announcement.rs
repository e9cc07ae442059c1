//! ARP announcements (RFC 5227 §2.3) for each IPv4 address the server takes: two, 2 s apart,
//! for a static address at start and for a DHCP fallback address when it is applied; with the
//! first, a request for the gateway's MAC.
#![allow(clippy::unwrap_used)]

mod common;

use bareserve::net::{HttpServer, Ipv4Setup, StaticIpv4};
use common::{SERVER_IP, SERVER_MAC, WireEnd, test_config, test_site, wire};
use smoltcp::phy::{Device, RxToken};
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol, Ipv4Address,
};

/// The ARP requests (sender, target address) among the frames that reached `end` since the
/// last call; an announcement has both the same.
fn announcements(end: &mut WireEnd, now: Instant) -> Vec<(Ipv4Address, Ipv4Address)> {
    let mut found = Vec::new();
    while let Some((token, _)) = end.receive(now) {
        token.consume(|bytes| {
            let frame = EthernetFrame::new_checked(bytes).unwrap();
            if frame.ethertype() != EthernetProtocol::Arp {
                return;
            }
            assert_eq!(frame.dst_addr(), EthernetAddress::BROADCAST);
            assert_eq!(frame.src_addr(), SERVER_MAC);
            let arp = ArpRepr::parse(&ArpPacket::new_checked(frame.payload()).unwrap()).unwrap();
            let ArpRepr::EthernetIpv4 {
                operation,
                source_hardware_addr,
                source_protocol_addr,
                target_hardware_addr,
                target_protocol_addr,
            } = arp
            else {
                panic!("not an Ethernet/IPv4 ARP packet: {arp:?}");
            };
            assert_eq!(operation, ArpOperation::Request);
            assert_eq!(source_hardware_addr, SERVER_MAC);
            assert_eq!(target_hardware_addr, EthernetAddress([0; 6]));
            found.push((source_protocol_addr, target_protocol_addr));
        });
    }
    found
}

/// Polls the server every 100 ms over `milliseconds`; the ARP requests seen, with the time.
fn poll_every_100_ms(
    server: &mut HttpServer,
    server_end: &mut WireEnd,
    observer: &mut WireEnd,
    milliseconds: std::ops::RangeInclusive<u64>,
) -> Vec<(u64, (Ipv4Address, Ipv4Address))> {
    let mut sent = Vec::new();
    for ms in milliseconds.step_by(100) {
        let now = Instant::from_millis(0) + Duration::from_millis(ms);
        server.poll(now, server_end);
        sent.extend(
            announcements(observer, now)
                .into_iter()
                .map(|request| (ms, request)),
        );
    }
    sent
}

#[test]
fn a_static_address_is_announced_twice_two_seconds_apart_and_the_gateway_asked_for() {
    let (mut server_end, mut observer) = wire();
    let start = Instant::from_millis(0);
    let mut server = HttpServer::new(test_config(), test_site(), &mut server_end, start);
    server.poll(start, &mut server_end);
    let gateway = Ipv4Address::new(10, 0, 2, 2);
    assert_eq!(
        announcements(&mut observer, start),
        [(SERVER_IP, SERVER_IP), (SERVER_IP, gateway)]
    );
    // The loop is told to wake for the second one.
    let delay = server.poll(start + Duration::from_millis(1), &mut server_end);
    assert!(delay.is_some_and(|delay| delay <= Duration::from_millis(1999)));
    let sent = poll_every_100_ms(&mut server, &mut server_end, &mut observer, 100..=10_000);
    assert_eq!(sent, [(2000, (SERVER_IP, SERVER_IP))]);
}

#[test]
fn a_dhcp_fallback_address_is_announced_when_it_is_applied() {
    let fallback = StaticIpv4 {
        address: smoltcp::wire::Ipv4Cidr::new(Ipv4Address::new(10, 0, 2, 77), 24),
        gateway: None,
    };
    let mut config = test_config();
    config.ipv4 = Ipv4Setup::Dhcp {
        fallback: Some(fallback),
        fallback_after_ms: 3000,
    };
    let (mut server_end, mut observer) = wire();
    let start = Instant::from_millis(0);
    let mut server = HttpServer::new(config, test_site(), &mut server_end, start);
    let sent = poll_every_100_ms(&mut server, &mut server_end, &mut observer, 0..=8_000);
    let address = Ipv4Address::new(10, 0, 2, 77);
    assert_eq!(
        sent,
        [(3000, (address, address)), (5000, (address, address))]
    );
}
