//! The listener pool: smoltcp has no accept queue, so the server keeps
//! [`ServerConfig::listen_backlog`] sockets listening and replaces each one as soon as a SYN takes
//! it, below [`ServerConfig::max_connections`]; at the limit, or when the heap cannot hold another
//! socket's buffers, one small overflow listener answers `503` (see "Accepting connections" in
//! the [module documentation](super)).

use alloc::vec;

use log::warn;
use smoltcp::iface::SocketHandle;
use smoltcp::socket::tcp;
use smoltcp::wire::IpListenEndpoint;

#[cfg(doc)]
use super::config::ServerConfig;
use super::pump::{SocketPhase, SocketRole, SocketSlot};
use super::server::HttpServer;

/// Heap kept free besides a new socket's buffers: room for the connection state, request
/// buffers and responses of the connections already open.
pub const MEMORY_RESERVE_BYTES: usize = 256 * 1024;

/// Buffer size, each way, of a socket on the overflow listener: enough for a request head's
/// first segment and the `503` response.
pub(super) const OVERFLOW_BUFFER_BYTES: usize = 2048;

impl HttpServer {
    /// Keeps `listen_backlog` regular listeners while below `max_connections`, or one overflow
    /// listener at the limit. Returns whether any socket now listens on the HTTP port.
    pub(super) fn replenish_listeners(&mut self) -> bool {
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
}
