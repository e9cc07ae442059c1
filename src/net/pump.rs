//! The socket pump: each TCP socket's life — listening, serving its HTTP [`Connection`],
//! closing, retiring — and the bytes moved between the socket and the connection (see "Closing"
//! in the [module documentation](super)).

use alloc::boxed::Box;

use log::{info, warn};
use smoltcp::iface::SocketHandle;
use smoltcp::socket::tcp;
use smoltcp::wire::IpEndpoint;

use super::access_log::{display_peer, log_records};
use super::config::{ServerConfig, ServerStatistics};
use super::server::HttpServer;
use crate::http::connection::{
    Connection, ConnectionTimeouts, Disposition, ResponseContext, TimeoutEvent,
};

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
pub(super) fn close_linger_ms(config: &ServerConfig, slot: &SocketSlot) -> u64 {
    if slot.role == SocketRole::Overflow || slot.reclaimed {
        config.close_linger_ms.min(SHORT_CLOSE_LINGER_MS)
    } else {
        config.close_linger_ms
    }
}

/// How long a regular socket may stay in SYN-RECEIVED before it is aborted, in milliseconds.
/// smoltcp retransmits the SYN-ACK after its retransmission timeout (1 s at first, doubling:
/// RFC 6298 §2), so a client whose first two SYN-ACKs were lost still completes within this;
/// a half-open socket from a SYN flood frees its slot after it instead of holding it for good.
pub(super) const HANDSHAKE_TIMEOUT_MS: u64 = 5000;

/// The same for an overflow socket, which only carries a `503`: its slots are few.
pub(super) const OVERFLOW_HANDSHAKE_TIMEOUT_MS: u64 = 1000;

/// The handshake limit of `slot`'s role, in microseconds.
pub(super) fn handshake_timeout_us(slot: &SocketSlot) -> u64 {
    let milliseconds = match slot.role {
        SocketRole::Regular => HANDSHAKE_TIMEOUT_MS,
        SocketRole::Overflow => OVERFLOW_HANDSHAKE_TIMEOUT_MS,
    };
    milliseconds * 1000
}

/// What a TCP socket of the server is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SocketRole {
    /// A regular socket (listening, or a connection counted against `max_connections`).
    Regular,
    /// The overflow socket (listening, or a connection that gets `503`).
    Overflow,
}

