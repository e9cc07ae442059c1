//! The network loop: a smoltcp interface, DHCPv4, a pool of listening sockets and one HTTP
//! [`Connection`] per connected socket, generic over `smoltcp::phy::Device`.
//!
//! The kernel owns the device and the clock; it calls [`HttpServer::poll`] whenever a frame may
//! have arrived or the returned delay has passed, and sleeps (WFI) in between.
//!
//! **Accepting connections.** smoltcp has no accept queue: a listening socket turns into the
//! connection it accepts, and a SYN that finds no listening socket is answered with RST. The
//! server therefore keeps [`ServerConfig::listen_backlog`] sockets listening and replaces each
//! one as soon as it is taken, as long as fewer than [`ServerConfig::max_connections`]
//! connections exist. At the limit it keeps a single *overflow* listener with small buffers;
//! a connection it accepts reads one request head and gets `503 Service Unavailable` with
//! `Retry-After: 1`, then closes — a clear answer instead of a reset — and one idle keep-alive
//! connection is closed to make room for the retry (as nginx reuses idle connections). At most
//! [`ServerConfig::overflow_connections_max`] such connections exist at once.
//!
//! **Beyond every limit** — no listening socket at all, because the overflow slots are taken or
//! the heap cannot hold even the overflow socket's buffers — a new SYN to the HTTP port is
//! dropped unanswered rather than reset, as Linux does when a listener's accept queue is full
//! (`net.ipv4.tcp_abort_on_overflow` = 0, the default). The client retransmits its SYN after
//! its retransmission timeout (RFC 6298 §2: 1 s at first, doubling), by which time capacity may
//! be back; a reset would make it give up, or reconnect at once and be reset again. The drops are
//! counted in [`ServerStatistics::syns_dropped_at_limit`] and logged at most once a second. SYNs
//! to other ports are still answered with RST (RFC 9293 §3.10.7.1).
//!
//! **Closing.** A connection that is done is closed gracefully (FIN once the send buffer has
//! drained); if the peer has not completed the close within [`ServerConfig::close_linger_ms`]
//! the socket is aborted (overflow connections: within a second, and they wait at most a second
//! for their request head, so idle clients cannot hold the overflow slots). A socket that
//! reaches CLOSED or TIME-WAIT is removed from the socket set, which frees its buffers: memory
//! stays bounded by the connection limits.
//!
//! **Access log.** With [`ServerConfig::access_log`] on, one `info` line per request:
//! `peer "METHOD target" status bytes duration`, where the duration runs from the moment the
//! request was parsed to the moment its last byte was handed to the TCP send buffer.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use log::{info, warn};
use smoltcp::iface::{
    Config, Interface, PollIngressSingleResult, PollResult, SocketHandle, SocketSet,
};
use smoltcp::phy::{Device, DeviceCapabilities, PacketMeta, RxToken, TxToken};
use smoltcp::socket::{dhcpv4, tcp};
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{
    EthernetAddress, HardwareAddress, IpAddress, IpCidr, IpEndpoint, IpListenEndpoint, Ipv4Address,
    Ipv4Cidr, Ipv6Address, Ipv6Cidr, TcpPacket,
};

use crate::address_claim::{
    AddressProbe, ArpConflict, CONFLICT_RETRY_US, DEFEND_INTERVAL_US, ProbeStep, arp_announcement,
    arp_conflict, arp_probe, arp_request,
};

use crate::http::connection::{
    Connection, ConnectionTimeouts, Disposition, RequestRecord, ResponseContext, TimeoutEvent,
};
use crate::http::{Limits, ResponseSettings};
use crate::site::Site;
use crate::tcp_frame::locate_tcp;

/// Most rounds of "receive frames, service every socket, transmit" in one [`HttpServer::poll`];
/// rounds repeat while anything moves (smoltcp PR #991: handle every pending frame per poll).
/// The bound keeps one call's work finite when a peer keeps sending.
const POLL_ROUNDS_MAX: usize = 32;

/// Most frames received in one round before the sockets are serviced.
const INGRESS_FRAMES_PER_ROUND_MAX: usize = 256;

/// ARP announcements sent for each new IPv4 address, and the time between them (RFC 5227 §1.1,
/// ANNOUNCE_NUM and ANNOUNCE_INTERVAL).
const ARP_ANNOUNCEMENTS: u8 = 2;
const ARP_ANNOUNCEMENT_INTERVAL_US: u64 = 2_000_000;

/// Heap kept free besides a new socket's buffers: room for the connection state, request
/// buffers and responses of the connections already open.
pub const MEMORY_RESERVE_BYTES: usize = 256 * 1024;

/// Buffer size, each way, of a socket on the overflow listener: enough for a request head's
/// first segment and the `503` response.
const OVERFLOW_BUFFER_BYTES: usize = 2048;

/// Longest wait, in milliseconds, for the request head on an overflow connection before it is
/// answered `503` regardless: the slots are few, and idle connections (a flood, or browsers'
/// speculative connections) would otherwise hold them for the whole request-head timeout.
const OVERFLOW_REQUEST_HEAD_MS: u64 = 1000;

/// Longest wait, in milliseconds, for a client to complete the close of an overflow connection
/// after its `503`, or of an idle connection closed to make room: a client that keeps its end
/// open (a flood) must not hold the slots for the whole [`ServerConfig::close_linger_ms`]. A
/// second is ample for the few hundred bytes of a `503` to be delivered, and a reclaimed idle
/// connection has nothing left to deliver.
const SHORT_CLOSE_LINGER_MS: u64 = 1000;

/// How long a closing socket waits for the peer before it is aborted, in milliseconds.
fn close_linger_ms(config: &ServerConfig, slot: &SocketSlot) -> u64 {
    if slot.role == SocketRole::Overflow || slot.reclaimed {
        config.close_linger_ms.min(SHORT_CLOSE_LINGER_MS)
    } else {
        config.close_linger_ms
    }
}

/// A static IPv4 configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StaticIpv4 {
    /// Address and prefix length (`10.0.2.15/24`).
    pub address: Ipv4Cidr,
    /// Default gateway, if any.
    pub gateway: Option<Ipv4Address>,
}

impl StaticIpv4 {
    /// QEMU user networking's guest address: `10.0.2.15/24` via `10.0.2.2`.
    pub const QEMU_USER_NETWORK: StaticIpv4 = StaticIpv4 {
        address: crate::boot::settings::QEMU_USER_NETWORK_ADDRESS,
        gateway: Some(crate::boot::settings::QEMU_USER_NETWORK_GATEWAY),
    };
}

/// How the IPv4 address is obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ipv4Setup {
    /// DHCPv4 (RFC 2131). If no lease arrives within `fallback_after_ms`, `fallback` (if any) is
    /// applied; DHCP keeps running, and a later lease replaces the fallback.
    Dhcp {
        /// Address to use when no DHCP server answers.
        fallback: Option<StaticIpv4>,
        /// How long to wait for a lease before applying `fallback`.
        fallback_after_ms: u64,
    },
    /// A fixed address (bootargs `ip=` and `gw=`); no DHCP.
    Static(StaticIpv4),
}

/// A static IPv6 configuration, in addition to the link-local address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StaticIpv6 {
    /// Address and prefix length.
    pub address: Ipv6Cidr,
    /// Default gateway, if any.
    pub gateway: Option<Ipv6Address>,
}

