//! The socket pump: each TCP socket's life — listening, serving its HTTP [`Connection`],
//! closing, retiring — and the bytes moved between the socket and the connection (see "Closing"
//! in the [module documentation](super)).

use alloc::boxed::Box;
use alloc::collections::BinaryHeap;

use log::{info, warn};
use smoltcp::iface::{PollResult, SocketHandle};
use smoltcp::phy::Device;
use smoltcp::socket::tcp;
use smoltcp::time::Instant;
use smoltcp::wire::IpEndpoint;

use super::access_log::{display_peer, log_records};
use super::config::{ServerConfig, ServerStatistics};
use super::listeners::READ_PAUSE_FREE_BYTES;
use super::server::{HttpServer, instant_us};
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

/// How long, in milliseconds, no spare listener is kept at the connection limit after a search
/// for a connection to reclaim found none: new clients then get `503` from the overflow
/// listener, and the search does not run for every SYN of a crowd of busy connections.
const SPARE_BLOCKED_MS: u64 = 1000;

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
    /// Listening, until the ACK of a SYN cookie turns it into a connection.
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
pub(super) struct SocketSlot {
    pub(super) handle: SocketHandle,
    pub(super) role: SocketRole,
    pub(super) phase: SocketPhase,
    /// The client, once a handshake has taken the socket (for the router and the log).
    pub(super) peer: Option<IpEndpoint>,
    /// Our end of the connection, once a handshake has taken the socket (for the router).
    pub(super) local: Option<IpEndpoint>,
    /// An idle connection closed to make room at the connection limit (short close linger).
    pub(super) reclaimed: bool,
    /// To be serviced at its bucket's next service whatever its deadline: a frame arrived for
    /// it, it just moved into its bucket, or the server changed it (reclaimed, aborted).
    pub(super) due: bool,
    /// When it next needs attention without a frame ([`slot_deadline_us`] at its last service),
    /// in microseconds; `u64::MAX` for never. A bucket's other sockets are not serviced until
    /// theirs comes, so a frame for one connection costs the work of that connection only.
    pub(super) deadline_us: u64,
}

impl HttpServer {
    /// Removes listeners that are no longer listening. Listeners leave LISTEN only through the
    /// gate (`syn_gate::open_from_cookie`), which takes them out of the list first; one that
    /// closed on its own (smoltcp) would otherwise hold a place in the backlog.
    pub(super) fn drop_stale_listeners(&mut self) {
        let HttpServer {
            listeners, sockets, ..
        } = self;
        listeners.retain(|slot| {
            let listening = sockets.get::<tcp::Socket>(slot.handle).state() == tcp::State::Listen;
            if !listening {
                sockets.remove(slot.handle);
            }
            listening
        });
    }

    /// Puts a connection the gate opened from a listener into its client's bucket. At the
    /// connection limit, or when memory for another connection is short (the spare listener took
    /// it), it makes room by reclaiming a connection, or, when none can go, the connection is
    /// answered `503`.
    pub(super) fn accept_connection(
        &mut self,
        socket: tcp::Socket<'static>,
        mut slot: SocketSlot,
        now_us: u64,
    ) {
        if slot.role == SocketRole::Regular
            && (self.buckets.active_regular_count() >= self.config.max_connections
                || self.short_of_memory)
            && !self.reclaim_one()
        {
            slot.role = SocketRole::Overflow;
            self.buckets.spare_blocked_until_us = now_us.saturating_add(SPARE_BLOCKED_MS * 1000);
        }
        if !self
            .buckets
            .insert(smoltcp::socket::Socket::Tcp(socket), slot)
        {
            // The socket is dropped unanswered: the client's next segment gets RST.
            self.statistics.connection_allocation_failures += 1;
            self.warn_memory(now_us, format_args!("no room to file a new connection"));
        }
    }