/// The life of one TCP socket of the server.
#[derive(Debug)]
pub(super) enum SocketPhase {
    /// Waiting for a SYN.
    Listening,
    /// SYN received, SYN-ACK sent, the client's ACK not yet in (SYN-RECEIVED, RFC 9293 §3.5).
    /// smoltcp keeps such a socket forever, so the server gives it [`HANDSHAKE_TIMEOUT_MS`]
    /// (overflow sockets [`OVERFLOW_HANDSHAKE_TIMEOUT_MS`]) and then aborts it: SYNs from
    /// addresses that never complete the handshake cannot hold the slots.
    Handshake {
        /// When the SYN was taken, in microseconds.
        since_us: u64,
    },
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
pub(super) struct SocketSlot {
    pub(super) handle: SocketHandle,
    pub(super) role: SocketRole,
    pub(super) phase: SocketPhase,
    /// The client, once connected (for the log).
    pub(super) peer: Option<IpEndpoint>,
    /// An idle connection closed to make room at the connection limit (short close linger).
    pub(super) reclaimed: bool,
}

impl HttpServer {
    /// Services every TCP socket once. Returns whether anything moved (bytes, states).
    pub(super) fn service_sockets(&mut self, now_us: u64) -> bool {
        let HttpServer {
            config,
            site,
            sockets,
            slots,
            statistics,
            ..
        } = self;
        let refused_before = statistics.connections_refused;
        let mut pump = SocketPump {
            config,
            response: ResponseContext {
                site,
                settings: &config.response,
                now_unix_s: config
                    .unix_time_at_clock_zero_s
                    .map(|base_s| base_s.saturating_add(now_us / 1_000_000)),
            },
            now_us,
            statistics,
            progressed: false,
        };
        slots.retain_mut(|slot| {
            let socket = sockets.get_mut::<tcp::Socket>(slot.handle);
            let keep = pump.service_socket(slot, socket);
            if !keep {
                sockets.remove(slot.handle);
                pump.progressed = true;
            }
            keep
        });
        let SocketPump {
            statistics,
            mut progressed,
            ..
        } = pump;
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
}

/// What one [`SocketPump::serve`] call did.
struct ServeOutcome {
    bytes_moved: bool,
    requests_answered: u64,
    bytes_sent: u64,
    timeout: Option<TimeoutEvent>,
}

/// What servicing the sockets in one poll round shares: the settings, the response context, the
/// poll's instant, the counters, and whether anything moved.
struct SocketPump<'server> {
    /// Limits, time limits, the access-log switch and the clock.
    config: &'server ServerConfig,
    /// The site, the response settings and the time for `Date`.
    response: ResponseContext<'server>,
    /// The poll's instant, in microseconds.
    now_us: u64,
    /// The server's counters.
    statistics: &'server mut ServerStatistics,
    /// Whether any socket moved bytes or changed phase so far.
    progressed: bool,
}

impl SocketPump<'_> {
    /// Services one TCP socket; returns whether to keep it (false: remove it from the set).
    fn service_socket(&mut self, slot: &mut SocketSlot, socket: &mut tcp::Socket<'static>) -> bool {
        let SocketPump { config, now_us, .. } = *self;
        let state = socket.state();
        let linger_ms = close_linger_ms(config, slot);
        match &mut slot.phase {
            SocketPhase::Listening => match state {
                tcp::State::Listen => true,
                tcp::State::Closed | tcp::State::TimeWait => false,
                _ => {
                    // The listener was taken by a SYN.
                    slot.phase = SocketPhase::Handshake { since_us: now_us };
                    self.progressed = true;
                    self.service_socket(slot, socket)
                }
            },
            SocketPhase::Handshake { since_us } => match state {
                tcp::State::SynReceived => {
                    if now_us >= since_us.saturating_add(handshake_timeout_us(slot)) {
                        self.statistics.handshakes_abandoned += 1;
                        socket.abort();
                        slot.phase = SocketPhase::Retiring;
                        self.progressed = true;
                    }
                    true
                }
                // A client's RST in SYN-RECEIVED returns the socket to LISTEN (RFC 9293
                // §3.10.7.4): it listens again.
                tcp::State::Listen => {
                    slot.phase = SocketPhase::Listening;
                    slot.peer = None;
                    true
                }
                tcp::State::Closed | tcp::State::TimeWait => {
                    slot.phase = SocketPhase::Retiring;
                    self.progressed = true;
                    true
                }
                _ => {
                    // Established (or beyond): it is now a connection. Its time limits count
                    // from the SYN, so the handshake's time comes off the request-head timeout.
                    let accepted_us = *since_us;
                    slot.peer = socket.remote_endpoint();
                    let connection = match slot.role {
                        SocketRole::Regular => {
                            self.statistics.connections_accepted += 1;
                            Connection::new(
                                accepted_us,
                                config.limits.clone(),
                                config.timeouts,
                                config.access_log,
                            )
                        }
                        SocketRole::Overflow => {
                            self.statistics.connections_refused += 1;
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
                                accepted_us,
                                config.limits.clone(),
                                timeouts,
                                config.access_log,
                            )
                        }
                    };
                    slot.phase = SocketPhase::Serving(Box::new(connection));
                    self.progressed = true;
                    self.service_socket(slot, socket)
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
                        self.progressed = true;
                        return true;
                    }
                    _ => {}
                }
                let moved = self.serve(connection, socket);
                self.progressed |= moved.bytes_moved;
                self.statistics.requests_answered += moved.requests_answered;
                self.statistics.bytes_sent += moved.bytes_sent;
                match moved.timeout {
                    Some(TimeoutEvent::RequestHead) => {
                        self.statistics.request_head_timeouts += 1;
                        let answer = match slot.role {
                            SocketRole::Regular => "408",
                            SocketRole::Overflow => "503",
                        };
                        info!(
                            "http: {} request head timeout; {answer} and close",
                            display_peer(slot.peer)
                        );
                    }
                    Some(TimeoutEvent::KeepAliveIdle) => self.statistics.keep_alive_timeouts += 1,
                    Some(TimeoutEvent::SendStall) => {
                        self.statistics.connections_aborted += 1;
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
                        self.progressed = true;
                    }
                    Disposition::Abort => {
                        socket.abort();
                        slot.phase = SocketPhase::Retiring;
                        self.progressed = true;
                    }
                }
                true
            }
            SocketPhase::Closing { since_us } => {
                if matches!(state, tcp::State::Closed | tcp::State::TimeWait) {
                    slot.phase = SocketPhase::Retiring;
                    self.progressed = true;
                    return true;
                }
                // Whatever the client still sends is read and dropped, so its window stays open
                // while our FIN and last bytes go out.
                while socket.can_recv() {
                    match socket.recv(|bytes| (bytes.len(), bytes.len())) {
                        Ok(count) if count > 0 => self.progressed = true,
                        _ => break,
                    }
                }
                if now_us >= since_us.saturating_add(linger_ms.saturating_mul(1000)) {
                    self.statistics.connections_aborted += 1;
                    socket.abort();
                    slot.phase = SocketPhase::Retiring;
                    self.progressed = true;
                }
                true
            }
            // A transmit pass has run since the socket retired (see `SocketPhase::Retiring`).
            // Removing a TIME-WAIT socket early frees its buffers; a retransmitted FIN from the
            // peer then gets RST instead of ACK, which only ends the peer's LAST-ACK sooner.
            SocketPhase::Retiring => false,
        }
    }

    /// The caller's clock when it has one (never earlier than the poll's instant), in
    /// microseconds: request records then show how long each response took within one poll.
    fn current_us(&self) -> u64 {
        self.config
            .clock_us
            .map_or(self.now_us, |read| read().max(self.now_us))
    }

    /// Moves bytes between a connected socket and its connection: received bytes in, responses
    /// out, time limits applied.
    fn serve(
        &self,
        connection: &mut Connection,
        socket: &mut tcp::Socket<'static>,
    ) -> ServeOutcome {
        let (context, now_us) = (&self.response, self.now_us);
        let requests_before = connection.requests_answered();
        let bytes_before = connection.bytes_transmitted();
        let mut bytes_moved = false;
        // Two passes: output drained in the first can let parsing resume in the second.
        for _ in 0..2 {
            // The receive buffer is a ring: up to two contiguous pieces.
            while socket.can_recv() {
                match socket.recv(|bytes| {
                    let consumed = connection.receive(bytes, self.current_us(), context);
                    (consumed, consumed)
                }) {
                    Ok(consumed) if consumed > 0 => bytes_moved = true,
                    _ => break,
                }
            }
            connection.receive(&[], self.current_us(), context);
            if peer_finished_sending(socket.state()) && socket.recv_queue() == 0 {
                // The client sent FIN and everything before it has been read: no more requests.
                connection.receive_closed();
            }
            bytes_moved |= self.send_output(connection, socket);
            if !bytes_moved {
                break;
            }
        }
        connection.set_transport_backlog(socket.send_queue(), now_us);
        let timeout = connection.poll_timers(now_us, context);
        if timeout == Some(TimeoutEvent::RequestHead) {
            // Send the 408 at once.
            bytes_moved |= self.send_output(connection, socket);
        }
        ServeOutcome {
            bytes_moved,
            requests_answered: connection.requests_answered() - requests_before,
            bytes_sent: connection.bytes_transmitted() - bytes_before,
            timeout,
        }
    }

    /// Hands the connection's output to the socket's send buffer until one of them runs out;
    /// returns whether any byte moved.
    fn send_output(&self, connection: &mut Connection, socket: &mut tcp::Socket<'static>) -> bool {
        let mut bytes_moved = false;
        while connection.has_output() && socket.can_send() {
            match socket.send(|space| {
                let written = connection.transmit(space, self.current_us());
                (written, written)
            }) {
                Ok(written) if written > 0 => bytes_moved = true,
                _ => break,
            }
        }
        bytes_moved
    }
}

/// Whether the TCP state means the peer's FIN has arrived (RFC 9293 §3.3.2).
fn peer_finished_sending(state: tcp::State) -> bool {
    matches!(
        state,
        tcp::State::CloseWait | tcp::State::LastAck | tcp::State::Closing | tcp::State::TimeWait
    )
}