/// Everything the server needs from the kernel (mostly from bootargs).
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The NIC's MAC address.
    pub mac: EthernetAddress,
    /// Seed for smoltcp's TCP initial sequence numbers and ports; should differ per boot
    /// (the kernel uses the timer counter).
    pub random_seed: u64,
    /// TCP port of the HTTP server.
    pub http_port: u16,
    /// IPv4 address set-up.
    pub ipv4: Ipv4Setup,
    /// The window, in milliseconds, in which a static or DHCP-fallback IPv4 address is probed
    /// with ARP before it is used (RFC 5227 §2.1.1; see [`crate::address_claim`]); 0 takes the
    /// address at once.
    pub ipv4_probe_ms: u64,
    /// Whether the link is up when the server starts. A NIC whose link comes up later (GENET,
    /// after autonegotiation) starts with `false` and reports changes through
    /// [`HttpServer::set_link_up`]: DHCP, the DHCP timeout, ARP probes and announcements all
    /// wait for the link, so that nothing is sent into a dead link and a DHCP server gets the
    /// whole timeout to answer.
    pub link_up_at_start: bool,
    /// A static IPv6 address besides the EUI-64 link-local one (smoltcp is built with
    /// `iface-max-addr-count-3`: room for IPv4, link-local and this one).
    pub ipv6: Option<StaticIpv6>,
    /// Most simultaneous connections, half-open ones and closing ones included.
    pub max_connections: usize,
    /// Sockets kept listening at once: how many SYNs can arrive between two polls.
    pub listen_backlog: usize,
    /// Most simultaneous connections accepted beyond `max_connections` to answer `503`. While all
    /// of them are in use, new SYNs are dropped (the client retries them) instead of reset.
    pub overflow_connections_max: usize,
    /// TCP receive buffer per connection, in bytes (requests are small).
    pub tcp_rx_buffer_bytes: usize,
    /// TCP send buffer per connection, in bytes (the in-flight window: size for throughput).
    pub tcp_tx_buffer_bytes: usize,
    /// How long a closing connection may take to finish the TCP close before it is aborted.
    pub close_linger_ms: u64,
    /// Log one line per request at `info` level.
    pub access_log: bool,
    /// Time limits of each connection.
    pub timeouts: ConnectionTimeouts,
    /// Limits on requests.
    pub limits: Limits,
    /// Settings shaping every response.
    pub response: ResponseSettings,
    /// Free heap bytes now, if the caller can tell. Before a listening socket is added, the
    /// server checks that its buffers and a reserve ([`MEMORY_RESERVE_BYTES`]) fit; when they
    /// do not, new clients get `503` from the small overflow socket (or, when even that does not
    /// fit, their SYN is dropped and retried by the client) instead of the allocation failing.
    pub free_memory_bytes: Option<fn() -> usize>,
    /// A microsecond clock on the same time base as the `Instant`s passed to
    /// [`HttpServer::poll`], if the caller has one. Within one poll the server otherwise sees a
    /// single instant, and the access log's durations (request parsed → last byte handed to
    /// TCP) would all read 0.
    pub clock_us: Option<fn() -> u64>,
    /// Unix time, in seconds, at `Instant` zero of the clock passed to [`HttpServer::poll`], if
    /// known (the RTC on QEMU `virt`; the Raspberry Pi has none). Used for `Date`.
    pub unix_time_at_clock_zero_s: Option<u64>,
}

impl ServerConfig {
    /// The defaults for a NIC with address `mac`: port 80, DHCP with the QEMU user-network
    /// fallback after 10 s (probed with ARP for 1 s before use), link up, 128 connections, 8 listening sockets, 64 overflow (503) sockets, 4 KiB receive and 64 KiB send
    /// buffers, access log on.
    pub fn new(mac: EthernetAddress) -> ServerConfig {
        ServerConfig {
            mac,
            random_seed: 0,
            http_port: crate::boot::settings::DEFAULT_HTTP_PORT,
            ipv4: Ipv4Setup::Dhcp {
                fallback: Some(StaticIpv4::QEMU_USER_NETWORK),
                fallback_after_ms: crate::boot::settings::DEFAULT_DHCP_TIMEOUT_MS,
            },
            ipv4_probe_ms: crate::boot::settings::DEFAULT_IPV4_PROBE_MS,
            link_up_at_start: true,
            ipv6: None,
            max_connections: crate::boot::settings::DEFAULT_MAX_CONNECTIONS,
            listen_backlog: 8,
            overflow_connections_max: 64,
            tcp_rx_buffer_bytes: 4 * 1024,
            tcp_tx_buffer_bytes: 64 * 1024,
            close_linger_ms: 10_000,
            access_log: true,
            timeouts: ConnectionTimeouts::default(),
            limits: Limits::default(),
            response: ResponseSettings {
                server_name: "bareserve",
                cache_control: None,
            },
            unix_time_at_clock_zero_s: None,
            free_memory_bytes: None,
            clock_us: None,
        }
    }
}

impl ServerConfig {
    /// Largest send buffer per connection, which bounds the bytes a connection has in flight
    /// (docs/design-notes.md §1: 1 KiB buffers cripple throughput). With segmentation offload a
    /// segment is 16 KB, and 64 KiB held only four: 10 MiB over tap moved 210-249 MB/s with
    /// 64 KiB, 268-291 with 128 KiB and 311-373 with 256 KiB, for 10-15 % fewer new connections per
    /// second (each socket's buffer is allocated and zeroed: 3,300-3,800/s with 64 KiB,
    /// 3,000-3,200/s with 256 KiB over user networking). On little RAM
    /// [`Self::fit_buffers_to_memory`] gives less.
    pub const TCP_TX_BUFFER_MAX_BYTES: usize = 256 * 1024;
    /// Smallest send buffer per connection: a few full-size segments in flight.
    pub const TCP_TX_BUFFER_MIN_BYTES: usize = 8 * 1024;

    /// Sizes the per-connection send buffers so that every socket the server may hold at once
    /// (`max_connections`, the listeners and the overflow sockets) fits in `memory_budget_bytes`,
    /// between [`Self::TCP_TX_BUFFER_MIN_BYTES`] and [`Self::TCP_TX_BUFFER_MAX_BYTES`], rounded
    /// down to 1 KiB. Many connections on little RAM get smaller windows instead of running the
    /// heap dry; returns the chosen size.
    pub fn fit_buffers_to_memory(&mut self, memory_budget_bytes: usize) -> usize {
        // Overflow sockets only carry a 503: their small buffers come off the top.
        let overflow_bytes = self
            .overflow_connections_max
            .saturating_mul(2 * OVERFLOW_BUFFER_BYTES);
        let sockets = self
            .max_connections
            .saturating_add(self.listen_backlog)
            .max(1);
        let per_socket = memory_budget_bytes.saturating_sub(overflow_bytes) / sockets;
        let for_send = per_socket.saturating_sub(self.tcp_rx_buffer_bytes) & !1023;
        self.tcp_tx_buffer_bytes =
            for_send.clamp(Self::TCP_TX_BUFFER_MIN_BYTES, Self::TCP_TX_BUFFER_MAX_BYTES);
        self.tcp_tx_buffer_bytes
    }
}

/// Counters the kernel can print.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerStatistics {
    /// Connections accepted within the limit.
    pub connections_accepted: u64,
    /// Connections accepted beyond the limit and answered `503`.
    pub connections_refused: u64,
    /// Requests answered (every response queued, error responses included).
    pub requests_answered: u64,
    /// Response bytes handed to TCP.
    pub bytes_sent: u64,
    /// Requests whose head did not arrive in time (`408`).
    pub request_head_timeouts: u64,
    /// Idle persistent connections closed.
    pub keep_alive_timeouts: u64,
    /// Connections reset because the client stopped reading, or did not finish closing.
    pub connections_aborted: u64,
    /// Idle keep-alive connections closed to make room for refused clients' retries.
    pub idle_connections_reclaimed: u64,
    /// New connections' SYNs dropped unanswered because no socket was listening (every limit
    /// reached, or too little memory); each client retries after its retransmission timeout.
    pub syns_dropped_at_limit: u64,
    /// ARP packets from other hosts that claimed our IPv4 address, or the one being probed
    /// (RFC 5227 §2.1.1, §2.4).
    pub ipv4_address_conflicts: u64,
}

/// Where the IPv4 address currently comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ipv4Source {
    /// No IPv4 address yet: waiting for the link, for a DHCP lease, or for the ARP probe of a
    /// static or fallback address to finish (or to be retried after a conflict).
    Unconfigured {
        /// Start of the wait for a lease, in microseconds of the server clock: when the link
        /// came up (the DHCP timeout counts from there), or when a lease was lost.
        since_us: u64,
    },
    /// A DHCP lease.
    Dhcp,
    /// The DHCP fallback address.
    Fallback,
    /// The static configuration.
    Static,
}

/// What a TCP socket of the server is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SocketRole {
    /// A regular socket (listening, or a connection counted against `max_connections`).
    Regular,
    /// The overflow socket (listening, or a connection that gets `503`).
    Overflow,
}

/// The life of one TCP socket of the server.
#[derive(Debug)]
enum SocketPhase {
    /// Waiting for a SYN.
    Listening,
    /// Connected; the HTTP connection runs.
    Serving(Box<Connection>),
    /// FIN sent (or being sent); waiting for the TCP close to finish.
    Closing {
        /// When the close began, in microseconds.
        since_us: u64,
    },
    /// The connection is over (reset requested, or the socket reached CLOSED or TIME-WAIT). The
    /// socket's last segment — the RST, or the ACK of the peer's FIN — goes out at the next
    /// transmit; then the socket is removed.
    Retiring,
}

/// One TCP socket of the server and its HTTP state.
#[derive(Debug)]
struct SocketSlot {
    handle: SocketHandle,
    role: SocketRole,
    phase: SocketPhase,
    /// The client, once connected (for the log).
    peer: Option<IpEndpoint>,
    /// An idle connection closed to make room at the connection limit (short close linger).
    reclaimed: bool,
}

