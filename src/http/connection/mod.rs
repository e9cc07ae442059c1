//! The per-connection HTTP/1.1 state machine: bytes in, responses out, time as a parameter.
//!
//! [`Connection`] does no I/O. The network loop (`crate::net`) hands it the bytes a TCP socket
//! received ([`Connection::receive`]), lets it copy its output straight into the socket's send
//! buffer ([`Connection::transmit`]), tells it how much the socket still holds
//! ([`Connection::set_transport_backlog`]), and asks it when it next needs attention
//! ([`Connection::next_deadline_us`], [`Connection::poll_timers`]). Everything the connection
//! decides — keep the connection, close it after the last response, reset it — is read back from
//! [`Connection::disposition`].
//!
//! What it implements:
//! - **Pipelining** (RFC 9112 §9.3.2): every complete request in the buffer is parsed and answered;
//!   responses leave strictly in request order.
//! - **Bounded memory**: the input buffer holds at most one request head (request line plus header
//!   section, as [`Limits`] allows); at most [`MAX_QUEUED_RESPONSES`] responses wait to be sent.
//!   Beyond either, [`Connection::receive`] consumes fewer bytes, so TCP flow control pushes back
//!   on the client.
//! - **Request bodies**: a body announced by `Content-Length` (RFC 9112 §6.2) up to
//!   [`Limits::discard_body_max_bytes`] is read and discarded, so the next request on the
//!   connection is framed correctly; a larger one gets `413 Content Too Large` and the connection
//!   is closed (RFC 9110 §15.5.14). A chunked body (RFC 9112 §7.1) is decoded as it arrives by a
//!   [`ChunkedDecoder`] (nothing of it is stored) and discarded the same way, with the same limit
//!   on the sum of its chunk sizes; its response is held until the body has ended, because only
//!   then is it known whether the framing was valid: a malformed body is answered `400` alone
//!   (`413` over the limit, `431` for too large a trailer section) and the connection closes
//!   (RFC 9112 §11.2: its end cannot be found, so nothing after it can be trusted). A client that
//!   sent `Expect: 100-continue` gets `100 Continue` ahead of the final response, so it sends the
//!   body it announced (RFC 9110 §10.1.1).
//! - **Persistence** (RFC 9112 §9.3, §9.6): a response marked `close_after` is the last one; the
//!   connection stops reading, sends it, then reports [`Disposition::Close`].
//! - **Time limits** ([`ConnectionTimeouts`], the nginx `client_header_timeout`,
//!   `keepalive_timeout` and `send_timeout`): an incomplete request head gets `408 Request Timeout`
//!   and the connection closes; an idle persistent connection closes silently; a client that stops
//!   reading is reset.
//!
//! Time is in microseconds since an arbitrary epoch (the server passes smoltcp's `Instant`), so the
//! access log can measure how long a response took to hand over; the timeouts are configured in
//! milliseconds.
//!
//! The code is split by side: `input` reads and parses request heads and discards bodies,
//! `output` queues responses and copies them into the transport, `timers` applies the time limits,
//! and `status` builds the two responses this layer produces itself (`408`, `503`).

use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;

use super::chunked::ChunkedDecoder;
use super::date::HttpDate;
use super::{Limits, PreparedHeads, Response, ResponseSettings};
use crate::site::Site;

mod input;
mod output;
mod status;
mod timers;

use output::Outgoing;
pub use timers::{ConnectionTimeouts, TimeoutEvent};

/// Most responses queued on one connection before it stops reading further requests. An interim
/// `100 Continue` sent while a chunked body is read (its final response waits for the body's end)
/// is not counted, so the queue may hold one entry more.
///
/// A pipelining client gets flow control instead of unbounded memory use: responses to static
/// files are cheap (a head and a slice), but a client could otherwise queue thousands of them.
pub const MAX_QUEUED_RESPONSES: usize = 16;

/// Bound on the input buffer of a refusing connection ([`Connection::new_refusing`]): enough for
/// a typical request head, whose method tells whether the `503` carries content (HEAD). A longer
/// head is answered the same `503` once this much of it is in, so that the overflow connections
/// cannot hold a full-size head buffer each.
pub const REFUSING_INPUT_MAX_BYTES: usize = 2048;

/// What a response needs besides the request: the site, the response settings and the time of
/// day (for `Date`), borrowed from the server for one call.
#[derive(Debug, Clone, Copy)]
pub struct ResponseContext<'a> {
    /// The site being served.
    pub site: &'a Site,
    /// Settings shaping every response.
    pub settings: &'a ResponseSettings,
    /// Seconds since the Unix epoch, if the clock is known (no `Date` header otherwise,
    /// RFC 9110 §6.6.1 allows this for a server without a clock).
    pub now_unix_s: Option<u64>,
    /// The heads prepared for `site` and `settings`, if the server made them.
    pub prepared: Option<&'a PreparedHeads>,
}