    /// Services the sockets of every bucket that received a frame, took a socket or has a
    /// deadline due, transmits what they queued, and notes each bucket's next deadline. Returns
    /// whether anything moved (bytes, states).
    pub(super) fn service_buckets<D: Device + ?Sized>(
        &mut self,
        now: Instant,
        device: &mut D,
    ) -> bool {
        let now_us = instant_us(now);
        self.buckets.queue_due(now_us);
        let queued = self.buckets.take_queued();
        let HttpServer {
            config,
            site,
            prepared_heads,
            interface,
            buckets,
            statistics,
            recycled_sockets,
            short_of_memory,
            ..
        } = self;
        let recycle = !*short_of_memory;
        let refused_before = statistics.connections_refused;
        let mut pump = SocketPump {
            config,
            response: ResponseContext {
                site,
                settings: &config.response,
                now_unix_s: config
                    .unix_time_at_clock_zero_s
                    .map(|base_s| base_s.saturating_add(now_us / 1_000_000)),
                prepared: Some(prepared_heads),
            },
            now_us,
            statistics,
            progressed: false,
        };
        for &index in &queued {
            let bucket = &mut buckets.buckets[index];
            let (mut regular_removed, mut overflow_removed) = (0usize, 0usize);
            let mut reclaimed_removed = 0usize;
            let sockets = &mut bucket.sockets;
            bucket.slots.retain_mut(|slot| {
                if !slot.due && slot.deadline_us > now_us {
                    return true;
                }
                let socket = sockets.get_mut::<tcp::Socket>(slot.handle);
                let keep = pump.service_socket(slot, socket);
                slot.due = false;
                slot.deadline_us = slot_deadline_us(pump.config, slot, now_us).unwrap_or(u64::MAX);
                if !keep {
                    let removed = sockets.remove(slot.handle);
                    if recycle
                        && slot.role == SocketRole::Regular
                        && recycled_sockets.len() < super::listeners::RECYCLED_SOCKETS_MAX
                        && let smoltcp::socket::Socket::Tcp(socket) = removed
                    {
                        recycled_sockets.push(socket);
                    }
                    match slot.role {
                        SocketRole::Regular => regular_removed += 1,
                        SocketRole::Overflow => overflow_removed += 1,
                    }
                    if slot.reclaimed {
                        reclaimed_removed += 1;
                    }
                    pump.progressed = true;
                }
                keep
            });
            // Transmit what the sockets queued (bounded by the sockets' buffers).
            while interface.poll_egress(now, device, sockets) == PollResult::SocketStateChanged {}
            let smoltcp_deadline_us = interface.poll_at(now, sockets).map(instant_us);
            let deadline_us = bucket
                .slots
                .iter()
                .map(|slot| slot.deadline_us)
                .filter(|&deadline_us| deadline_us != u64::MAX)
                .chain(smoltcp_deadline_us)
                .min();
            bucket.release_if_empty();
            buckets.regular_count -= regular_removed;
            buckets.overflow_count -= overflow_removed;
            buckets.reclaimed_count -= reclaimed_removed;
            if regular_removed > reclaimed_removed {
                // A slot came free: a spare listener may be worth keeping again.
                buckets.spare_blocked_until_us = 0;
            }
            buckets.set_deadline(index, deadline_us);
        }
        buckets.return_queue(queued);
        let SocketPump {
            statistics,
            mut progressed,
            ..
        } = pump;
        // Each connection refused at the limit closes one reusable connection, so the refused
        // client's retry finds room (see `reclaim_one`).
        let refused = statistics.connections_refused - refused_before;
        for _ in 0..refused {
            if !self.reclaim_one() {
                break;
            }
            progressed = true;
        }
        progressed
    }
}

