//! ARP probing of a static address before use (RFC 5227 §2.1.1), defending it once in use
//! (§2.4 (c)), and what link changes do to both. The GENET model tests
//! (`src/nic/genet/link_tests.rs`) cover the DHCP fallback and the order of events from power-on.
#![allow(clippy::unwrap_used)]

mod common;

use bareserve::net::arp::{arp_announcement, arp_reply, arp_request};
use bareserve::net::{HttpServer, Ipv4Source, ServerConfig};
use common::{SERVER_IP, SERVER_MAC, WireEnd, test_config, test_site, wire};
use smoltcp::phy::{Device, RxToken, TxToken};
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, Ipv4Address,
};

const OTHER_HOST_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0xAB, 0xCD, 0xEF]);
const GATEWAY: Ipv4Address = Ipv4Address::new(10, 0, 2, 2);

/// An ARP request the server sent: (sender protocol address, target protocol address).
type Request = (Ipv4Address, Ipv4Address);

/// The ARP requests among the frames that reached `end`.
fn arp_requests(end: &mut WireEnd, now: Instant) -> Vec<Request> {
    let mut found = Vec::new();
    while let Some((token, _)) = end.receive(now) {
        token.consume(|bytes| {
            let frame = EthernetFrame::new_checked(bytes).unwrap();
            let Ok(packet) = ArpPacket::new_checked(frame.payload()) else {
                return;
            };
            if let Ok(ArpRepr::EthernetIpv4 {
                operation: ArpOperation::Request,
                source_hardware_addr,
                source_protocol_addr,
                target_protocol_addr,
                ..
            }) = ArpRepr::parse(&packet)
            {
                assert_eq!(source_hardware_addr, SERVER_MAC);
                found.push((source_protocol_addr, target_protocol_addr));
            }
        });
    }
    found
}

fn send(end: &mut WireEnd, now: Instant, frame: &[u8]) {
    end.transmit(now)
        .unwrap()
        .consume(frame.len(), |buffer| buffer.copy_from_slice(frame));
}

const PROBE: Request = (Ipv4Address::UNSPECIFIED, SERVER_IP);
const ANNOUNCEMENT: Request = (SERVER_IP, SERVER_IP);

struct Setup {
    server: HttpServer,
    server_end: WireEnd,
    observer: WireEnd,
    now_ms: u64,
    /// Requests seen, with the time in milliseconds.
    seen: Vec<(u64, Request)>,
}

impl Setup {
    fn new(config: ServerConfig) -> Setup {
        let (mut server_end, observer) = wire();
        let server = HttpServer::new(config, test_site(), &mut server_end, Instant::ZERO);
        Setup {
            server,
            server_end,
            observer,
            now_ms: 0,
            seen: Vec::new(),
        }
    }

    fn now(&self) -> Instant {
        Instant::ZERO + Duration::from_millis(self.now_ms)
    }

    /// Polls every 10 ms until `end_ms`.
    fn run_until_ms(&mut self, end_ms: u64) {
        while self.now_ms < end_ms {
            let now = self.now();
            self.server.poll(now, &mut self.server_end);
            let now_ms = self.now_ms;
            let requests = arp_requests(&mut self.observer, now);
            self.seen
                .extend(requests.into_iter().map(|request| (now_ms, request)));
            self.now_ms += 10;
        }
    }

    fn inject(&mut self, frame: &[u8]) {
        let now = self.now();
        send(&mut self.observer, now, frame);
    }

    fn requests_since(&self, since_ms: u64) -> Vec<Request> {
        self.seen
            .iter()
            .filter(|(ms, _)| *ms >= since_ms)
            .map(|(_, request)| *request)
            .collect()
    }
}

fn probing_config() -> ServerConfig {
    let mut config = test_config();
    config.ipv4_probe_ms = 1000;
    config
}

#[test]
fn a_static_address_is_probed_three_times_then_taken_and_announced() {
    let mut setup = Setup::new(probing_config());
    assert_eq!(setup.server.ipv4_address(), None);
    // The last probe goes out at most 700 ms in (200 ms initial wait, 2 × 250 ms).
    setup.run_until_ms(800);
    let probes: Vec<u64> = setup
        .seen
        .iter()
        .filter(|(_, request)| *request == PROBE)
        .map(|(ms, _)| *ms)
        .collect();
    assert_eq!(probes.len(), 3, "{:?}", setup.seen);
    assert!(probes[0] <= 200, "{probes:?}");
    assert_eq!(probes[1] - probes[0], 250);
    assert_eq!(probes[2] - probes[0], 500);
    // Until the wait after the last probe is over, the address is not ours.
    assert!(setup.seen.iter().all(|(_, request)| *request == PROBE));
    setup.run_until_ms(probes[2] + 490);
    assert_eq!(setup.server.ipv4_address(), None);
    setup.run_until_ms(probes[2] + 520);
    assert_eq!(setup.server.ipv4_address(), Some(SERVER_IP));
    assert_eq!(setup.server.ipv4_source(), Ipv4Source::Static);
    setup.run_until_ms(5000);
    assert_eq!(
        setup.requests_since(probes[2] + 1),
        [ANNOUNCEMENT, (SERVER_IP, GATEWAY), ANNOUNCEMENT]
    );
}