impl ResponseContext<'_> {
    /// The `Date` of a response made now (formatted once per second with a prepared table).
    pub(super) fn date(&self) -> Option<HttpDate> {
        super::prepared::response_date(self.now_unix_s, self.prepared)
    }
}

/// What the network loop should do with the connection's socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Keep the connection: read, write, wait.
    Open,
    /// All output has been handed over; close the socket gracefully (FIN after the send buffer).
    Close,
    /// Drop the connection at once (TCP RST): the client stopped reading.
    Abort,
}

/// One answered request, for the access log: kept only when the log is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// Method and target as received (`GET /index.html`), truncated and with control bytes
    /// replaced, or a description of the error for requests that could not be parsed.
    pub request: String,
    /// Status code of the response.
    pub status: u16,
    /// Bytes of the response: head plus body.
    pub response_bytes: u64,
    /// When the request was parsed, in microseconds.
    pub parsed_at_us: u64,
    /// When the last byte of the response was handed to the transport, in microseconds.
    pub sent_at_us: u64,
}

/// Where reading the client's byte stream stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum InputState {
    /// Reading a request head.
    Head,
    /// Reading and discarding this many more bytes of a request body.
    DiscardingBody { remaining_bytes: u64 },
    /// Decoding and discarding a chunked request body; its response waits in
    /// [`Connection::held_response`].
    ChunkedBody(ChunkedDecoder),
    /// No more requests will be read: the last response is queued, or the client closed its
    /// half of the connection. Further input is discarded.
    Ended,
}

/// The state of one HTTP/1.x connection (see the module documentation).
#[derive(Debug)]
pub struct Connection {
    limits: Limits,
    timeouts: ConnectionTimeouts,
    /// Unparsed bytes: at most one request head (plus whatever pipelined bytes fit).
    input: Vec<u8>,
    /// Bound on `input`: the largest request head the limits allow.
    input_capacity: usize,
    input_state: InputState,
    /// Responses in request order; the front one is being sent.
    outgoing: VecDeque<Outgoing>,
    /// The response to a request whose chunked body is being read, with its access-log
    /// description: queued once the body has ended, dropped if the body turns out malformed.
    held_response: Option<(Response, String)>,
    /// Start of the current request-head (or body) clock; `None` while idle, ended or blocked.
    request_started_us: Option<u64>,
    /// Parsing is paused because [`MAX_QUEUED_RESPONSES`] responses wait; the request clock is
    /// stopped meanwhile, since the delay is ours, not the client's.
    blocked_on_output: bool,
    /// Last time bytes came in or went out (keep-alive idle clock).
    last_activity_us: u64,
    /// Last time output made progress, or became pending (send-stall clock).
    last_output_progress_us: u64,
    /// What the last parse of the incomplete head at the front of `input` found, if that is
    /// still what `input` holds (see [`input::PartialHead`]).
    partial_head: Option<input::PartialHead>,
    /// Bytes the transport still holds (unsent or unacknowledged), as last reported.
    transport_backlog_bytes: usize,
    /// Output bytes moved (handed over or acknowledged) since the send-stall clock last moved;
    /// it moves only once these reach [`output::MINIMUM_SEND_PROGRESS_BYTES`].
    output_progress_bytes: usize,
    /// Abort decided (send stall).
    aborted: bool,
    /// The client closed its sending half (TCP FIN): what `input` holds is all that will come.
    peer_closed: bool,
    /// Every request is answered with `503 Service Unavailable` (the server is at its limit).
    refusing: bool,
    /// Keep [`RequestRecord`]s for the access log.
    access_log: bool,
    finished_records: Vec<RequestRecord>,
    /// Requests answered (responses queued) over the connection's life.
    requests_answered: u64,
    /// Bytes handed to the transport over the connection's life.
    bytes_transmitted: u64,
    /// Times the input buffer could not grow because the heap could not give the room.
    input_allocation_failures: u64,
    /// The server's heap is nearly exhausted ([`Connection::set_memory_short`]).
    memory_short: bool,
}

impl Connection {
    /// A new connection opened at `now_us`. The first request head must arrive within
    /// [`ConnectionTimeouts::request_head_ms`].
    pub fn new(
        now_us: u64,
        limits: Limits,
        timeouts: ConnectionTimeouts,
        access_log: bool,
    ) -> Self {
        // The request line and the header section are limited separately; a buffer of their sum
        // (plus the final CRLF) holds any head the parser would accept.
        let input_capacity = limits
            .request_line_max_bytes
            .saturating_add(limits.header_section_max_bytes)
            .saturating_add(4);
        Connection {
            limits,
            timeouts,
            input: Vec::new(),
            input_capacity,
            input_state: InputState::Head,
            outgoing: VecDeque::new(),
            held_response: None,
            request_started_us: Some(now_us),
            blocked_on_output: false,
            last_activity_us: now_us,
            last_output_progress_us: now_us,
            partial_head: None,
            transport_backlog_bytes: 0,
            output_progress_bytes: 0,
            aborted: false,
            peer_closed: false,
            refusing: false,
            access_log,
            finished_records: Vec::new(),
            requests_answered: 0,
            bytes_transmitted: 0,
            input_allocation_failures: 0,
            memory_short: false,
        }
    }