impl HttpServer {
    /// At the connection limit, closes one connection to make room, as nginx reuses
    /// connections when it runs out: the idle keep-alive connection idle longest (RFC 9112 §9.3
    /// lets a server close an idle persistent connection at any time), else the oldest
    /// connection that has not completed a request head (a flood of connections that send
    /// nothing, or slowloris, cannot lock real clients out). Each is counted. Returns whether
    /// one was closed.
    ///
    /// One search over every connection finds the best [`RECLAIM_CANDIDATES_MAX`] in that
    /// order; the calls after it take them one by one (each checked again: still there, still
    /// reclaimable, not active since) until none is left. A search per call cost ~100,000
    /// instructions with 4,096 connections open, and a flood past the limit asks once per
    /// handshake: it stalled the server for seconds.
    pub(super) fn reclaim_one(&mut self) -> bool {
        // The candidates left from the last search, else those of a new one: each is tried
        // once, so a call ends after at most one search.
        for search in [false, true] {
            if search {
                self.find_reclaim_candidates();
            }
            while let Some(candidate) = self.reclaim_candidates.pop() {
                if self.reclaim(candidate) {
                    return true;
                }
            }
        }
        false
    }

    /// Fills `reclaim_candidates` with the best connections to reclaim, the best last (it is
    /// taken from the end).
    fn find_reclaim_candidates(&mut self) {
        // Kept: the RECLAIM_CANDIDATES_MAX smallest keys, in a max-heap so the worst is dropped.
        // The heap lives in the list's own storage, made once with room for one more than it
        // keeps: this runs when memory is short, and must not allocate (an allocation of 2 KiB
        // here failed in a 10,000-connection flood and reset the server).
        let mut storage = core::mem::take(&mut self.reclaim_candidates);
        storage.clear();
        let mut best = BinaryHeap::from(storage);
        for (bucket_index, bucket) in self.buckets.buckets.iter().enumerate() {
            for slot in &bucket.slots {
                let Some((class, last_activity_us)) = reclaim_key(bucket, slot) else {
                    continue;
                };
                best.push(ReclaimCandidate {
                    class,
                    last_activity_us,
                    bucket_index,
                    handle: slot.handle,
                });
                if best.len() > RECLAIM_CANDIDATES_MAX {
                    best.pop();
                }
            }
        }
        // Ascending; reversed so that `pop` gives the best.
        let mut sorted = best.into_sorted_vec();
        sorted.reverse();
        self.reclaim_candidates = sorted;
    }

    /// Closes `candidate`'s connection to make room if it is still as it was found.
    fn reclaim(&mut self, candidate: ReclaimCandidate) -> bool {
        let Some(bucket) = self.buckets.buckets.get_mut(candidate.bucket_index) else {
            return false;
        };
        let Some(slot_index) = bucket
            .slots
            .iter()
            .position(|slot| slot.handle == candidate.handle)
        else {
            return false;
        };
        // Changed since the search (active, or another connection on the same handle): not
        // this one.
        if reclaim_key(bucket, &bucket.slots[slot_index])
            != Some((candidate.class, candidate.last_activity_us))
        {
            return false;
        }
        let slot = &mut bucket.slots[slot_index];
        let SocketPhase::Serving(connection) = &mut slot.phase else {
            return false;
        };
        let is_idle = candidate.class == ReclaimClass::IdleKeepAlive;
        if !connection.close_to_make_room() {
            return false;
        }
        slot.reclaimed = true;
        slot.due = true;
        self.buckets.reclaimed_count += 1;
        if is_idle {
            self.statistics.idle_connections_reclaimed += 1;
        } else {
            self.statistics.unstarted_connections_reclaimed += 1;
        }
        self.buckets.queue(candidate.bucket_index);
        true
    }
}

/// How many reclaimable connections one search keeps (see [`HttpServer::reclaim_one`]).
pub(super) const RECLAIM_CANDIDATES_MAX: usize = 64;

/// Which connections may be closed to make room, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum ReclaimClass {
    /// An idle keep-alive connection (RFC 9112 §9.3 lets a server close it at any time).
    IdleKeepAlive,
    /// A connection that has not completed its first request head.
    Unstarted,
}

