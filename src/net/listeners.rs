//! The listener pool: smoltcp has no accept queue, so the server keeps
//! [`ServerConfig::listen_backlog`] sockets listening and replaces each one as soon as a handshake takes
//! it, below [`ServerConfig::max_connections`]; at the limit, or when the heap cannot hold another
//! socket's buffers, one small overflow listener answers `503` (see "Accepting connections" in
//! the [module documentation](super)).
//!
//! **Recycling.** A new listener's buffers are allocated zeroed: a 256 KiB send buffer costs
//! ~20,000 guest instructions of `memset`, which made it the largest single cost of a
//! connection. A regular connection's socket that closed (CLOSED or TIME-WAIT) is therefore
//! kept, up to [`RECYCLED_SOCKETS_MAX`], and the next listener of the same buffer sizes is
//! that socket listening again: smoltcp's `listen` resets every piece of connection state and
//! empties both ring buffers (their old bytes are never read: a ring only yields what was
//! written into it since). The kept sockets are dropped when memory runs short, and a kept
//! socket larger than the sizes the heap allows now is dropped instead of reused.

use alloc::vec::Vec;

use log::warn;
use smoltcp::iface::SocketHandle;
use smoltcp::socket::tcp;
use smoltcp::wire::IpListenEndpoint;

use super::config::ServerConfig;
use super::pump::{SocketPhase, SocketRole, SocketSlot};
use super::server::HttpServer;

/// Heap kept free besides a new socket's buffers: room for the connection state, request
/// buffers and responses of the connections already open.
pub const MEMORY_RESERVE_BYTES: usize = 256 * 1024;

/// Buffer size, each way, of a socket on the overflow listener: enough for a request head's
/// first segment and the `503` response.
pub(super) const OVERFLOW_BUFFER_BYTES: usize = 2048;

/// Heap a connection holds besides its socket buffers, counted in the floor every remaining
/// connection slot is guaranteed: smoltcp's socket, the [`crate::http::connection::Connection`]
/// and its slot (about 1.5 KiB together), and room for a typical request head in the input
/// buffer.
pub const CONNECTION_STATE_BYTES: usize = 4 * 1024;

/// A new connection's send buffer gets the floor plus this fraction (1/N) of the heap beyond
/// every remaining slot's floor, up to [`ServerConfig::tcp_tx_buffer_bytes`]: while memory is
/// plentiful each connection gets the full window, and as connections fill the heap the
/// windows shrink toward the floor instead of the last connections finding nothing.
const SURPLUS_SHARE_DIVISOR: usize = 32;

/// Free heap below which connections stop reading request bytes from their sockets (the bytes
/// wait in the socket's receive buffer, already allocated, and TCP flow control holds the
/// client), so that input buffers cannot grow the heap dry; reading resumes when connections
/// close and memory is back.
pub const READ_PAUSE_FREE_BYTES: usize = MEMORY_RESERVE_BYTES / 2;

/// Free heap changes smaller than this do not make the listeners be looked at again: each
/// request allocates and frees a little, and every memory threshold is a multiple of 8 KiB.
const FREE_MEMORY_QUANTUM_BYTES: usize = 4096;

/// What the listener decisions depend on (see [`HttpServer::replenish_listeners`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ListenerInputs {
    regular_in_use: usize,
    overflow_in_use: usize,
    listener_count: usize,
    free_memory_quanta: Option<usize>,
    spare_blocked: bool,
}

/// Most closed sockets kept for reuse as listeners (see "Recycling" above).
pub(super) const RECYCLED_SOCKETS_MAX: usize = 4;

/// Shortest time between two warnings about allocations refused for want of memory, in
/// microseconds: a flood must not flood the console too.
const MEMORY_WARNING_INTERVAL_US: u64 = 1_000_000;