    /// A connection accepted while the server is at its connection limit: it reads one request
    /// head (at most [`REFUSING_INPUT_MAX_BYTES`] of it) and answers `503 Service Unavailable`
    /// with `Retry-After: 1`, then closes (RFC 9110 §15.6.4, §10.2.3). If the head does not
    /// arrive within the request-head timeout, it answers the same `503` (not `408`) and closes.
    pub fn new_refusing(
        now_us: u64,
        limits: Limits,
        timeouts: ConnectionTimeouts,
        access_log: bool,
    ) -> Self {
        let mut connection = Connection::new(now_us, limits, timeouts, access_log);
        connection.refusing = true;
        connection.input_capacity = connection.input_capacity.min(REFUSING_INPUT_MAX_BYTES);
        connection
    }

    /// What the server should do with the socket now.
    pub fn disposition(&self) -> Disposition {
        if self.aborted {
            Disposition::Abort
        } else if self.input_state == InputState::Ended && self.outgoing.is_empty() {
            Disposition::Close
        } else {
            Disposition::Open
        }
    }

    /// Whether this is an idle persistent connection: at least one request answered, none in
    /// progress, nothing left to send. Such a connection may be closed at any time (RFC 9112
    /// §9.3); the server does so to make room when it is at its connection limit.
    pub fn is_idle_keep_alive(&self) -> bool {
        self.requests_answered > 0 && self.is_idle()
    }

    /// Closes an idle persistent connection now, as its idle timer would: the disposition
    /// becomes [`Disposition::Close`]. Does nothing unless [`Connection::is_idle_keep_alive`].
    pub fn close_if_idle(&mut self) {
        if self.is_idle_keep_alive() {
            self.end_input();
        }
    }

    /// Whether no request head has been completed on this connection yet: nothing answered and
    /// nothing being answered (a client that connected and sent nothing, or part of a head).
    pub fn awaits_first_request(&self) -> bool {
        self.requests_answered == 0
            && self.input_state == InputState::Head
            && !self.output_pending()
    }

    /// When the connection last moved bytes (or was accepted), in microseconds.
    pub fn last_activity_us(&self) -> u64 {
        self.last_activity_us
    }

    /// Closes the connection to make room for a new client at the connection limit, as nginx
    /// reuses connections: only when it is idle between requests
    /// ([`Connection::is_idle_keep_alive`]) or has not completed its first request head
    /// ([`Connection::awaits_first_request`]); RFC 9112 §9.6 lets a server close a connection
    /// at any time, and a client whose request never started has nothing to lose but the
    /// connection. The disposition becomes [`Disposition::Close`]; returns whether it did.
    pub fn close_to_make_room(&mut self) -> bool {
        let reusable = self.is_idle_keep_alive() || self.awaits_first_request();
        if reusable {
            self.end_input();
        }
        reusable
    }

    /// Takes the access-log records of responses completed since the last call.
    pub fn take_records(&mut self) -> Vec<RequestRecord> {
        core::mem::take(&mut self.finished_records)
    }

    /// Requests answered so far (responses queued, including error responses).
    pub fn requests_answered(&self) -> u64 {
        self.requests_answered
    }

    /// Bytes handed to the transport so far.
    pub fn bytes_transmitted(&self) -> u64 {
        self.bytes_transmitted
    }

    /// Times so far that received bytes were left with the transport because the heap could
    /// not give the input buffer room for them.
    pub fn input_allocation_failures(&self) -> u64 {
        self.input_allocation_failures
    }

    /// Tells the connection whether the server's heap is nearly exhausted. While it is, a
    /// request-head timeout closes the connection without the `408` (or, refusing, `503`) the
    /// connection layer would build: RFC 9110 §15.5.9 makes that response a courtesy, and a
    /// crowd of heads timing out together (slowloris) must not spend the last of the heap on
    /// them.
    pub fn set_memory_short(&mut self, short: bool) {
        self.memory_short = short;
    }

    /// Bytes waiting in the input buffer (unparsed request bytes); at most
    /// [`Connection::input_capacity_bytes`].
    pub fn buffered_input_bytes(&self) -> usize {
        self.input.len()
    }

    /// The bound on the input buffer: the largest request head the limits allow.
    pub fn input_capacity_bytes(&self) -> usize {
        self.input_capacity
    }

    /// Responses waiting to be sent (the one being sent included); at most
    /// [`MAX_QUEUED_RESPONSES`], plus one interim `100 Continue`.
    pub fn queued_responses(&self) -> usize {
        self.outgoing.len()
    }

    /// Between requests on a persistent connection, with nothing to send.
    fn is_idle(&self) -> bool {
        self.input_state == InputState::Head
            && self.input.is_empty()
            && self.request_started_us.is_none()
            && !self.output_pending()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
