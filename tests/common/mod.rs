//! Test harness: our `HttpServer` and a smoltcp client interface joined by an in-memory Ethernet
//! wire, with a fake clock that only moves when a test says so.
#![allow(clippy::unwrap_used, dead_code)]

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

use bareserve::net::{HttpServer, Ipv4Setup, ServerConfig, StaticIpv4};
use bareserve::site::{FileEntry, Site};
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{self, DeviceCapabilities, Medium};
use smoltcp::socket::tcp;
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{EthernetAddress, IpAddress, IpCidr, Ipv4Address, Ipv4Cidr};

/// Frames in flight in one direction.
type FrameQueue = Rc<RefCell<VecDeque<Vec<u8>>>>;

/// One end of the wire: receives from `inbound`, transmits into `outbound`.
pub struct WireEnd {
    inbound: FrameQueue,
    outbound: FrameQueue,
}

/// Two connected ends.
pub fn wire() -> (WireEnd, WireEnd) {
    let a_to_b: FrameQueue = Rc::default();
    let b_to_a: FrameQueue = Rc::default();
    (
        WireEnd {
            inbound: b_to_a.clone(),
            outbound: a_to_b.clone(),
        },
        WireEnd {
            inbound: a_to_b,
            outbound: b_to_a,
        },
    )
}

/// A received frame.
pub struct WireRxToken(Vec<u8>);

/// A frame slot on the outbound queue.
pub struct WireTxToken(FrameQueue);

impl phy::RxToken for WireRxToken {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl phy::TxToken for WireTxToken {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut frame = vec![0u8; len];
        let result = f(&mut frame);
        self.0.borrow_mut().push_back(frame);
        result
    }
}

impl phy::Device for WireEnd {
    type RxToken<'a> = WireRxToken;
    type TxToken<'a> = WireTxToken;

    fn receive(&mut self, _timestamp: Instant) -> Option<(WireRxToken, WireTxToken)> {
        let frame = self.inbound.borrow_mut().pop_front()?;
        Some((WireRxToken(frame), WireTxToken(self.outbound.clone())))
    }

    fn transmit(&mut self, _timestamp: Instant) -> Option<WireTxToken> {
        Some(WireTxToken(self.outbound.clone()))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut capabilities = DeviceCapabilities::default();
        capabilities.medium = Medium::Ethernet;
        capabilities.max_transmission_unit = 1514;
        capabilities
    }
}

pub const SERVER_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x01]);
pub const CLIENT_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x02]);
pub const SERVER_IP: Ipv4Address = Ipv4Address::new(10, 0, 2, 15);
pub const CLIENT_IP: Ipv4Address = Ipv4Address::new(10, 0, 2, 100);

pub const HELLO: &[u8] = b"Hello, bare metal!\n";
pub const STYLE: &[u8] = b"body { color: #222; }\n";