/// The HTTP server: interface, sockets, connections and site (see the module documentation).
pub struct HttpServer {
    config: ServerConfig,
    site: Site,
    interface: Interface,
    sockets: SocketSet<'static>,
    dhcp_handle: Option<SocketHandle>,
    ipv4_source: Ipv4Source,
    slots: Vec<SocketSlot>,
    statistics: ServerStatistics,
    /// The interface's addresses, copied each poll round for the [`SynGate`] (the interface
    /// itself is borrowed while frames are received).
    local_addresses: Vec<IpAddress>,
    /// When the last "dropping SYNs" warning was logged, in microseconds.
    syn_drop_warned_at_us: Option<u64>,
    /// SYNs dropped since that warning.
    syns_dropped_unreported: u64,
    /// ARP announcements still to send for the current IPv4 address.
    announcement: Option<PendingAnnouncement>,
    /// Whether the link is up (see [`ServerConfig::link_up_at_start`]).
    link_up: bool,
    /// A static or fallback address on its way to the interface: probed, or waiting to be
    /// probed again after a conflict.
    claim: Option<Ipv4Claim>,
    /// When a conflict for the address in use was last reported and defended, in microseconds.
    defended_at_us: Option<u64>,
}

/// A static or fallback IPv4 address not yet on the interface (see [`crate::address_claim`]).
#[derive(Debug, Clone, Copy)]
enum Ipv4Claim {
    /// ARP probes going out; the address is taken when they draw no conflict.
    Probing {
        candidate: StaticIpv4,
        /// What [`HttpServer::ipv4_source`] becomes once it is taken.
        source: Ipv4Source,
        probe: AddressProbe,
    },
    /// Another host holds the address: probe it again at `retry_us`.
    HeldOff {
        candidate: StaticIpv4,
        source: Ipv4Source,
        retry_us: u64,
    },
}

impl Ipv4Claim {
    /// When this claim next needs the server, in microseconds.
    fn due_us(&self) -> u64 {
        match self {
            Ipv4Claim::Probing { probe, .. } => probe.due_us(),
            Ipv4Claim::HeldOff { retry_us, .. } => *retry_us,
        }
    }
}

/// ARP announcements (RFC 5227 §2.3) still owed for a newly configured IPv4 address.
///
/// Neighbours learn the address's MAC from them before they need it. Under QEMU's user
/// networking this is what makes the first request quick: slirp resolves the guest's address
/// with ARP when the first connection arrives, and a request it sent while the guest was still
/// booting goes unanswered until slirp asks again on the next connection.
///
/// With the first announcement goes an ARP request for the gateway: the first reply to a client
/// then need not wait for that exchange (smoltcp learns the gateway's MAC from the answer).
#[derive(Debug, Clone, Copy)]
struct PendingAnnouncement {
    address: Ipv4Address,
    gateway: Option<Ipv4Address>,
    left: u8,
    next_us: u64,
}

impl PendingAnnouncement {
    fn new(ipv4: StaticIpv4, now_us: u64) -> PendingAnnouncement {
        PendingAnnouncement {
            address: ipv4.address.address(),
            gateway: ipv4.gateway,
            left: ARP_ANNOUNCEMENTS,
            next_us: now_us,
        }
    }

    /// The single announcement that defends an address in use (RFC 5227 §2.4 (c)).
    fn defence(address: Ipv4Address, now_us: u64) -> PendingAnnouncement {
        PendingAnnouncement {
            address,
            gateway: None,
            left: 1,
            next_us: now_us,
        }
    }
}

impl HttpServer {
    /// Creates the interface on `device` at time `now`, with the EUI-64 link-local IPv6 address,
    /// the static addresses of `config`, a DHCP client if configured, and the listening sockets.
    ///
    /// smoltcp answers ARP and ICMP echo (IPv4 and IPv6) in the interface itself.
    pub fn new<D: Device + ?Sized>(
        config: ServerConfig,
        site: Site,
        device: &mut D,
        now: Instant,
    ) -> HttpServer {
        let mut interface_config = Config::new(HardwareAddress::Ethernet(config.mac));
        interface_config.random_seed = config.random_seed;
        let mut interface = Interface::new(interface_config, device, now);
        let sockets = SocketSet::new(Vec::new());

        let link_local = IpCidr::Ipv6(Ipv6Cidr::new(link_local_address(config.mac), 64));
        add_address(&mut interface, link_local);
        if let Some(ipv6) = config.ipv6 {
            add_address(&mut interface, IpCidr::Ipv6(ipv6.address));
            if let Some(gateway) = ipv6.gateway
                && interface
                    .routes_mut()
                    .add_default_ipv6_route(gateway)
                    .is_err()
            {
                warn!("net: no room for the IPv6 default route via {gateway}");
            }
        }

        let now_us = instant_us(now);
        info!("net: MAC {} link-local {}", config.mac, link_local);

        let mut server = HttpServer {
            config,
            site,
            interface,
            sockets,
            dhcp_handle: None,
            ipv4_source: Ipv4Source::Unconfigured { since_us: now_us },
            slots: Vec::new(),
            statistics: ServerStatistics::default(),
            local_addresses: Vec::new(),
            syn_drop_warned_at_us: None,
            syns_dropped_unreported: 0,
            announcement: None,
            link_up: false,
            claim: None,
            defended_at_us: None,
        };
        if server.config.link_up_at_start {
            server.set_link_up(true, now);
        } else {
            info!("net: waiting for the link before DHCP and ARP");
        }
        server.replenish_listeners();
        server
    }

    /// Tells the server whether the link is up; call it whenever the NIC may have changed (each
    /// loop round is fine: only changes act).
    ///
    /// At link up DHCP starts (or restarts, RFC 2131 §3.7: the host may be on another network
    /// now) and the DHCP timeout counts from then; a static address not yet taken is probed
    /// (RFC 5227 §2.1: also "when a link-state change signals that an Ethernet cable has been
    /// connected"), one in use is announced again (§2.3) and kept, so that connections survive a
    /// brief drop. At link down probes and announcements stop; an unfinished probe starts over at
    /// the next link up.
    pub fn set_link_up(&mut self, up: bool, now: Instant) {
        if up == self.link_up {
            return;
        }
        self.link_up = up;
        let now_us = instant_us(now);
        if !up {
            self.announcement = None;
            if matches!(self.claim, Some(Ipv4Claim::Probing { .. })) {
                self.claim = None;
            }
            return;
        }
        match self.config.ipv4 {
            Ipv4Setup::Dhcp { .. } => {
                match self.dhcp_handle {
                    None => self.dhcp_handle = Some(self.sockets.add(dhcpv4::Socket::new())),
                    Some(handle) => self.sockets.get_mut::<dhcpv4::Socket>(handle).reset(),
                }
                match self.ipv4_source {
                    Ipv4Source::Unconfigured { .. } => {
                        self.ipv4_source = Ipv4Source::Unconfigured { since_us: now_us };
                    }
                    Ipv4Source::Fallback => self.reannounce(now_us),
                    // The lease is withdrawn by the reset (its Deconfigured event).
                    Ipv4Source::Dhcp | Ipv4Source::Static => {}
                }
            }
            Ipv4Setup::Static(ipv4) => {
                if self.ipv4_source == Ipv4Source::Static {
                    self.reannounce(now_us);
                } else if self.claim.is_none() {
                    self.claim_ipv4(ipv4, Ipv4Source::Static, now_us);
                }
            }
        }
    }

    /// Announces the address in use again (after the link came back).
    fn reannounce(&mut self, now_us: u64) {
        if let Some(address) = self.interface.ipv4_addr() {
            self.announcement = Some(PendingAnnouncement {
                address,
                gateway: None,
                left: ARP_ANNOUNCEMENTS,
                next_us: now_us,
            });
        }
    }

