//! The network loop: a smoltcp interface, DHCPv4, a pool of listening sockets and one HTTP
//! [`Connection`](crate::http::connection::Connection) per connected socket, generic over
//! `smoltcp::phy::Device`.
//!
//! The kernel owns the device and the clock; it calls [`HttpServer::poll`] whenever a frame may
//! have arrived or the returned delay has passed, and sleeps (WFI) in between.
//!
//! **Accepting connections.** Every SYN to the HTTP port is answered by the frame router
//! (`syn_gate`) with a SYN cookie (RFC 4987 §3.6, `syn_cookie`): the SYN-ACK's sequence number is
//! a keyed hash of the connection that the client's ACK returns, so a handshake holds no socket,
//! no memory and no slot until it is complete, and a SYN flood from forged addresses costs one
//! SYN-ACK per SYN. smoltcp has no accept queue: a listening socket turns into the connection it
//! accepts. The server keeps [`ServerConfig::listen_backlog`] sockets listening (never more than
//! the connections still allowed); the ACK that returns a valid cookie turns one of them into
//! the connection, which moves into its client's bucket (`buckets`: work per frame and per poll
//! follows the events, not the number of open connections), and the listener is replaced before
//! the next frame. An ACK without a valid cookie is answered with RST. At
//! [`ServerConfig::max_connections`] it keeps
//! one spare listener, as nginx reuses connections when it runs out: the connection the spare
//! takes closes the connection idle longest between requests, else the oldest one that has not
//! completed a request head (a crowd that connects and sends nothing, or slowloris, cannot lock
//! real clients out); both are counted. When neither exists, that connection and later ones
//! (from a single small *overflow* listener) read one request head and get `503 Service
//! Unavailable` with `Retry-After: 1`, then close — a clear answer instead of a reset. At most
//! [`ServerConfig::overflow_connections_max`] such connections exist at once.
//!
//! **Memory.** Each listener's send buffer is sized when it is made, from the free heap: up to
//! [`ServerConfig::tcp_tx_buffer_bytes`] while memory is plentiful, shrinking toward
//! [`ServerConfig::TCP_TX_BUFFER_MIN_BYTES`] so that every connection slot still free keeps a
//! floor (receive buffer, minimum send buffer, connection state) plus a reserve
//! ([`MEMORY_RESERVE_BYTES`]). When even the floor does not fit, a newcomer takes the place of
//! an idle or unstarted connection as at the connection limit (its floor comes out of the
//! reserve until the reclaimed one is gone); when none can go, the listeners close (new
//! clients get `503` or their SYN waits), and when the heap is nearly full connections stop reading request bytes until memory is
//! back (the bytes wait in the sockets' receive buffers, TCP holds the clients), and a request
//! head that times out closes the connection without the `408`.
//!
//! The free-byte count cannot promise a block of a given size (the heap fragments), so every
//! allocation whose size or count a client drives is fallible and refused when the heap cannot
//! give it, never a panic: a listener's buffers (the send buffer falls back to the floor, else
//! no listener: `503` or a dropped SYN), a bucket's socket table (the new connection is dropped;
//! the client's retry may find room), a connection's input buffer (the bytes stay in the
//! socket). Each is counted in [`ServerStatistics`] and logged at most once a second.
//!
//! **Beyond every limit** — no listening socket at all, because the overflow slots are taken or
//! the heap cannot hold even the overflow socket's buffers — a new SYN to the HTTP port (or the
//! ACK of a cookie sent before) is dropped unanswered rather than reset, as Linux does when a listener's accept queue is full
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
//!
//! | module | what it does |
//! |---|---|
//! | `server` | [`HttpServer`]: creation, the poll loop, link state, the public accessors |
//! | `config` | [`ServerConfig`] and [`ServerStatistics`] |
//! | `addressing` | IPv4 and IPv6 set-up: static addresses, DHCP, the fallback, ARP probes and announcements |
//! | [`arp`] | IPv4 address conflict detection (RFC 5227): probe schedule, ARP frames, conflicts |
//! | `buckets` | the connected sockets in many small socket sets, so that work follows events, not the connection count |
//! | `listeners` | the pool of listening sockets and the memory check before each new one |
//! | `pump` | each socket's life (listening, serving, closing, retiring) and the bytes between it and its HTTP connection |
//! | `access_log` | the access-log lines |
//! | `syn_gate` | the frame router: each frame to its connection's bucket; answers SYNs with cookies and opens connections from their ACKs; drops SYNs beyond every limit, watches ARP for conflicts |
//! | `syn_cookie` | the SYN cookie: its hash and layout, the SYN-ACK, the seed that gives smoltcp the cookie as initial sequence number |
//! | [`offload`] | TCP checksum and segmentation offload: the frame edits, for NICs that have it |
//! | [`checksum`] | TCP checksums by the server (a replaceable summing routine) instead of smoltcp |
//! | `tcp_frame` | where the TCP segment sits in an Ethernet frame |

mod access_log;
mod addressing;
pub mod arp;
mod buckets;
pub mod checksum;
mod config;
mod listeners;
pub mod offload;
mod pump;
mod server;
mod syn_cookie;
mod syn_gate;
mod tcp_frame;

pub use addressing::{Ipv4Setup, Ipv4Source, StaticIpv4, StaticIpv6, link_local_address};
pub use config::{ServerConfig, ServerStatistics};
pub use listeners::MEMORY_RESERVE_BYTES;
pub use server::HttpServer;
