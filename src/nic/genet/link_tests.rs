//! The server's first minute on the Pi 4, over the GENET register model: what goes out on the
//! wire, and when, from power-on with the cable unplugged to a fallback address in use. The
//! loop below does what the kernel's main loop does each round: the driver's link poll, then
//! [`HttpServer::set_link_up`], then [`HttpServer::poll`].
#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

use alloc::vec::Vec;

use smoltcp::time::Instant;
use smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol, IpProtocol,
    Ipv4Address, Ipv4Cidr, Ipv4Packet, UdpPacket,
};

use super::model::{FakeBuffers, FakeClock, GenetModel, ModelConfig};
use super::phy::LinkState;
use super::{Genet, GenetConfig};
use crate::net::arp::arp_reply;
use crate::net::{HttpServer, Ipv4Setup, Ipv4Source, ServerConfig, StaticIpv4};
use crate::site::Site;

type Driver = Genet<GenetModel, FakeBuffers, FakeClock>;

const MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x12, 0x34, 0x56];
const OTHER_HOST_MAC: EthernetAddress = EthernetAddress([0x02, 0x00, 0x00, 0xAB, 0xCD, 0xEF]);
/// The fallback address (RFC 5737 documentation range).
const FALLBACK: Ipv4Address = Ipv4Address::new(192, 0, 2, 15);
const DHCP_TIMEOUT_MS: u64 = 3000;
const LOOP_ROUND_US: u64 = 10_000;

/// A frame the server sent, as the test tells them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sent {
    DhcpDiscover,
    ArpProbe(Ipv4Address),
    ArpAnnouncement(Ipv4Address),
    ArpRequest { from: Ipv4Address, to: Ipv4Address },
    Other,
}

fn classify(frame: &[u8]) -> Sent {
    let ethernet = EthernetFrame::new_checked(frame).unwrap();
    match ethernet.ethertype() {
        EthernetProtocol::Arp => {
            let arp = ArpRepr::parse(&ArpPacket::new_checked(ethernet.payload()).unwrap()).unwrap();
            let ArpRepr::EthernetIpv4 {
                operation: ArpOperation::Request,
                source_protocol_addr: from,
                target_protocol_addr: to,
                ..
            } = arp
            else {
                return Sent::Other;
            };
            if from == Ipv4Address::UNSPECIFIED {
                Sent::ArpProbe(to)
            } else if from == to {
                Sent::ArpAnnouncement(to)
            } else {
                Sent::ArpRequest { from, to }
            }
        }
        EthernetProtocol::Ipv4 => {
            let packet = Ipv4Packet::new_checked(ethernet.payload()).unwrap();
            if packet.next_header() == IpProtocol::Udp
                && UdpPacket::new_checked(packet.payload()).unwrap().dst_port() == 67
            {
                Sent::DhcpDiscover
            } else {
                Sent::Other
            }
        }
        _ => Sent::Other,
    }
}

struct Board {
    driver: Driver,
    model: GenetModel,
    clock: FakeClock,
    server: HttpServer,
    /// Every frame sent, with the time in milliseconds since power-on.
    sent: Vec<(u64, Sent)>,
    /// When the driver reported the link up, in milliseconds.
    link_up_ms: Option<u64>,
}

impl Board {
    /// Powers on with the cable `connected` or not; the link is down until autonegotiation.
    fn power_on(connected: bool, model_config: ModelConfig) -> Board {
        let (model, receive, transmit, clock) = GenetModel::new(model_config);
        model.set_cable_connected(connected);
        let mut driver = Genet::new(
            model.clone(),
            receive,
            transmit,
            clock.clone(),
            GenetConfig::new(MAC),
        )
        .unwrap();
        let mut config = ServerConfig::new(EthernetAddress(MAC));
        config.ipv4 = Ipv4Setup::Dhcp {
            fallback: Some(StaticIpv4 {
                address: Ipv4Cidr::new(FALLBACK, 24),
                gateway: None,
            }),
            fallback_after_ms: DHCP_TIMEOUT_MS,
        };
        config.link_up_at_start = false;
        config.random_seed = 7;
        let now = Instant::from_micros(clock.now_us_for_test() as i64);
        let server = HttpServer::new(config, Site::from_entries([]), &mut driver, now);
        Board {
            driver,
            model,
            clock,
            server,
            sent: Vec::new(),
            link_up_ms: None,
        }
    }

    fn now_ms(&self) -> u64 {
        self.clock.now_us_for_test() / 1000
    }

    /// One round of the kernel's loop, then `LOOP_ROUND_US` of time.
    fn round(&mut self) {
        let now_us = self.clock.now_us_for_test();
        if let Some(LinkState::Up(_)) = self.driver.poll_link().unwrap() {
            self.link_up_ms = Some(now_us / 1000);
        }
        let now = Instant::from_micros(now_us as i64);
        let up = matches!(self.driver.link_state(), LinkState::Up(_));
        self.server.set_link_up(up, now);
        self.server.poll(now, &mut self.driver);
        let frames: Vec<Vec<u8>> = self.model.state().transmitted.drain(..).collect();
        for frame in frames {
            self.sent.push((now_us / 1000, classify(&frame)));
        }
        self.clock.advance_us(LOOP_ROUND_US);
    }