/// A 1 MiB file whose bytes depend on their position (a shifted or truncated copy shows up).
pub fn big_file() -> &'static [u8] {
    let bytes: Vec<u8> = (0..1024 * 1024u32)
        .map(|index| (index.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    Box::leak(bytes.into_boxed_slice())
}

/// The test site: `hello.txt`, `style.css`, `big.bin` (1 MiB).
pub fn test_site() -> Site {
    Site::from_entries([
        FileEntry {
            path: "hello.txt",
            body: HELLO,
            modified_unix_s: 1_700_000_000,
            etag: "\"hello-etag\"",
        },
        FileEntry {
            path: "style.css",
            body: STYLE,
            modified_unix_s: 1_700_000_000,
            etag: "\"style-etag\"",
        },
        FileEntry {
            path: "big.bin",
            body: big_file(),
            modified_unix_s: 1_700_000_000,
            etag: "\"big-etag\"",
        },
    ])
}

/// The server configuration of the tests: static `10.0.2.15/24`, port 80.
pub fn test_config() -> ServerConfig {
    let mut config = ServerConfig::new(SERVER_MAC);
    config.ipv4 = Ipv4Setup::Static(StaticIpv4::QEMU_USER_NETWORK);
    // The address is usable at once, as in the tests that came before ARP probing; the probe
    // has its own tests (tests/arp_probe.rs).
    config.ipv4_probe_ms = 0;
    config.unix_time_at_clock_zero_s = Some(1_750_000_000);
    config
}

/// Server, client, wire and clock.
pub struct Harness {
    now: Instant,
    pub server: HttpServer,
    server_end: WireEnd,
    client_interface: Interface,
    client_end: WireEnd,
    pub client_sockets: SocketSet<'static>,
    /// Sockets whose received bytes the harness collects every round (a reading client).
    reading: HashMap<SocketHandle, Vec<u8>>,
    next_local_port: u16,
}

impl Harness {
    pub fn new(config: ServerConfig) -> Harness {
        let (mut server_end, mut client_end) = wire();
        let now = Instant::from_millis(0);
        let server = HttpServer::new(config, test_site(), &mut server_end, now);
        let mut client_config = Config::new(CLIENT_MAC.into());
        client_config.random_seed = 7;
        let mut client_interface = Interface::new(client_config, &mut client_end, now);
        client_interface.update_ip_addrs(|addresses| {
            addresses
                .push(IpCidr::Ipv4(Ipv4Cidr::new(CLIENT_IP, 24)))
                .unwrap();
        });
        Harness {
            now,
            server,
            server_end,
            client_interface,
            client_end,
            client_sockets: SocketSet::new(Vec::new()),
            reading: HashMap::new(),
            next_local_port: 40_000,
        }
    }

    pub fn now(&self) -> Instant {
        self.now
    }

    /// One round: the server polls, the client polls, reading clients collect their bytes.
    /// Returns whether any frame was in flight.
    pub fn round(&mut self) -> bool {
        let busy = !self.server_end.inbound.borrow().is_empty()
            || !self.client_end.inbound.borrow().is_empty();
        self.server.poll(self.now, &mut self.server_end);
        self.client_interface
            .poll(self.now, &mut self.client_end, &mut self.client_sockets);
        for (handle, received) in self.reading.iter_mut() {
            let socket = self.client_sockets.get_mut::<tcp::Socket>(*handle);
            while socket.can_recv() {
                socket
                    .recv(|bytes| {
                        received.extend_from_slice(bytes);
                        (bytes.len(), ())
                    })
                    .unwrap();
            }
        }
        busy
    }

    /// Runs rounds until no frame is in flight for a few rounds, moving the clock 1 ms per
    /// round so that TCP timers work. Bounded.
    pub fn settle(&mut self) {
        let mut quiet_rounds = 0;
        for _ in 0..100_000 {
            if self.round() {
                quiet_rounds = 0;
            } else {
                quiet_rounds += 1;
                if quiet_rounds >= 3 {
                    return;
                }
            }
            self.now += Duration::from_millis(1);
        }
        panic!("the network did not settle");
    }

    /// Runs rounds (1 ms each) until `done` holds; panics after `max_rounds`.
    #[track_caller]
    pub fn run_until(&mut self, max_rounds: usize, mut done: impl FnMut(&mut Harness) -> bool) {
        for _ in 0..max_rounds {
            self.round();
            if done(self) {
                return;
            }
            self.now += Duration::from_millis(1);
        }
        panic!("condition not reached within {max_rounds} rounds");
    }

    /// Moves the clock forward, then settles.
    pub fn advance(&mut self, duration: Duration) {
        self.now += duration;
        self.settle();
    }

    /// Opens a client connection to the server (not yet established until rounds run). The
    /// harness collects received bytes when `reading`.
    pub fn connect_with(&mut self, rx_buffer_bytes: usize, reading: bool) -> SocketHandle {
        self.connect_to_port(80, rx_buffer_bytes, reading)
    }

    /// Like [`Harness::connect_with`], to any TCP port of the server.
    pub fn connect_to_port(
        &mut self,
        server_port: u16,
        rx_buffer_bytes: usize,
        reading: bool,
    ) -> SocketHandle {
        let mut socket = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0u8; rx_buffer_bytes]),
            tcp::SocketBuffer::new(vec![0u8; 64 * 1024]),
        );
        socket.set_ack_delay(None);
        let local_port = self.next_local_port;
        self.next_local_port += 1;
        socket
            .connect(
                self.client_interface.context(),
                (IpAddress::Ipv4(SERVER_IP), server_port),
                local_port,
            )
            .unwrap();
        let handle = self.client_sockets.add(socket);
        if reading {
            self.reading.insert(handle, Vec::new());
        }
        handle
    }

    /// A reading client with a 64 KiB receive buffer, connected (established).
    #[track_caller]
    pub fn connect(&mut self) -> SocketHandle {
        let handle = self.connect_with(64 * 1024, true);
        self.run_until(1000, |harness| {
            harness.state(handle) == tcp::State::Established
        });
        // The server opens the connection when the client's ACK arrives (SYN cookies): one more
        // round delivers it, so the server's time limits count from now.
        self.round();
        handle
    }

    pub fn state(&self, handle: SocketHandle) -> tcp::State {
        self.client_sockets.get::<tcp::Socket>(handle).state()
    }

    pub fn socket(&mut self, handle: SocketHandle) -> &mut tcp::Socket<'static> {
        self.client_sockets.get_mut::<tcp::Socket>(handle)
    }

    /// Queues bytes on a client socket (all of them must fit the send buffer).
    pub fn send(&mut self, handle: SocketHandle, bytes: &[u8]) {
        let sent = self.socket(handle).send_slice(bytes).unwrap();
        assert_eq!(sent, bytes.len(), "client send buffer too small");
    }

    /// Bytes received so far on a reading client socket.
    pub fn received(&self, handle: SocketHandle) -> &[u8] {
        &self.reading[&handle]
    }

    /// Takes the bytes received so far on a reading client socket.
    pub fn take_received(&mut self, handle: SocketHandle) -> Vec<u8> {
        std::mem::take(self.reading.get_mut(&handle).unwrap())
    }

    /// Whether the server closed its sending half towards this client (FIN received).
    pub fn peer_closed(&self, handle: SocketHandle) -> bool {
        matches!(
            self.state(handle),
            tcp::State::CloseWait
                | tcp::State::LastAck
                | tcp::State::Closed
                | tcp::State::TimeWait
                | tcp::State::Closing
        )
    }

    /// Closes and removes a client socket once the close completes (or aborts it).
    #[track_caller]
    pub fn close_client(&mut self, handle: SocketHandle) {
        self.socket(handle).close();
        self.run_until(5000, |harness| {
            matches!(
                harness.state(handle),
                tcp::State::Closed | tcp::State::TimeWait
            )
        });
        self.client_sockets.remove(handle);
        self.reading.remove(&handle);
    }

    /// Removes a client socket without closing it.
    pub fn remove_client(&mut self, handle: SocketHandle) {
        self.client_sockets.remove(handle);
        self.reading.remove(&handle);
    }

    /// Sends a request and waits until `count` complete responses have arrived.
    #[track_caller]
    pub fn request(
        &mut self,
        handle: SocketHandle,
        request: &[u8],
        head_only: &[bool],
    ) -> Vec<ParsedResponse> {
        self.send(handle, request);
        let mut responses = Vec::new();
        self.run_until(20_000, |harness| {
            match parse_responses(harness.received(handle), head_only) {
                Some(parsed) => {
                    responses = parsed;
                    true
                }
                None => false,
            }
        });
        self.take_received(handle);
        responses
    }
}