impl HttpServer {
    /// Logs `what` (an allocation the heap could not give, which the server refused instead of
    /// failing) at most once a second, with how many such refusals came since the last line.
    pub(super) fn warn_memory(&mut self, now_us: u64, what: core::fmt::Arguments<'_>) {
        self.memory_refusals_unreported += 1;
        if self
            .memory_warned_at_us
            .is_some_and(|warned_us| now_us < warned_us.saturating_add(MEMORY_WARNING_INTERVAL_US))
        {
            return;
        }
        warn!(
            "net: {what}; refused ({} such refusals since the last report, {} connections open)",
            self.memory_refusals_unreported,
            self.buckets.socket_count()
        );
        self.memory_warned_at_us = Some(now_us);
        self.memory_refusals_unreported = 0;
    }

    /// The send buffer for a new regular listener given the free heap (`None`: unknown), or
    /// `None` when even the floor does not fit: the receive buffer,
    /// [`ServerConfig::TCP_TX_BUFFER_MIN_BYTES`] and [`CONNECTION_STATE_BYTES`], for this socket
    /// and every other slot still free below `max_connections`, plus [`MEMORY_RESERVE_BYTES`].
    fn regular_send_buffer_bytes(&self, free_memory: Option<usize>) -> Option<usize> {
        let maximum = self.config.tcp_tx_buffer_bytes;
        let minimum = ServerConfig::TCP_TX_BUFFER_MIN_BYTES.min(maximum);
        let Some(free) = free_memory else {
            return Some(maximum);
        };
        let floor = self.connection_floor_bytes();
        if free < floor.saturating_add(MEMORY_RESERVE_BYTES) {
            return None;
        }
        let slots_free = self
            .config
            .max_connections
            .saturating_sub(self.buckets.regular_count)
            .max(1);
        let guaranteed = floor
            .saturating_mul(slots_free)
            .saturating_add(MEMORY_RESERVE_BYTES);
        let share = free.saturating_sub(guaranteed) / SURPLUS_SHARE_DIVISOR;
        Some((minimum.saturating_add(share) & !1023).clamp(minimum, maximum))
    }

    /// What every connection slot is guaranteed: the receive buffer,
    /// [`ServerConfig::TCP_TX_BUFFER_MIN_BYTES`] and [`CONNECTION_STATE_BYTES`].
    fn connection_floor_bytes(&self) -> usize {
        self.config
            .tcp_rx_buffer_bytes
            .saturating_add(
                ServerConfig::TCP_TX_BUFFER_MIN_BYTES.min(self.config.tcp_tx_buffer_bytes),
            )
            .saturating_add(CONNECTION_STATE_BYTES)
    }

    /// Keeps `listen_backlog` regular listeners while below `max_connections` and memory allows,
    /// never more than the connections still allowed, or one overflow listener at the limit.
    /// Returns whether any socket now listens on the HTTP port.
    ///
    /// The poll loop asks several times per round; when nothing it decides on has changed since
    /// the last answer (the connection counts, the listeners, the free heap to within
    /// [`FREE_MEMORY_QUANTUM_BYTES`], whether a spare is blocked), the last answer stands,
    /// unless that answer met a refused allocation.
    pub(super) fn replenish_listeners(&mut self, now_us: u64) -> bool {
        let inputs = self.listener_inputs(now_us);
        if let Some((last_inputs, listening)) = self.last_listener_inputs
            && last_inputs == inputs
        {
            return listening;
        }
        let failures_before = self.statistics.socket_buffer_allocation_failures;
        let listening = self.replenish_listeners_now(now_us);
        // A refused allocation is tried again at the next call: the heap may have the block by
        // then even though the free count did not move.
        self.last_listener_inputs = (self.statistics.socket_buffer_allocation_failures
            == failures_before)
            .then(|| (self.listener_inputs(now_us), listening));
        listening
    }

    /// What [`Self::replenish_listeners`] decides on.
    fn listener_inputs(&self, now_us: u64) -> ListenerInputs {
        ListenerInputs {
            regular_in_use: self.buckets.active_regular_count(),
            overflow_in_use: self.buckets.overflow_count,
            listener_count: self.listeners.len(),
            free_memory_quanta: self
                .config
                .free_memory_bytes
                .map(|free| free() / FREE_MEMORY_QUANTUM_BYTES),
            spare_blocked: now_us < self.buckets.spare_blocked_until_us,
        }
    }