    /// Does all pending network work at time `now`: every queued frame, DHCP, every connection
    /// (receive, answer, send, time limits), closing and replacing sockets. Returns how long the
    /// caller may sleep before the next call if no frame arrives (`None`: until a frame arrives).
    pub fn poll<D: Device + ?Sized>(&mut self, now: Instant, device: &mut D) -> Option<Duration> {
        let now_us = instant_us(now);
        self.apply_ipv4_fallback(now_us);
        // Memory may have come back since the last poll.
        let mut listening = self.replenish_listeners();
        for _ in 0..POLL_ROUNDS_MAX {
            self.interface.poll_maintenance(now);
            self.local_addresses.clear();
            let addresses = self.interface.ip_addrs().iter().map(IpCidr::address);
            self.local_addresses.extend(addresses);
            let arp_watch = self.arp_watch();
            let mut frames_handled = false;
            // Frame by frame, so that a listener taken by a SYN is replaced before the next SYN
            // is looked at: with smoltcp's one-connection-per-listener model this is what lets
            // a burst of SYNs larger than the backlog be accepted (up to `max_connections`).
            // For the same reason the gate is re-evaluated after each frame.
            for _ in 0..INGRESS_FRAMES_PER_ROUND_MAX {
                let mut gate = SynGate {
                    device: &mut *device,
                    closed_port: (!listening).then_some(self.config.http_port),
                    local_addresses: &self.local_addresses,
                    syns_dropped: 0,
                    arp_watch,
                    arp_conflict: None,
                };
                let result = self
                    .interface
                    .poll_ingress_single(now, &mut gate, &mut self.sockets);
                let (syns_dropped, arp_conflict) = (gate.syns_dropped, gate.arp_conflict);
                if syns_dropped > 0 {
                    self.note_syns_dropped(syns_dropped, now_us);
                }
                if let Some(conflict) = arp_conflict {
                    self.note_arp_conflict(conflict, now_us);
                }
                match result {
                    PollIngressSingleResult::None => break,
                    PollIngressSingleResult::PacketProcessed => frames_handled = true,
                    PollIngressSingleResult::SocketStateChanged => {
                        frames_handled = true;
                        listening = self.replenish_listeners();
                    }
                }
            }
            self.service_dhcp(now_us);
            self.service_claim(now, now_us, device);
            self.announce_ipv4(now, now_us, device);
            let progressed = self.service_sockets(now_us);
            listening = self.replenish_listeners();
            // Transmit what the sockets queued (bounded by the sockets' buffers).
            while self.interface.poll_egress(now, device, &mut self.sockets)
                == PollResult::SocketStateChanged
            {}
            if !frames_handled && !progressed {
                break;
            }
        }
        self.next_poll_delay(now, now_us)
    }

    /// The counters so far.
    pub fn statistics(&self) -> ServerStatistics {
        self.statistics
    }

    /// Where the IPv4 address comes from now.
    pub fn ipv4_source(&self) -> Ipv4Source {
        self.ipv4_source
    }

    /// The interface's IPv4 address, if it has one.
    pub fn ipv4_address(&self) -> Option<Ipv4Address> {
        self.interface.ipv4_addr()
    }

    /// The interface's addresses (IPv4 and IPv6).
    pub fn ip_addresses(&self) -> &[IpCidr] {
        self.interface.ip_addrs()
    }

    /// Sockets in the socket set: the DHCP socket, listeners, connections and closing ones.
    pub fn socket_count(&self) -> usize {
        self.sockets.iter().count()
    }

    /// Connections being served or closed (listening sockets not counted).
    pub fn connection_count(&self) -> usize {
        self.slots
            .iter()
            .filter(|slot| !matches!(slot.phase, SocketPhase::Listening))
            .count()
    }

    /// The site being served.
    pub fn site(&self) -> &Site {
        &self.site
    }

    /// Applies the DHCP fallback address once the wait for a lease has run out.
    fn apply_ipv4_fallback(&mut self, now_us: u64) {
        let Ipv4Setup::Dhcp {
            fallback: Some(fallback),
            fallback_after_ms,
        } = self.config.ipv4
        else {
            return;
        };
        if let Ipv4Source::Unconfigured { since_us } = self.ipv4_source
            && self.link_up
            && self.claim.is_none()
            && now_us >= since_us.saturating_add(fallback_after_ms.saturating_mul(1000))
        {
            info!(
                "net: no DHCP lease {fallback_after_ms} ms after link up; falling back to {}",
                fallback.address
            );
            self.claim_ipv4(fallback, Ipv4Source::Fallback, now_us);
        }
    }

    /// Starts taking `candidate` as the address from `source` (static or fallback): an ARP probe
    /// first, unless [`ServerConfig::ipv4_probe_ms`] is 0.
    fn claim_ipv4(&mut self, candidate: StaticIpv4, source: Ipv4Source, now_us: u64) {
        if self.config.ipv4_probe_ms == 0 {
            self.take_ipv4(candidate, source, now_us);
            return;
        }
        let probe = AddressProbe::new(
            candidate.address.address(),
            self.config.ipv4_probe_ms,
            self.config.random_seed,
            now_us,
        );
        self.claim = Some(Ipv4Claim::Probing {
            candidate,
            source,
            probe,
        });
    }

    /// Puts `ipv4` on the interface and announces it.
    fn take_ipv4(&mut self, ipv4: StaticIpv4, source: Ipv4Source, now_us: u64) {
        apply_ipv4(&mut self.interface, ipv4);
        self.ipv4_source = source;
        self.claim = None;
        self.announcement = Some(PendingAnnouncement::new(ipv4, now_us));
        let kind = if source == Ipv4Source::Static {
            "static"
        } else {
            "fallback"
        };
        let probed = match self.config.ipv4_probe_ms {
            0 => String::from("not probed: ipv4_probe_ms=0"),
            window_ms => alloc::format!("no conflict in {window_ms} ms of ARP probes"),
        };
        info!(
            "net: {kind} IPv4 {} gateway {:?} ({probed})",
            ipv4.address, ipv4.gateway
        );
    }

    /// Sends the ARP probe that is due, takes the address once the probes drew no conflict, and
    /// starts probing again when a conflict's hold-off is over.
    fn service_claim<D: Device + ?Sized>(&mut self, now: Instant, now_us: u64, device: &mut D) {
        if !self.link_up {
            return;
        }
        match self.claim {
            Some(Ipv4Claim::HeldOff {
                candidate,
                source,
                retry_us,
            }) if now_us >= retry_us => {
                info!("net: probing {} again", candidate.address.address());
                self.claim = None;
                self.claim_ipv4(candidate, source, now_us);
            }
            None | Some(Ipv4Claim::HeldOff { .. }) => {}
            Some(Ipv4Claim::Probing {
                candidate,
                source,
                mut probe,
            }) => match probe.step(now_us) {
                ProbeStep::WaitUntil(_) => {}
                ProbeStep::Claim => self.take_ipv4(candidate, source, now_us),
                ProbeStep::SendProbe => {
                    // No transmit buffer free: try again at the next poll.
                    if let Some(token) = device.transmit(now) {
                        send_frame(token, &arp_probe(self.config.mac, probe.address()));
                        probe.probe_sent();
                        self.claim = Some(Ipv4Claim::Probing {
                            candidate,
                            source,
                            probe,
                        });
                    }
                }
            },
        }
    }

    /// The address whose ARP conflicts the [`SynGate`] looks for: the one being probed, else the
    /// one in use.
    fn arp_watch(&self) -> Option<ArpWatch> {
        match self.claim {
            Some(Ipv4Claim::Probing { probe, .. }) => Some(ArpWatch {
                own_mac: self.config.mac,
                address: probe.address(),
                probing: true,
            }),
            _ => self.interface.ipv4_addr().map(|address| ArpWatch {
                own_mac: self.config.mac,
                address,
                probing: false,
            }),
        }
    }

    /// Acts on an ARP packet that claims our address: while probing, the address is not taken
    /// and is probed again after [`CONFLICT_RETRY_US`] (RFC 5227 §2.1.1); while in use, it is
    /// defended with one announcement at most every [`DEFEND_INTERVAL_US`] (§2.4 (c)).
    fn note_arp_conflict(&mut self, conflict: ArpConflict, now_us: u64) {
        self.statistics.ipv4_address_conflicts += 1;
        let ArpConflict {
            sender_mac,
            address,
            was_probe,
        } = conflict;
        if let Some(Ipv4Claim::Probing {
            candidate, source, ..
        }) = self.claim
        {
            let how = if was_probe {
                "is probing for it too"
            } else {
                "uses it"
            };
            warn!(
                "net: IPv4 address conflict: {address} not taken, the host with MAC {sender_mac} {how} (RFC 5227); probing again in {} s",
                CONFLICT_RETRY_US / 1_000_000
            );
            self.claim = Some(Ipv4Claim::HeldOff {
                candidate,
                source,
                retry_us: now_us.saturating_add(CONFLICT_RETRY_US),
            });
            return;
        }
        let recent = self
            .defended_at_us
            .is_some_and(|at_us| now_us.saturating_sub(at_us) < DEFEND_INTERVAL_US);
        if !recent {
            warn!(
                "net: IPv4 address conflict: the host with MAC {sender_mac} also uses our address {address}; defending it with an ARP announcement (RFC 5227 §2.4)"
            );
            self.defended_at_us = Some(now_us);
            self.announcement = Some(PendingAnnouncement::defence(address, now_us));
        }
    }