/// A connection found reclaimable; ordered best first (class, then the longest inactive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct ReclaimCandidate {
    class: ReclaimClass,
    last_activity_us: u64,
    bucket_index: usize,
    handle: SocketHandle,
}

/// Whether (as what, and last active when) the connection in `slot` may be closed to make
/// room: a regular connection being served, not reclaimed already, with no unread bytes in its
/// socket (they are a request the connection has not seen yet).
fn reclaim_key(bucket: &super::buckets::Bucket, slot: &SocketSlot) -> Option<(ReclaimClass, u64)> {
    let SocketPhase::Serving(connection) = &slot.phase else {
        return None;
    };
    if slot.role != SocketRole::Regular || slot.reclaimed {
        return None;
    }
    if bucket.sockets.get::<tcp::Socket>(slot.handle).recv_queue() > 0 {
        return None;
    }
    let class = if connection.is_idle_keep_alive() {
        ReclaimClass::IdleKeepAlive
    } else if connection.awaits_first_request() {
        ReclaimClass::Unstarted
    } else {
        return None;
    };
    Some((class, connection.last_activity_us()))
}

/// When `slot` next needs attention without a new frame, in microseconds: its connection's
/// deadline, its close linger or handshake limit, or now for a retiring socket.
pub(super) fn slot_deadline_us(
    config: &ServerConfig,
    slot: &SocketSlot,
    now_us: u64,
) -> Option<u64> {
    match &slot.phase {
        SocketPhase::Serving(connection) => connection.next_deadline_us(),
        SocketPhase::Closing { since_us } => {
            Some(since_us.saturating_add(close_linger_ms(config, slot).saturating_mul(1000)))
        }
        SocketPhase::Retiring => Some(now_us),
        // A socket that has just left its listener is serviced at once.
        SocketPhase::Listening => Some(now_us),
    }
}

/// What one [`SocketPump::serve`] call did.
struct ServeOutcome {
    bytes_moved: bool,
    requests_answered: u64,
    bytes_sent: u64,
    input_allocation_failures: u64,
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
                // Back in LISTEN in a bucket, where no handshake is routed: it is done.
                tcp::State::Listen | tcp::State::Closed | tcp::State::TimeWait => false,
                // The gate opens sockets from a SYN cookie with the client's ACK and files only
                // connected ones (`syn_gate::open_from_cookie`): a handshake state here is not
                // a connection, and is dropped.
                tcp::State::SynReceived | tcp::State::SynSent => false,
                _ => {
                    // Established (or beyond): it is now a connection.
                    let connection = match slot.role {
                        SocketRole::Regular => {
                            self.statistics.connections_accepted += 1;
                            Connection::new(
                                now_us,
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
                                now_us,
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
                    // §3.10.7.4): the connection is over.
                    tcp::State::Listen => {
                        log_records(slot.peer, connection, config);
                        return false;
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
                self.statistics.input_allocation_failures += moved.input_allocation_failures;
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

    /// Whether the heap is nearly full ([`READ_PAUSE_FREE_BYTES`]): then connections read no
    /// request bytes (they stay in the sockets' receive buffers) until memory is back, and time
    /// out without a response (see [`Connection::set_memory_short`]). Asked for each socket, not
    /// once a round: a round that serves thousands of connections could otherwise spend the
    /// whole reserve.
    fn memory_short(&self) -> bool {
        self.config
            .free_memory_bytes
            .is_some_and(|free| free() < READ_PAUSE_FREE_BYTES)
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
        let input_failures_before = connection.input_allocation_failures();
        let memory_short = self.memory_short();
        connection.set_memory_short(memory_short);
        let mut bytes_moved = false;
        // Two passes: output drained in the first can let parsing resume in the second.
        for _ in 0..2 {
            // The receive buffer is a ring: up to two contiguous pieces.
            while socket.can_recv() && !memory_short {
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
            input_allocation_failures: connection.input_allocation_failures()
                - input_failures_before,
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