/// A response as a client sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl ParsedResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(field, _)| field.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// Parses exactly `head_only.len()` responses from `bytes` (`head_only[i]`: the i-th answered a
/// HEAD, so it has no body). `None` while incomplete; panics on bytes left over or malformed.
pub fn parse_responses(bytes: &[u8], head_only: &[bool]) -> Option<Vec<ParsedResponse>> {
    let mut responses = Vec::new();
    let mut rest = bytes;
    for &is_head in head_only {
        let head_end = rest.windows(4).position(|window| window == b"\r\n\r\n")?;
        let head = std::str::from_utf8(&rest[..head_end]).unwrap();
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap();
        assert!(
            status_line.starts_with("HTTP/1.1 "),
            "status line {status_line:?}"
        );
        let status: u16 = status_line[9..12].parse().unwrap();
        let headers: Vec<(String, String)> = lines
            .map(|line| {
                let (name, value) = line.split_once(':').unwrap();
                (name.to_string(), value.trim().to_string())
            })
            .collect();
        let response = ParsedResponse {
            status,
            headers,
            body: Vec::new(),
        };
        let body_len: usize = if is_head || status == 304 {
            0
        } else {
            response.header("content-length").unwrap().parse().unwrap()
        };
        let body_start = head_end + 4;
        if rest.len() < body_start + body_len {
            return None;
        }
        responses.push(ParsedResponse {
            body: rest[body_start..body_start + body_len].to_vec(),
            ..response
        });
        rest = &rest[body_start + body_len..];
    }
    assert!(
        rest.is_empty(),
        "unexpected bytes after the responses: {:?}",
        String::from_utf8_lossy(rest)
    );
    Some(responses)
}

/// `GET path` with a Host header.
pub fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").into_bytes()
}