    /// Sends the ARP announcement that is due, if any.
    fn announce_ipv4<D: Device + ?Sized>(&mut self, now: Instant, now_us: u64, device: &mut D) {
        let Some(pending) = self.announcement.as_mut().filter(|_| self.link_up) else {
            return;
        };
        if now_us < pending.next_us {
            return;
        }
        // No transmit buffer free: try again at the next poll.
        let Some(token) = device.transmit(now) else {
            return;
        };
        send_frame(token, &arp_announcement(self.config.mac, pending.address));
        let first = pending.left == ARP_ANNOUNCEMENTS;
        if let Some(gateway) = pending.gateway.filter(|_| first)
            && let Some(token) = device.transmit(now)
        {
            send_frame(
                token,
                &arp_request(self.config.mac, pending.address, gateway),
            );
        }
        pending.left = pending.left.saturating_sub(1);
        pending.next_us = now_us.saturating_add(ARP_ANNOUNCEMENT_INTERVAL_US);
        if pending.left == 0 {
            self.announcement = None;
        }
    }

    /// Applies DHCP lease changes to the interface, and logs them.
    fn service_dhcp(&mut self, now_us: u64) {
        let Some(handle) = self.dhcp_handle else {
            return;
        };
        let event = self.sockets.get_mut::<dhcpv4::Socket>(handle).poll();
        match event {
            None => {}
            Some(dhcpv4::Event::Configured(lease)) => {
                let ipv4 = StaticIpv4 {
                    address: lease.address,
                    gateway: lease.router,
                };
                apply_ipv4(&mut self.interface, ipv4);
                self.ipv4_source = Ipv4Source::Dhcp;
                // A lease replaces a fallback address being probed or held off.
                self.claim = None;
                self.announcement = Some(PendingAnnouncement::new(ipv4, now_us));
                let mut dns = String::new();
                for (index, server) in lease.dns_servers.iter().enumerate() {
                    if index > 0 {
                        dns.push_str(", ");
                    }
                    let _ = core::fmt::Write::write_fmt(&mut dns, format_args!("{server}"));
                }
                info!(
                    "net: DHCP lease {} gateway {:?} DNS [{}] from {}",
                    lease.address, lease.router, dns, lease.server.address
                );
            }
            // smoltcp also reports Deconfigured when the client starts; only a lease that was in
            // use is withdrawn (a fallback or static address stays).
            Some(dhcpv4::Event::Deconfigured) if self.ipv4_source == Ipv4Source::Dhcp => {
                withdraw_ipv4(&mut self.interface);
                self.ipv4_source = Ipv4Source::Unconfigured { since_us: now_us };
                self.announcement = None;
                warn!("net: DHCP lease lost; IPv4 address withdrawn");
            }
            Some(dhcpv4::Event::Deconfigured) => {}
        }
    }

    /// Services every TCP socket once. Returns whether anything moved (bytes, states).
    fn service_sockets(&mut self, now_us: u64) -> bool {
        let HttpServer {
            config,
            site,
            sockets,
            slots,
            statistics,
            ..
        } = self;
        let context = ResponseContext {
            site,
            settings: &config.response,
            now_unix_s: config
                .unix_time_at_clock_zero_s
                .map(|base_s| base_s.saturating_add(now_us / 1_000_000)),
        };
        let mut progressed = false;
        let refused_before = statistics.connections_refused;
        slots.retain_mut(|slot| {
            let socket = sockets.get_mut::<tcp::Socket>(slot.handle);
            let keep = service_socket(
                slot,
                socket,
                config,
                &context,
                now_us,
                statistics,
                &mut progressed,
            );
            if !keep {
                sockets.remove(slot.handle);
                progressed = true;
            }
            keep
        });
        // As nginx does when it runs out of connections: each connection refused at the limit
        // closes one idle keep-alive connection (RFC 9112 §9.3 lets a server close an idle
        // persistent connection at any time), so the refused client's retry finds room instead
        // of idle connections holding the limit for the whole keep-alive timeout.
        let refused = statistics.connections_refused - refused_before;
        let idle_slots = slots.iter_mut().filter(|slot| {
            slot.role == SocketRole::Regular
                && matches!(&slot.phase, SocketPhase::Serving(connection)
                    if connection.is_idle_keep_alive())
        });
        for slot in idle_slots.take(usize::try_from(refused).unwrap_or(usize::MAX)) {
            if let SocketPhase::Serving(connection) = &mut slot.phase {
                connection.close_if_idle();
                slot.reclaimed = true;
                statistics.idle_connections_reclaimed += 1;
                progressed = true;
            }
        }
        progressed
    }

    /// Counts SYNs the [`SynGate`] dropped, and tells the operator why (at most once a second:
    /// a flood of retries must not flood the console too).
    fn note_syns_dropped(&mut self, count: u64, now_us: u64) {
        self.statistics.syns_dropped_at_limit += count;
        self.syns_dropped_unreported += count;
        if self
            .syn_drop_warned_at_us
            .is_some_and(|warned_us| now_us < warned_us.saturating_add(1_000_000))
        {
            return;
        }
        let (mut connections, mut refusing) = (0usize, 0usize);
        for slot in &self.slots {
            match (slot.role, &slot.phase) {
                (_, SocketPhase::Listening) => {}
                (SocketRole::Regular, _) => connections += 1,
                (SocketRole::Overflow, _) => refusing += 1,
            }
        }
        let reason = if connections >= self.config.max_connections
            && refusing >= self.config.overflow_connections_max
        {
            "connection limit reached and every 503 slot busy"
        } else {
            "too little free memory for another socket"
        };
        warn!(
            "http: {reason} ({connections} connections, {refusing} answering 503): dropped {} \
             new connection attempts (SYN) since the last report; those clients retry in 1 s \
             or more (RFC 6298)",
            self.syns_dropped_unreported
        );
        self.syn_drop_warned_at_us = Some(now_us);
        self.syns_dropped_unreported = 0;
    }

    /// Keeps `listen_backlog` regular listeners while below `max_connections`, or one overflow
    /// listener at the limit. Returns whether any socket now listens on the HTTP port.
    fn replenish_listeners(&mut self) -> bool {
        let mut regular_in_use = 0usize;
        let mut regular_listening = 0usize;
        let mut overflow_in_use = 0usize;
        let mut overflow_listener: Option<SocketHandle> = None;
        for slot in &self.slots {
            // A listener that a SYN has just taken counts as a connection already.
            let listening = matches!(slot.phase, SocketPhase::Listening)
                && self.sockets.get::<tcp::Socket>(slot.handle).is_listening();
            match (slot.role, listening) {
                (SocketRole::Regular, true) => regular_listening += 1,
                (SocketRole::Regular, false) => regular_in_use += 1,
                (SocketRole::Overflow, true) => overflow_listener = Some(slot.handle),
                (SocketRole::Overflow, false) => overflow_in_use += 1,
            }
        }
        let free_memory = self.config.free_memory_bytes.map(|free| free());
        let fits = |bytes: usize| {
            free_memory.is_none_or(|free| free >= bytes.saturating_add(MEMORY_RESERVE_BYTES))
        };
        let regular_bytes = self
            .config
            .tcp_rx_buffer_bytes
            .saturating_add(self.config.tcp_tx_buffer_bytes);
        let capacity = if fits(regular_bytes.saturating_mul(regular_listening.max(1))) {
            self.config.max_connections.saturating_sub(regular_in_use)
        } else {
            // Out of memory for more connections: as if the limit were reached.
            0
        };
        let wanted = self.config.listen_backlog.max(1).min(capacity);
        while regular_listening < wanted {
            if !self.add_listener(SocketRole::Regular) {
                return regular_listening > 0 || overflow_listener.is_some();
            }
            regular_listening += 1;
        }
        let overflow_wanted = capacity == 0
            && overflow_in_use < self.config.overflow_connections_max
            && fits(2 * OVERFLOW_BUFFER_BYTES);
        let overflow_listening = match (overflow_wanted, overflow_listener) {
            (true, None) => self.add_listener(SocketRole::Overflow),
            (false, Some(handle)) => {
                // Capacity is back: the overflow listener must not take connections a regular
                // one could serve (smoltcp gives a SYN to the first listener that matches).
                self.sockets.remove(handle);
                self.slots.retain(|slot| slot.handle != handle);
                false
            }
            (true, Some(_)) => true,
            (false, None) => false,
        };
        regular_listening > 0 || overflow_listening
    }

