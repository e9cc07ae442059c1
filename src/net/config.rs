//! What the kernel tells the server ([`ServerConfig`]) and what the server counts
//! ([`ServerStatistics`]).

use smoltcp::wire::EthernetAddress;

use super::addressing::{Ipv4Setup, StaticIpv4, StaticIpv6};
#[cfg(doc)]
use super::listeners::MEMORY_RESERVE_BYTES;
#[cfg(doc)]
use super::server::HttpServer;
use crate::http::connection::ConnectionTimeouts;
use crate::http::{Limits, ResponseSettings};

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
    /// with ARP before it is used (RFC 5227 §2.1.1; see [`super::arp`]); 0 takes the
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
    /// Most simultaneous connections, closing ones included (a handshake holds none: SYN
    /// cookies).
    pub max_connections: usize,
    /// Sockets kept listening at once: how many handshakes can complete between two
    /// replenishments (the server replaces a taken listener after each frame). Each costs its
    /// buffers while it waits (up to 260 KiB, zeroed when it is made: eight are ~85,000 of the
    /// boot's instructions), but two were measured far worse than eight in a flood of 10,000
    /// handshakes (crowd.py idle-10000 at -m 128M: probes answered 52/60 against 59/60, frames
    /// dropped by the host's tap queue 60,000 against 3,500).
    pub listen_backlog: usize,
    /// Most simultaneous connections accepted beyond `max_connections` to answer `503`. While all
    /// of them are in use, new SYNs are dropped (the client retries them) instead of reset.
    pub overflow_connections_max: usize,
    /// TCP receive buffer per connection, in bytes (requests are small).
    pub tcp_rx_buffer_bytes: usize,
    /// Largest TCP send buffer per connection, in bytes (the in-flight window: size for
    /// throughput); a connection gets less when the heap is short (see "Memory" in
    /// [`crate::net`]).
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
    /// The routine that sums TCP segments for their checksums (see [`super::checksum`]): the
    /// kernel's NEON one, or the portable [`super::checksum::sum_words`].
    pub checksum_sum: super::checksum::SumRoutine,
    /// Unix time, in seconds, at `Instant` zero of the clock passed to [`HttpServer::poll`], if
    /// known (the RTC on QEMU `virt`; the Raspberry Pi has none). Used for `Date`.
    pub unix_time_at_clock_zero_s: Option<u64>,
}

impl ServerConfig {
    /// The defaults for a NIC with address `mac`: port 80, DHCP with the QEMU user-network
    /// fallback after 10 s (probed with ARP for 1 s before use), link up, 4,096 connections, 8 listening sockets, 64 overflow (503) sockets, 4 KiB receive and 64 KiB send
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
            checksum_sum: super::checksum::sum_words,
        }
    }
}

impl ServerConfig {
    /// Largest send buffer per connection, which bounds the bytes a connection has in flight
    /// (docs/design-notes.md §1: 1 KiB buffers cripple throughput). With segmentation offload a
    /// segment is 16 KB, and 64 KiB held only four: 10 MiB over tap moved 210-249 MB/s with
    /// 64 KiB, 268-291 with 128 KiB and 311-373 with 256 KiB, for 10-15 % fewer new connections per
    /// second (each socket's buffer is allocated and zeroed: 3,300-3,800/s with 64 KiB,
    /// 3,000-3,200/s with 256 KiB over user networking). The kernel asks for this much; each
    /// connection gets less when the heap is short (see "Memory" in [`crate::net`]).
    pub const TCP_TX_BUFFER_MAX_BYTES: usize = 256 * 1024;
    /// Smallest send buffer per connection: a few full-size segments in flight.
    pub const TCP_TX_BUFFER_MIN_BYTES: usize = 8 * 1024;
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
    /// Idle keep-alive connections closed at the connection limit to make room for a new
    /// client (as nginx reuses idle connections).
    pub idle_connections_reclaimed: u64,
    /// Connections that had not completed a request head (connected and sent nothing, or part
    /// of a head), the oldest first, closed at the connection limit to make room for a new
    /// client when no idle keep-alive connection was left.
    pub unstarted_connections_reclaimed: u64,
    /// New connections' SYNs (or the ACKs that complete their cookie handshakes) dropped
    /// unanswered because no socket was listening (every limit
    /// reached, or too little memory); each client retries after its retransmission timeout.
    pub syns_dropped_at_limit: u64,
    /// ARP packets from other hosts that claimed our IPv4 address, or the one being probed
    /// (RFC 5227 §2.1.1, §2.4).
    pub ipv4_address_conflicts: u64,
    /// SYNs to the HTTP port answered with a SYN cookie (every new connection's, and every
    /// SYN of a flood: none of them holds memory).
    pub syn_cookies_sent: u64,
    /// ACKs to the HTTP port for no connection whose cookie did not check out (forged, too
    /// old, or for a connection already gone): answered with RST.
    pub invalid_cookie_acks: u64,
    /// Handshakes whose ACK held a valid cookie but whose socket did not reach ESTABLISHED
    /// (smoltcp drew another initial sequence number); always 0 unless smoltcp changed.
    pub cookie_handshakes_failed: u64,
    /// Listening sockets not made because the heap could not give their buffers (the free
    /// memory was in holes too small): new clients then got `503` or had their SYN dropped.
    pub socket_buffer_allocation_failures: u64,
    /// Connections dropped because the heap could not give the room to file them (the
    /// bucket's socket table could not grow): the client's next segment is answered with RST.
    pub connection_allocation_failures: u64,
    /// Times a connection's input buffer could not grow because the heap could not give the
    /// room; the bytes wait in the socket (TCP holds the client) until memory is back or the
    /// request-head timeout closes the connection.
    pub input_allocation_failures: u64,
    /// Received TCP segments dropped because their checksum was wrong (RFC 9293 §3.1).
    pub tcp_checksum_errors: u64,
    /// Listeners made from a closed connection's socket instead of new zeroed buffers.
    pub sockets_reused: u64,
}