    fn replenish_listeners_now(&mut self, now_us: u64) -> bool {
        let regular_in_use = self.buckets.active_regular_count();
        let overflow_in_use = self.buckets.overflow_count;
        // The kept sockets' buffers are not counted as free: a shortage drops them (below),
        // which gives the memory back, and the sizes that follow from the shortage apply.
        let free_memory = self.config.free_memory_bytes.map(|free| free());
        let send_buffer_bytes = self.regular_send_buffer_bytes(free_memory);
        self.short_of_memory = send_buffer_bytes.is_none();
        if self.short_of_memory {
            self.recycled_sockets.clear();
        }
        let capacity = match send_buffer_bytes {
            Some(_) => self.config.max_connections.saturating_sub(regular_in_use),
            // Out of memory for more connections: as if the limit were reached.
            None => 0,
        };
        // At the limit one spare listener stays: the connection it takes closes a reusable one
        // (`reclaim_one`), as nginx reuses connections, unless the last search found none. When
        // it is memory that ran short, the spare gets the floor's buffers out of the reserve
        // (half of which stays untouched), and the connection it closes gives them back.
        let spare_fits = send_buffer_bytes.is_some()
            || free_memory.is_some_and(|free| {
                free >= self
                    .connection_floor_bytes()
                    .saturating_add(MEMORY_RESERVE_BYTES / 2)
            });
        let spare = usize::from(
            capacity == 0 && spare_fits && now_us >= self.buckets.spare_blocked_until_us,
        );
        let wanted = self.config.listen_backlog.max(1).min(capacity.max(spare));
        // More regular listeners than connections allowed (the limit is near, or memory is
        // short): the extra ones close, so that the SYNs go to the overflow listener and the
        // limit holds.
        let mut regular_listening = 0usize;
        let mut overflow_listener: Option<SocketHandle> = None;
        let mut index = 0;
        while index < self.listeners.len() {
            let slot = &self.listeners[index];
            match slot.role {
                SocketRole::Regular if regular_listening >= wanted => {
                    self.sockets.remove(slot.handle);
                    self.listeners.swap_remove(index);
                    continue;
                }
                SocketRole::Regular => regular_listening += 1,
                SocketRole::Overflow => overflow_listener = Some(slot.handle),
            }
            index += 1;
        }
        while regular_listening < wanted {
            let tx_bytes = send_buffer_bytes.unwrap_or(ServerConfig::TCP_TX_BUFFER_MIN_BYTES);
            let rx_bytes = self.config.tcp_rx_buffer_bytes;
            // The free heap may be in holes too small for the window the count allows: then the
            // floor's send buffer, which every connection is guaranteed anyway.
            let minimum_tx_bytes = ServerConfig::TCP_TX_BUFFER_MIN_BYTES.min(tx_bytes);
            let added = self.add_listener(SocketRole::Regular, rx_bytes, tx_bytes, now_us)
                || (minimum_tx_bytes < tx_bytes
                    && self.add_listener(SocketRole::Regular, rx_bytes, minimum_tx_bytes, now_us));
            if !added {
                self.short_of_memory = true;
                return regular_listening > 0 || overflow_listener.is_some();
            }
            regular_listening += 1;
        }
        let fits_overflow = free_memory.is_none_or(|free| {
            free >= (2 * OVERFLOW_BUFFER_BYTES + CONNECTION_STATE_BYTES)
                .saturating_add(MEMORY_RESERVE_BYTES)
        });
        let overflow_wanted = capacity.max(spare) == 0
            && overflow_in_use < self.config.overflow_connections_max
            && fits_overflow;
        let overflow_listening = match (overflow_wanted, overflow_listener) {
            (true, None) => self.add_listener(
                SocketRole::Overflow,
                OVERFLOW_BUFFER_BYTES,
                OVERFLOW_BUFFER_BYTES,
                now_us,
            ),
            (false, Some(handle)) => {
                // Capacity is back: the overflow listener must not take connections a regular
                // one could serve (smoltcp gives a SYN to the first listener that matches).
                self.sockets.remove(handle);
                self.listeners.retain(|slot| slot.handle != handle);
                false
            }
            (true, Some(_)) => true,
            (false, None) => false,
        };
        regular_listening > 0 || overflow_listening
    }

