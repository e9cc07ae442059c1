//! The time limits of a connection: request head, keep-alive idle and send stall.

use alloc::string::String;

use super::status::{Status, status_response};
use super::{Connection, Disposition, InputState, ResponseContext};

/// The time limits of one connection, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionTimeouts {
    /// A request head must be complete this long after its first byte, or after the connection
    /// was opened for the first request; otherwise `408 Request Timeout` and close (nginx
    /// `client_header_timeout`, default 60 s; 10 s here, as the hardening notes ask). The same
    /// limit applies to reading a request body that is being discarded.
    pub request_head_ms: u64,
    /// A persistent connection with no request in progress and nothing left to send is closed
    /// silently after this long (nginx `keepalive_timeout`, default 75 s).
    pub keep_alive_idle_ms: u64,
    /// A connection that has output waiting but made no sending progress for this long — the
    /// client stopped reading — is reset (nginx `send_timeout`, default 60 s).
    pub send_stall_ms: u64,
}

impl Default for ConnectionTimeouts {
    fn default() -> Self {
        ConnectionTimeouts {
            request_head_ms: 10_000,
            keep_alive_idle_ms: 75_000,
            send_stall_ms: 30_000,
        }
    }
}

/// A time limit that expired, reported by [`Connection::poll_timers`] so the server can log it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeoutEvent {
    /// The request head (or a discarded body) did not arrive in time; a `408` is queued.
    RequestHead,
    /// The persistent connection stayed idle too long; it is closed silently.
    KeepAliveIdle,
    /// The client read nothing for too long; the connection is aborted.
    SendStall,
}

impl Connection {
    /// The earliest time (µs) at which [`Connection::poll_timers`] has something to do, or `None`
    /// if no timer runs (the connection waits for the network only).
    pub fn next_deadline_us(&self) -> Option<u64> {
        if self.disposition() != Disposition::Open {
            return None;
        }
        let mut deadline: Option<u64> = None;
        let mut consider = |candidate: u64| {
            deadline = Some(deadline.map_or(candidate, |current| current.min(candidate)));
        };
        if let Some(started_us) = self.request_started_us {
            consider(started_us.saturating_add(self.timeouts.request_head_ms.saturating_mul(1000)));
        }
        if self.output_pending() {
            consider(
                self.last_output_progress_us
                    .saturating_add(self.timeouts.send_stall_ms.saturating_mul(1000)),
            );
        } else if self.is_idle() {
            consider(
                self.last_activity_us
                    .saturating_add(self.timeouts.keep_alive_idle_ms.saturating_mul(1000)),
            );
        }
        deadline
    }

    /// Applies the time limits at `now_us`; returns the limit that expired, if any. A request
    /// head timeout queues `408 Request Timeout` (then close); an idle timeout closes; a send
    /// stall aborts.
    pub fn poll_timers(
        &mut self,
        now_us: u64,
        context: &ResponseContext<'_>,
    ) -> Option<TimeoutEvent> {
        if self.disposition() != Disposition::Open {
            return None;
        }
        let expired = |since_us: u64, limit_ms: u64| {
            now_us >= since_us.saturating_add(limit_ms.saturating_mul(1000))
        };
        if self.output_pending()
            && expired(self.last_output_progress_us, self.timeouts.send_stall_ms)
        {
            self.aborted = true;
            self.outgoing.clear();
            return Some(TimeoutEvent::SendStall);
        }
        if let Some(started_us) = self.request_started_us
            && expired(started_us, self.timeouts.request_head_ms)
        {
            if self.memory_short {
                // No room for a response: close without one (see `set_memory_short`).
                self.end_input();
                return Some(TimeoutEvent::RequestHead);
            }
            // RFC 9110 §15.5.9: 408 tells the client the server closes rather than keep waiting.
            // A refusing connection answers 503 regardless (§15.6.4): the client is not slow,
            // the server is full, and `Retry-After` says when to come back.
            let (status, description) = if self.refusing {
                (Status::ServiceUnavailable, "(over the connection limit)")
            } else {
                (Status::RequestTimeout, "(request head timeout)")
            };
            let response = status_response(status, false, context);
            let description = String::from(description);
            self.queue_final(response, description, now_us);
            return Some(TimeoutEvent::RequestHead);
        }
        if self.is_idle() && expired(self.last_activity_us, self.timeouts.keep_alive_idle_ms) {
            self.input_state = InputState::Ended;
            return Some(TimeoutEvent::KeepAliveIdle);
        }
        None
    }
}