    /// Adds a listening socket; returns whether it listens.
    fn add_listener(&mut self, role: SocketRole) -> bool {
        let (rx_bytes, tx_bytes) = match role {
            SocketRole::Regular => (
                self.config.tcp_rx_buffer_bytes,
                self.config.tcp_tx_buffer_bytes,
            ),
            SocketRole::Overflow => (OVERFLOW_BUFFER_BYTES, OVERFLOW_BUFFER_BYTES),
        };
        let mut socket = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0u8; rx_bytes]),
            tcp::SocketBuffer::new(vec![0u8; tx_bytes]),
        );
        // A server gains nothing from delaying ACKs (smoltcp PR #935: they held back window
        // updates); responses are written whole, so Nagle would only delay the last segment.
        socket.set_ack_delay(None);
        socket.set_nagle_enabled(false);
        // No smoltcp `timeout`: it aborts a connection that has heard nothing from the peer for
        // that long even when idle, which would cut keep-alive connections short. The
        // connection's own limits cover both cases: no sending progress (a vanished or
        // non-reading peer) and idleness.
        socket.set_timeout(None);
        let endpoint = IpListenEndpoint {
            addr: None,
            port: self.config.http_port,
        };
        if let Err(error) = socket.listen(endpoint) {
            warn!(
                "net: cannot listen on port {}: {error:?}",
                self.config.http_port
            );
            return false;
        }
        let handle = self.sockets.add(socket);
        self.slots.push(SocketSlot {
            handle,
            role,
            phase: SocketPhase::Listening,
            peer: None,
            reclaimed: false,
        });
        true
    }

    /// The delay until the earliest of smoltcp's next timer, the connections' deadlines, closing
    /// sockets' linger limits and the DHCP fallback.
    fn next_poll_delay(&mut self, now: Instant, now_us: u64) -> Option<Duration> {
        let mut deadline_us: Option<u64> = None;
        let mut consider = |candidate_us: u64| {
            deadline_us =
                Some(deadline_us.map_or(candidate_us, |current| current.min(candidate_us)));
        };
        for slot in &self.slots {
            match &slot.phase {
                SocketPhase::Serving(connection) => {
                    if let Some(deadline) = connection.next_deadline_us() {
                        consider(deadline);
                    }
                }
                SocketPhase::Closing { since_us } => {
                    consider(
                        since_us.saturating_add(
                            close_linger_ms(&self.config, slot).saturating_mul(1000),
                        ),
                    );
                }
                SocketPhase::Retiring => consider(now_us),
                SocketPhase::Listening => {}
            }
        }
        if let (
            Ipv4Source::Unconfigured { since_us },
            Ipv4Setup::Dhcp {
                fallback: Some(_),
                fallback_after_ms,
            },
        ) = (self.ipv4_source, self.config.ipv4)
            && self.link_up
            && self.claim.is_none()
        {
            consider(since_us.saturating_add(fallback_after_ms.saturating_mul(1000)));
        }
        if self.link_up {
            if let Some(pending) = self.announcement {
                consider(pending.next_us);
            }
            if let Some(claim) = self.claim {
                consider(claim.due_us());
            }
        }
        let ours =
            deadline_us.map(|deadline| Duration::from_micros(deadline.saturating_sub(now_us)));
        let smoltcp = self.interface.poll_delay(now, &self.sockets);
        match (ours, smoltcp) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// Services one TCP socket; returns whether to keep it (false: remove it from the set).
fn service_socket(
    slot: &mut SocketSlot,
    socket: &mut tcp::Socket<'static>,
    config: &ServerConfig,
    context: &ResponseContext<'_>,
    now_us: u64,
    statistics: &mut ServerStatistics,
    progressed: &mut bool,
) -> bool {
    let state = socket.state();
    let linger_ms = close_linger_ms(config, slot);
    match &mut slot.phase {
        SocketPhase::Listening => match state {
            tcp::State::Listen => true,
            tcp::State::Closed | tcp::State::TimeWait => false,
            _ => {
                // The listener was taken: it is now a connection.
                slot.peer = socket.remote_endpoint();
                let connection = match slot.role {
                    SocketRole::Regular => {
                        statistics.connections_accepted += 1;
                        Connection::new(
                            now_us,
                            config.limits.clone(),
                            config.timeouts,
                            config.access_log,
                        )
                    }
                    SocketRole::Overflow => {
                        statistics.connections_refused += 1;
                        warn!(
                            "http: {} over the connection limit ({}); answering 503",
                            display_peer(slot.peer),
                            config.max_connections
                        );
                        // An idle client must not hold an overflow slot for the whole head
                        // timeout, or every later client gets a reset instead of the 503.
                        let timeouts = ConnectionTimeouts {
                            request_head_ms: config
                                .timeouts
                                .request_head_ms
                                .min(OVERFLOW_REQUEST_HEAD_MS),
                            ..config.timeouts
                        };
                        Connection::new_refusing(
                            now_us,
                            config.limits.clone(),
                            timeouts,
                            config.access_log,
                        )
                    }
                };
                slot.phase = SocketPhase::Serving(Box::new(connection));
                *progressed = true;
                service_socket(
                    slot, socket, config, context, now_us, statistics, progressed,
                )
            }
        },
        SocketPhase::Serving(connection) => {
            match state {
                // A half-open connection reset by the client goes back to LISTEN (RFC 9293
                // §3.10.7.4); treat the socket as a listener again.
                tcp::State::Listen => {
                    slot.phase = SocketPhase::Listening;
                    slot.peer = None;
                    slot.reclaimed = false;
                    return true;
                }
                tcp::State::Closed | tcp::State::TimeWait => {
                    log_records(slot.peer, connection, config);
                    slot.phase = SocketPhase::Retiring;
                    *progressed = true;
                    return true;
                }
                _ => {}
            }
            let moved = serve(connection, socket, context, now_us, config.clock_us);
            *progressed |= moved.bytes_moved;
            statistics.requests_answered += moved.requests_answered;
            statistics.bytes_sent += moved.bytes_sent;
            match moved.timeout {
                Some(TimeoutEvent::RequestHead) => {
                    statistics.request_head_timeouts += 1;
                    let answer = match slot.role {
                        SocketRole::Regular => "408",
                        SocketRole::Overflow => "503",
                    };
                    info!(
                        "http: {} request head timeout; {answer} and close",
                        display_peer(slot.peer)
                    );
                }
                Some(TimeoutEvent::KeepAliveIdle) => statistics.keep_alive_timeouts += 1,
                Some(TimeoutEvent::SendStall) => {
                    statistics.connections_aborted += 1;
                    warn!(
                        "http: {} stopped reading; connection reset",
                        display_peer(slot.peer)
                    );
                }
                None => {}
            }
            log_records(slot.peer, connection, config);
            match connection.disposition() {
                Disposition::Open => {}
                Disposition::Close => {
                    socket.close();
                    slot.phase = SocketPhase::Closing { since_us: now_us };
                    *progressed = true;
                }
                Disposition::Abort => {
                    socket.abort();
                    slot.phase = SocketPhase::Retiring;
                    *progressed = true;
                }
            }
            true
        }
        SocketPhase::Closing { since_us } => {
            if matches!(state, tcp::State::Closed | tcp::State::TimeWait) {
                slot.phase = SocketPhase::Retiring;
                *progressed = true;
                return true;
            }
            // Whatever the client still sends is read and dropped, so its window stays open
            // while our FIN and last bytes go out.
            while socket.can_recv() {
                match socket.recv(|bytes| (bytes.len(), bytes.len())) {
                    Ok(count) if count > 0 => *progressed = true,
                    _ => break,
                }
            }
            if now_us >= since_us.saturating_add(linger_ms.saturating_mul(1000)) {
                statistics.connections_aborted += 1;
                socket.abort();
                slot.phase = SocketPhase::Retiring;
                *progressed = true;
            }
            true
        }
        // A transmit pass has run since the socket retired (see `SocketPhase::Retiring`).
        // Removing a TIME-WAIT socket early frees its buffers; a retransmitted FIN from the
        // peer then gets RST instead of ACK, which only ends the peer's LAST-ACK sooner.
        SocketPhase::Retiring => false,
    }
}

/// What one [`serve`] call did.
struct ServeOutcome {
    bytes_moved: bool,
    requests_answered: u64,
    bytes_sent: u64,
    timeout: Option<TimeoutEvent>,
}

/// Moves bytes between a connected socket and its connection: received bytes in, responses out,
/// time limits applied.
fn serve(
    connection: &mut Connection,
    socket: &mut tcp::Socket<'static>,
    context: &ResponseContext<'_>,
    now_us: u64,
    clock_us: Option<fn() -> u64>,
) -> ServeOutcome {
    // The caller's clock when it has one (never earlier than the poll's instant).
    let current_us = || clock_us.map_or(now_us, |read| read().max(now_us));
    let requests_before = connection.requests_answered();
    let bytes_before = connection.bytes_transmitted();
    let mut bytes_moved = false;
    // Two passes: output drained in the first can let parsing resume in the second.
    for _ in 0..2 {
        // The receive buffer is a ring: up to two contiguous pieces.
        while socket.can_recv() {
            match socket.recv(|bytes| {
                let consumed = connection.receive(bytes, current_us(), context);
                (consumed, consumed)
            }) {
                Ok(consumed) if consumed > 0 => bytes_moved = true,
                _ => break,
            }
        }
        connection.receive(&[], current_us(), context);
        if peer_finished_sending(socket.state()) && socket.recv_queue() == 0 {
            // The client sent FIN and everything before it has been read: no more requests.
            connection.receive_closed();
        }
        while connection.has_output() && socket.can_send() {
            match socket.send(|space| {
                let written = connection.transmit(space, current_us());
                (written, written)
            }) {
                Ok(written) if written > 0 => bytes_moved = true,
                _ => break,
            }
        }
        if !bytes_moved {
            break;
        }
    }
    connection.set_transport_backlog(socket.send_queue(), now_us);
    let timeout = connection.poll_timers(now_us, context);
    if timeout == Some(TimeoutEvent::RequestHead) {
        // Send the 408 at once.
        while connection.has_output() && socket.can_send() {
            match socket.send(|space| {
                let written = connection.transmit(space, current_us());
                (written, written)
            }) {
                Ok(written) if written > 0 => bytes_moved = true,
                _ => break,
            }
        }
    }
    ServeOutcome {
        bytes_moved,
        requests_answered: connection.requests_answered() - requests_before,
        bytes_sent: connection.bytes_transmitted() - bytes_before,
        timeout,
    }
}

/// Whether the TCP state means the peer's FIN has arrived (RFC 9293 §3.3.2).
fn peer_finished_sending(state: tcp::State) -> bool {
    matches!(
        state,
        tcp::State::CloseWait | tcp::State::LastAck | tcp::State::Closing | tcp::State::TimeWait
    )
}

/// Writes the access-log lines of finished responses (and drops them when the log is off).
fn log_records(peer: Option<IpEndpoint>, connection: &mut Connection, config: &ServerConfig) {
    for record in connection.take_records() {
        if config.access_log {
            log_record(peer, &record);
        }
    }
}

/// One access-log line: `peer "request" status bytes duration`.
fn log_record(peer: Option<IpEndpoint>, record: &RequestRecord) {
    info!(
        "{} \"{}\" {} {} {}us",
        display_peer(peer),
        record.request,
        record.status,
        record.response_bytes,
        record.sent_at_us.saturating_sub(record.parsed_at_us)
    );
}

/// The peer for the log, or `-` when unknown.
fn display_peer(peer: Option<IpEndpoint>) -> String {
    match peer {
        Some(endpoint) => alloc::format!("{endpoint}"),
        None => String::from("-"),
    }
}

/// Microseconds since clock zero; times before zero count as zero.
fn instant_us(now: Instant) -> u64 {
    u64::try_from(now.total_micros()).unwrap_or(0)
}

/// The link-local IPv6 address of a MAC: `fe80::` plus the modified EUI-64 interface identifier
/// (RFC 4291 §2.5.1 and Appendix A: insert `ff:fe` in the middle, invert the U/L bit).
pub fn link_local_address(mac: EthernetAddress) -> Ipv6Address {
    let [m0, m1, m2, m3, m4, m5] = mac.0;
    Ipv6Address::new(
        0xfe80,
        0,
        0,
        0,
        u16::from_be_bytes([m0 ^ 0x02, m1]),
        u16::from_be_bytes([m2, 0xff]),
        u16::from_be_bytes([0xfe, m3]),
        u16::from_be_bytes([m4, m5]),
    )
}

/// Adds an address to the interface, or warns that smoltcp has no room for it.
fn add_address(interface: &mut Interface, address: IpCidr) {
    interface.update_ip_addrs(|addresses| {
        if addresses.push(address).is_err() {
            warn!("net: no room for address {address} (smoltcp iface-max-addr-count)");
        }
    });
}

/// Sends `frame` as it is.
fn send_frame<T: TxToken>(token: T, frame: &[u8]) {
    token.consume(frame.len(), |buffer| {
        if let Some(bytes) = buffer.get_mut(..frame.len()) {
            bytes.copy_from_slice(frame);
        }
    });
}

/// Replaces the IPv4 address and default route.
fn apply_ipv4(interface: &mut Interface, ipv4: StaticIpv4) {
    interface.update_ip_addrs(|addresses| {
        addresses.retain(|address| !matches!(address, IpCidr::Ipv4(_)));
        if addresses.push(IpCidr::Ipv4(ipv4.address)).is_err() {
            warn!(
                "net: no room for address {} (smoltcp iface-max-addr-count)",
                ipv4.address
            );
        }
    });
    interface.routes_mut().remove_default_ipv4_route();
    if let Some(gateway) = ipv4.gateway
        && interface
            .routes_mut()
            .add_default_ipv4_route(gateway)
            .is_err()
    {
        warn!("net: no room for the IPv4 default route via {gateway}");
    }
}

/// Removes the IPv4 address and default route (lease lost). smoltcp resets sockets that used it.
fn withdraw_ipv4(interface: &mut Interface) {
    interface.update_ip_addrs(|addresses| {
        addresses.retain(|address| !matches!(address, IpCidr::Ipv4(_)));
    });
    interface.routes_mut().remove_default_ipv4_route();
}

/// The device as smoltcp sees it in [`HttpServer::poll`]: the NIC, except that while no socket
/// listens on the HTTP port (`closed_port`), an initial SYN to that port is dropped instead of
/// reaching smoltcp, which would answer it with RST (see the module documentation).
struct SynGate<'device, D: Device + ?Sized> {
    device: &'device mut D,
    /// The HTTP port while nothing listens on it; `None` lets every frame through.
    closed_port: Option<u16>,
    /// Our addresses: only SYNs to these would be answered by smoltcp.
    local_addresses: &'device [IpAddress],
    /// SYNs dropped by this gate.
    syns_dropped: u64,
    /// The IPv4 address whose ARP conflicts are looked for, if any.
    arp_watch: Option<ArpWatch>,
    /// The conflict seen, if any (one frame passes per gate).
    arp_conflict: Option<ArpConflict>,
}