    /// Adds a listening socket with buffers of `rx_bytes` and `tx_bytes`; returns whether it
    /// listens. When the heap cannot give the buffers (the free memory is in holes too small),
    /// no socket is made: counted in [`ServerStatistics::socket_buffer_allocation_failures`]
    /// and logged at most once a second.
    ///
    /// [`ServerStatistics::socket_buffer_allocation_failures`]:
    ///     super::ServerStatistics::socket_buffer_allocation_failures
    fn add_listener(
        &mut self,
        role: SocketRole,
        rx_bytes: usize,
        tx_bytes: usize,
        now_us: u64,
    ) -> bool {
        if role == SocketRole::Regular && self.listen_recycled(rx_bytes, tx_bytes) {
            return true;
        }
        let buffers = zeroed_buffer(rx_bytes).zip(zeroed_buffer(tx_bytes));
        let Some((rx_buffer, tx_buffer)) = buffers else {
            self.statistics.socket_buffer_allocation_failures += 1;
            self.warn_memory(
                now_us,
                format_args!(
                    "no room in the heap for socket buffers of {rx_bytes} + {tx_bytes} bytes"
                ),
            );
            return false;
        };
        let mut socket = tcp::Socket::new(
            tcp::SocketBuffer::new(rx_buffer),
            tcp::SocketBuffer::new(tx_buffer),
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
        if let Err(error) = socket.listen(self.listen_endpoint()) {
            warn!(
                "net: cannot listen on port {}: {error:?}",
                self.config.http_port
            );
            return false;
        }
        self.push_listener(socket, role);
        true
    }

    /// Makes a kept socket with buffers of `rx_bytes` and at most `tx_bytes` (and at least the
    /// floor) listen, if there is one; drops kept sockets of other sizes (the sizes the heap
    /// allows have moved). Returns whether a listener was added.
    fn listen_recycled(&mut self, rx_bytes: usize, tx_bytes: usize) -> bool {
        let minimum_tx_bytes = ServerConfig::TCP_TX_BUFFER_MIN_BYTES.min(tx_bytes);
        while let Some(mut socket) = self.recycled_sockets.pop() {
            let fits = socket.recv_capacity() == rx_bytes
                && (minimum_tx_bytes..=tx_bytes).contains(&socket.send_capacity());
            if fits && socket.listen(self.listen_endpoint()).is_ok() {
                self.push_listener(socket, SocketRole::Regular);
                self.statistics.sockets_reused += 1;
                return true;
            }
        }
        false
    }

    /// The endpoint every listener listens on: the HTTP port on any of our addresses.
    fn listen_endpoint(&self) -> IpListenEndpoint {
        IpListenEndpoint {
            addr: None,
            port: self.config.http_port,
        }
    }

    /// Files a listening socket in the socket set and the listener list.
    fn push_listener(&mut self, socket: tcp::Socket<'static>, role: SocketRole) {
        let handle = self.sockets.add(socket);
        self.listeners.push(SocketSlot {
            handle,
            role,
            phase: SocketPhase::Listening,
            peer: None,
            local: None,
            reclaimed: false,
            due: true,
            deadline_us: u64::MAX,
        });
    }
}

/// A buffer of `bytes` zeros, or `None` when the heap cannot give it: the allocator's failure is
/// an answer here, not a panic (`Vec::try_reserve_exact`).
pub(super) fn zeroed_buffer(bytes: usize) -> Option<Vec<u8>> {
    let mut buffer = Vec::new();
    buffer.try_reserve_exact(bytes).ok()?;
    buffer.resize(bytes, 0);
    Some(buffer)
}