    fn run_until_ms(&mut self, end_ms: u64) {
        while self.now_ms() < end_ms {
            self.round();
        }
    }
}

#[test]
fn with_the_cable_out_nothing_is_sent_and_the_dhcp_timeout_counts_from_link_up() {
    let mut board = Board::power_on(false, ModelConfig::default());
    // Far beyond the DHCP timeout with no link: no frame, no address, no fallback.
    board.run_until_ms(20_000);
    assert_eq!(board.sent, []);
    assert_eq!(board.server.ipv4_address(), None);
    assert!(matches!(
        board.server.ipv4_source(),
        Ipv4Source::Unconfigured { .. }
    ));

    board.model.set_cable_connected(true);
    board.run_until_ms(40_000);
    let link_up_ms = board.link_up_ms.expect("the link came up");
    // Autonegotiation (3 s in the model) plus at most one loop round.
    assert!((23_000..=23_020).contains(&link_up_ms), "{link_up_ms}");

    // The first frame is a DHCP discover, in the round the link came up.
    assert_eq!(board.sent[0], (link_up_ms, Sent::DhcpDiscover));
    // No lease arrives: the fallback is probed DHCP_TIMEOUT_MS after link up (not after power
    // on), three times, then announced; the gateway is unknown, so no request for it.
    let arp: Vec<(u64, Sent)> = board
        .sent
        .iter()
        .copied()
        .filter(|(_, sent)| *sent != Sent::DhcpDiscover)
        .collect();
    let probe_times: Vec<u64> = arp
        .iter()
        .filter(|(_, sent)| *sent == Sent::ArpProbe(FALLBACK))
        .map(|(ms, _)| *ms)
        .collect();
    assert_eq!(probe_times.len(), 3, "{arp:?}");
    let fallback_at_ms = link_up_ms + DHCP_TIMEOUT_MS;
    assert!(
        (fallback_at_ms..=fallback_at_ms + 210).contains(&probe_times[0]),
        "{arp:?}"
    );
    let first_announcement = arp
        .iter()
        .position(|(_, sent)| *sent == Sent::ArpAnnouncement(FALLBACK))
        .expect("an announcement");
    assert_eq!(first_announcement, 3, "probes come first: {arp:?}");
    let (announced_ms, _) = arp[first_announcement];
    assert!(announced_ms >= probe_times[2] + 500, "{arp:?}");
    assert_eq!(board.server.ipv4_address(), Some(FALLBACK));
    assert_eq!(board.server.ipv4_source(), Ipv4Source::Fallback);
    // DHCP keeps trying in the background (smoltcp retries its discover).
    assert!(
        board
            .sent
            .iter()
            .filter(|(_, sent)| *sent == Sent::DhcpDiscover)
            .count()
            >= 2
    );
}

#[test]
fn a_fallback_address_another_host_answers_for_is_not_taken() {
    let mut board = Board::power_on(true, ModelConfig::default());
    board.run_until_ms(4_000);
    let link_up_ms = board.link_up_ms.expect("the link came up");
    // Wait for the first probe, then answer it as the host that holds the address would.
    while !board
        .sent
        .iter()
        .any(|(_, sent)| *sent == Sent::ArpProbe(FALLBACK))
    {
        board.round();
        assert!(board.now_ms() < link_up_ms + DHCP_TIMEOUT_MS + 1000);
    }
    let reply = arp_reply(
        OTHER_HOST_MAC,
        FALLBACK,
        EthernetAddress(MAC),
        Ipv4Address::UNSPECIFIED,
    );
    board.model.inject_frame(&reply, 0);
    let conflict_ms = board.now_ms();
    board.run_until_ms(conflict_ms + 30_000);
    assert_eq!(board.server.ipv4_address(), None);
    assert_eq!(board.server.statistics().ipv4_address_conflicts, 1);
    let after_conflict = |board: &Board, sent: Sent| {
        board
            .sent
            .iter()
            .filter(|(ms, kind)| *ms > conflict_ms && *kind == sent)
            .count()
    };
    assert_eq!(after_conflict(&board, Sent::ArpProbe(FALLBACK)), 0);
    assert_eq!(after_conflict(&board, Sent::ArpAnnouncement(FALLBACK)), 0);

    // A minute later the address is probed again; the other host is gone, so it is taken.
    board.run_until_ms(conflict_ms + 62_000);
    assert_eq!(after_conflict(&board, Sent::ArpProbe(FALLBACK)), 3);
    assert_eq!(board.server.ipv4_address(), Some(FALLBACK));
}