/// What the [`SynGate`] checks ARP packets against (see [`arp_conflict`]).
#[derive(Debug, Clone, Copy)]
struct ArpWatch {
    own_mac: EthernetAddress,
    address: Ipv4Address,
    probing: bool,
}

impl<D: Device + ?Sized> Device for SynGate<'_, D> {
    type RxToken<'token>
        = SynGateRxToken<'token, D::RxToken<'token>>
    where
        Self: 'token;
    type TxToken<'token>
        = D::TxToken<'token>
    where
        Self: 'token;

    fn receive(&mut self, timestamp: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let (inner, transmit) = self.device.receive(timestamp)?;
        let receive = SynGateRxToken {
            inner,
            closed_port: self.closed_port,
            local_addresses: self.local_addresses,
            syns_dropped: &mut self.syns_dropped,
            arp_watch: self.arp_watch,
            arp_conflict: &mut self.arp_conflict,
        };
        Some((receive, transmit))
    }

    fn transmit(&mut self, timestamp: Instant) -> Option<Self::TxToken<'_>> {
        self.device.transmit(timestamp)
    }

    fn capabilities(&self) -> DeviceCapabilities {
        self.device.capabilities()
    }
}

/// A received frame, looked at in place (never copied) before smoltcp sees it.
struct SynGateRxToken<'token, T> {
    inner: T,
    closed_port: Option<u16>,
    local_addresses: &'token [IpAddress],
    syns_dropped: &'token mut u64,
    arp_watch: Option<ArpWatch>,
    arp_conflict: &'token mut Option<ArpConflict>,
}

impl<T: RxToken> RxToken for SynGateRxToken<'_, T> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        let SynGateRxToken {
            inner,
            closed_port,
            local_addresses,
            syns_dropped,
            arp_watch,
            arp_conflict,
        } = self;
        inner.consume(|frame| {
            if let Some(watch) = arp_watch {
                *arp_conflict = arp_conflict_of(frame, watch);
            }
            match closed_port {
                Some(port) if is_initial_syn(frame, port, local_addresses) => {
                    *syns_dropped += 1;
                    // The token API has no "discard": the frame is only visible inside `consume`,
                    // after smoltcp has taken the token. smoltcp 0.14 (`Interface::socket_ingress`)
                    // skips an empty frame before parsing it, so it sends nothing in reply.
                    f(&[])
                }
                _ => f(frame),
            }
        })
    }

    fn meta(&self) -> PacketMeta {
        self.inner.meta()
    }
}

/// The conflict `frame` shows for the watched address, if any.
fn arp_conflict_of(frame: &[u8], watch: ArpWatch) -> Option<ArpConflict> {
    arp_conflict(frame, watch.own_mac, watch.address, watch.probing)
}