#[test]
fn a_static_address_that_another_host_answers_for_is_not_taken_and_retried_a_minute_later() {
    let mut setup = Setup::new(probing_config());
    while setup.seen.is_empty() {
        setup.run_until_ms(setup.now_ms + 10);
    }
    let reply = arp_reply(
        OTHER_HOST_MAC,
        SERVER_IP,
        SERVER_MAC,
        Ipv4Address::UNSPECIFIED,
    );
    setup.inject(&reply);
    let conflict_ms = setup.now_ms;
    setup.run_until_ms(conflict_ms + 59_000);
    assert_eq!(setup.server.ipv4_address(), None);
    assert!(matches!(
        setup.server.ipv4_source(),
        Ipv4Source::Unconfigured { .. }
    ));
    assert_eq!(setup.server.statistics().ipv4_address_conflicts, 1);
    // Not one more probe, and never an announcement for an address that is not ours.
    assert_eq!(setup.requests_since(conflict_ms + 1), []);
    // The server asks to be woken for the retry, not every few milliseconds.
    let delay = setup
        .server
        .poll(setup.now(), &mut setup.server_end)
        .unwrap();
    assert!(delay >= Duration::from_millis(900), "{delay}");

    // The other host answers again at the retry: still not taken.
    // (The first probe of the retry comes within 200 ms, the second 250 ms after it.)
    setup.run_until_ms(conflict_ms + 60_250);
    assert_eq!(setup.requests_since(conflict_ms + 59_000), [PROBE]);
    setup.inject(&reply);
    setup.run_until_ms(conflict_ms + 70_000);
    assert_eq!(setup.server.ipv4_address(), None);
    assert_eq!(setup.server.statistics().ipv4_address_conflicts, 2);
}

#[test]
fn a_host_asking_for_our_address_is_no_conflict() {
    let mut setup = Setup::new(probing_config());
    setup.run_until_ms(100);
    // Another host looks for the address's owner (sender: its own address).
    setup.inject(&arp_request(
        OTHER_HOST_MAC,
        Ipv4Address::new(10, 0, 2, 99),
        SERVER_IP,
    ));
    setup.run_until_ms(2000);
    assert_eq!(setup.server.ipv4_address(), Some(SERVER_IP));
    assert_eq!(setup.server.statistics().ipv4_address_conflicts, 0);
}

#[test]
fn an_address_in_use_is_defended_at_most_once_every_ten_seconds() {
    let mut config = test_config();
    config.ipv4_probe_ms = 0;
    let mut setup = Setup::new(config);
    setup.run_until_ms(5000);
    assert_eq!(setup.server.ipv4_address(), Some(SERVER_IP));
    let claim = arp_announcement(OTHER_HOST_MAC, SERVER_IP);
    setup.inject(&claim);
    setup.run_until_ms(6000);
    assert_eq!(setup.requests_since(5000), [ANNOUNCEMENT]);
    // A second claim within DEFEND_INTERVAL is counted but not answered; the address stays.
    setup.inject(&claim);
    setup.run_until_ms(15_000);
    assert_eq!(setup.requests_since(6000), []);
    setup.inject(&claim);
    setup.run_until_ms(16_000);
    assert_eq!(setup.requests_since(15_000), [ANNOUNCEMENT]);
    assert_eq!(setup.server.ipv4_address(), Some(SERVER_IP));
    assert_eq!(setup.server.statistics().ipv4_address_conflicts, 3);
}

#[test]
fn a_link_drop_restarts_an_unfinished_probe_and_reannounces_an_address_in_use() {
    let mut config = probing_config();
    config.link_up_at_start = false;
    let mut setup = Setup::new(config);
    setup.run_until_ms(5000);
    assert_eq!(setup.seen, [], "nothing is sent while the link is down");

    setup.server.set_link_up(true, setup.now());
    setup.run_until_ms(5400);
    let probes_before_drop = setup.requests_since(5000).len();
    assert!((1..=2).contains(&probes_before_drop), "{:?}", setup.seen);
    setup.server.set_link_up(false, setup.now());
    setup.run_until_ms(8000);
    assert_eq!(setup.requests_since(5400), []);
    assert_eq!(setup.server.ipv4_address(), None);

    // Back up: three fresh probes, then the address.
    setup.server.set_link_up(true, setup.now());
    setup.run_until_ms(9300);
    assert_eq!(
        setup.requests_since(8000),
        [PROBE, PROBE, PROBE, ANNOUNCEMENT, (SERVER_IP, GATEWAY)]
    );
    assert_eq!(setup.server.ipv4_address(), Some(SERVER_IP));

    // A drop while the address is in use keeps it; it is announced again at link up.
    setup.run_until_ms(20_000);
    setup.server.set_link_up(false, setup.now());
    setup.run_until_ms(21_000);
    setup.server.set_link_up(true, setup.now());
    setup.run_until_ms(24_000);
    assert_eq!(setup.requests_since(20_000), [ANNOUNCEMENT, ANNOUNCEMENT]);
    assert_eq!(setup.server.ipv4_address(), Some(SERVER_IP));
}