/// Whether `frame` is an Ethernet frame with an initial SYN (SYN without ACK or RST, RFC 9293
/// §3.5) to `port` on one of `local_addresses`, over IPv4 or IPv6. Anything else — malformed,
/// fragmented, behind IPv6 extension headers (RFC 8200 §4) — is not, and passes the gate.
///
/// A SYN that belongs to an existing connection's 4-tuple (a client retransmitting its SYN while
/// our socket is in SYN-RECEIVED) is dropped as well: that socket retransmits its SYN-ACK on its
/// own timer (RFC 9293 §3.8.1), which completes the handshake, so the duplicate SYN adds nothing
/// (on a synchronized connection it would only draw a challenge ACK, RFC 5961 §4, which the
/// client's next retry gets once a socket listens again). Telling these apart would need the
/// socket set, which smoltcp holds while frames are received.
fn is_initial_syn(frame: &[u8], port: u16, local_addresses: &[IpAddress]) -> bool {
    let Some(location) = locate_tcp(frame) else {
        return false;
    };
    let Some(Ok(tcp)) = frame
        .get(location.start..location.end)
        .map(TcpPacket::new_checked)
    else {
        return false;
    };
    tcp.syn()
        && !tcp.ack()
        && !tcp.rst()
        && tcp.dst_port() == port
        && local_addresses.contains(&location.destination)
}

#[cfg(test)]
mod tests {

    #[test]
    fn send_buffers_fit_the_memory_budget() {
        let mac = EthernetAddress([0x52, 0x54, 0, 0x12, 0x34, 0x56]);
        let mut config = ServerConfig::new(mac);
        // Plenty of memory: the maximum window.
        assert_eq!(config.fit_buffers_to_memory(64 * 1024 * 1024), 256 * 1024);
        // 4 MiB less 64 overflow sockets of 4 KiB, over 128 + 8 sockets: 28,913 bytes each,
        // minus 4 KiB receive, rounded down to 1 KiB.
        assert_eq!(config.fit_buffers_to_memory(4 * 1024 * 1024), 24 * 1024);
        // 1024 connections in 16 MiB: the floor.
        config.max_connections = 1024;
        assert_eq!(config.fit_buffers_to_memory(16 * 1024 * 1024), 11 * 1024);
        assert_eq!(config.fit_buffers_to_memory(1024 * 1024), 8 * 1024);
        assert_eq!(config.fit_buffers_to_memory(0), 8 * 1024);
    }

    use super::*;
    use smoltcp::phy::ChecksumCapabilities;
    use smoltcp::wire::{
        EthernetFrame, EthernetProtocol, EthernetRepr, IpProtocol, Ipv4Packet, Ipv4Repr,
        Ipv6Packet, Ipv6Repr, TcpControl, TcpRepr, TcpSeqNumber,
    };

    const SERVER_IPV4: Ipv4Address = Ipv4Address::new(10, 0, 2, 15);
    const SERVER_IPV6: Ipv6Address = Ipv6Address::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);

    /// An Ethernet frame with a TCP segment from a client to `destination`, port `port`.
    fn tcp_frame(destination: IpAddress, port: u16, control: TcpControl, ack: bool) -> Vec<u8> {
        let tcp = TcpRepr {
            src_port: 40_000,
            dst_port: port,
            control,
            seq_number: TcpSeqNumber(1000),
            ack_number: ack.then_some(TcpSeqNumber(2000)),
            window_len: 1024,
            window_scale: None,
            max_seg_size: Some(1460),
            sack_permitted: false,
            sack_ranges: [None; 3],
            timestamp: None,
            payload: &[],
        };
        let (ethertype, ip_header_bytes, source) = match destination {
            IpAddress::Ipv4(_) => (
                EthernetProtocol::Ipv4,
                20,
                IpAddress::Ipv4(Ipv4Address::new(10, 0, 2, 100)),
            ),
            IpAddress::Ipv6(_) => (
                EthernetProtocol::Ipv6,
                40,
                IpAddress::Ipv6(Ipv6Address::new(0xfe80, 0, 0, 0, 0, 0, 0, 2)),
            ),
        };
        let mut frame = vec![0u8; 14 + ip_header_bytes + tcp.buffer_len()];
        EthernetRepr {
            src_addr: EthernetAddress([0x02, 0, 0, 0, 0, 2]),
            dst_addr: EthernetAddress([0x02, 0, 0, 0, 0, 1]),
            ethertype,
        }
        .emit(&mut EthernetFrame::new_unchecked(&mut frame));
        let checksums = ChecksumCapabilities::default();
        let ip = &mut frame[14..];
        match (source, destination) {
            (IpAddress::Ipv4(src_addr), IpAddress::Ipv4(dst_addr)) => Ipv4Repr {
                src_addr,
                dst_addr,
                next_header: IpProtocol::Tcp,
                payload_len: tcp.buffer_len(),
                hop_limit: 64,
            }
            .emit(&mut Ipv4Packet::new_unchecked(&mut *ip), &checksums),
            (IpAddress::Ipv6(src_addr), IpAddress::Ipv6(dst_addr)) => Ipv6Repr {
                src_addr,
                dst_addr,
                next_header: IpProtocol::Tcp,
                payload_len: tcp.buffer_len(),
                hop_limit: 64,
            }
            .emit(&mut Ipv6Packet::new_unchecked(&mut *ip)),
            _ => unreachable!("same family"),
        }
        let mut segment = TcpPacket::new_unchecked(&mut ip[ip_header_bytes..]);
        tcp.emit(&mut segment, &source, &destination, &checksums);
        frame
    }

    /// `frame` with byte `offset` replaced by `value`.
    fn with_byte(mut frame: Vec<u8>, offset: usize, value: u8) -> Vec<u8> {
        frame[offset] = value;
        frame
    }

    #[test]
    fn the_syn_gate_recognizes_only_initial_syns_to_our_port_and_addresses() {
        let ours = [IpAddress::Ipv4(SERVER_IPV4), IpAddress::Ipv6(SERVER_IPV6)];
        let ipv4 = IpAddress::Ipv4(SERVER_IPV4);
        let ipv6 = IpAddress::Ipv6(SERVER_IPV6);
        let syn_v4 = tcp_frame(ipv4, 80, TcpControl::Syn, false);
        let syn_v6 = tcp_frame(ipv6, 80, TcpControl::Syn, false);
        let mut padded_v4 = syn_v4.clone();
        padded_v4.extend_from_slice(&[0; 6]);
        let cases: [(&str, Vec<u8>, bool); 13] = [
            ("IPv4 SYN", syn_v4.clone(), true),
            ("IPv4 SYN with Ethernet padding", padded_v4, true),
            ("IPv6 SYN", syn_v6.clone(), true),
            (
                "SYN to another port",
                tcp_frame(ipv4, 81, TcpControl::Syn, false),
                false,
            ),
            (
                "SYN to another address",
                tcp_frame(IpAddress::v4(10, 0, 2, 16), 80, TcpControl::Syn, false),
                false,
            ),
            (
                "IPv6 SYN to another address",
                tcp_frame(
                    IpAddress::v6(0xfe80, 0, 0, 0, 0, 0, 0, 9),
                    80,
                    TcpControl::Syn,
                    false,
                ),
                false,
            ),
            ("SYN-ACK", tcp_frame(ipv4, 80, TcpControl::Syn, true), false),
            ("ACK", tcp_frame(ipv4, 80, TcpControl::None, true), false),
            ("RST", tcp_frame(ipv4, 80, TcpControl::Rst, false), false),
            // IPv4 flags and fragment offset at byte 6 of the header: More Fragments.
            (
                "IPv4 fragment",
                with_byte(syn_v4.clone(), 14 + 6, 0x20),
                false,
            ),
            // IPv6 Next Header (byte 6): Hop-by-Hop Options before the TCP header.
            (
                "IPv6 extension header",
                with_byte(syn_v6.clone(), 14 + 6, 0),
                false,
            ),
            // EtherType 0x0806 (ARP).
            ("not IP", with_byte(syn_v4.clone(), 13, 0x06), false),
            ("empty", Vec::new(), false),
        ];
        for (name, frame, expected) in cases {
            assert_eq!(is_initial_syn(&frame, 80, &ours), expected, "{name}");
        }
        // Truncated frames are never mistaken for a SYN, and never panic.
        for frame in [&syn_v4, &syn_v6] {
            for length in 0..frame.len() {
                assert!(!is_initial_syn(&frame[..length], 80, &ours), "{length}");
            }
        }
    }

    #[test]
    fn link_local_address_is_modified_eui64() {
        // RFC 4291 Appendix A example shape: 52:54:00:12:34:56 → fe80::5054:ff:fe12:3456.
        let mac = EthernetAddress([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
        assert_eq!(
            link_local_address(mac),
            Ipv6Address::new(0xfe80, 0, 0, 0, 0x5054, 0x00ff, 0xfe12, 0x3456)
        );
    }
}
