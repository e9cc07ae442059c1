//! The per-connection HTTP/1.1 state machine: bytes in, responses out, time as a parameter.
//!
//! [`Connection`] does no I/O. The network loop (`crate::server`) hands it the bytes a TCP socket
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
//!   is closed (RFC 9110 §15.5.14). A client that sent `Expect: 100-continue` gets `100 Continue`
//!   ahead of the final response, so it sends the body it announced (RFC 9110 §10.1.1).
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

use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write as _;

use super::{
    Body, BodyPart, Limits, Method, ParseOutcome, Request, RequestError, Response,
    ResponseSettings, Target, format_http_date,
};
use crate::site::Site;

/// Most responses queued on one connection before it stops reading further requests.
///
/// A pipelining client gets flow control instead of unbounded memory use: responses to static
/// files are cheap (a head and a slice), but a client could otherwise queue thousands of them.
pub const MAX_QUEUED_RESPONSES: usize = 16;

/// Input buffer capacity kept between requests; a larger buffer (grown by a large head) is freed.
const INPUT_RETAINED_BYTES: usize = 4096;

/// The interim response sent ahead of the final one to a client that expects it
/// (RFC 9110 §15.2.1, §10.1.1).
const CONTINUE_INTERIM_RESPONSE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// Longest request description kept for the access log (`GET /path`), in bytes.
const LOG_REQUEST_MAX_BYTES: usize = 200;

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
    /// No more requests will be read: the last response is queued, or the client closed its
    /// half of the connection. Further input is discarded.
    Ended,
}

/// A response waiting to be sent, with the position of the next byte to send.
#[derive(Debug)]
struct Outgoing {
    response: Response,
    /// Piece 0 is the head; pieces 1.. are the body pieces in order.
    piece_index: usize,
    /// Offset of the next byte within the current piece.
    piece_offset: usize,
    /// Access-log description and parse time, when the log is on.
    record: Option<(String, u64)>,
}

impl Outgoing {
    /// The bytes of piece `index`, or `None` past the last piece.
    fn piece(&self, index: usize) -> Option<&[u8]> {
        if index == 0 {
            return Some(&self.response.head);
        }
        match &self.response.body {
            Body::Empty => None,
            Body::Static(bytes) => (index == 1).then_some(*bytes),
            Body::Parts(parts) => parts.get(index - 1).map(|part| match part {
                BodyPart::Owned(bytes) => bytes.as_slice(),
                BodyPart::Static(bytes) => *bytes,
            }),
        }
    }

    /// Total bytes of head and body.
    fn total_bytes(&self) -> u64 {
        let mut total = 0u64;
        let mut index = 0;
        while let Some(piece) = self.piece(index) {
            total = total.saturating_add(piece.len() as u64);
            index += 1;
        }
        total
    }
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
    /// Start of the current request-head (or body) clock; `None` while idle, ended or blocked.
    request_started_us: Option<u64>,
    /// Parsing is paused because [`MAX_QUEUED_RESPONSES`] responses wait; the request clock is
    /// stopped meanwhile, since the delay is ours, not the client's.
    blocked_on_output: bool,
    /// Last time bytes came in or went out (keep-alive idle clock).
    last_activity_us: u64,
    /// Last time output made progress, or became pending (send-stall clock).
    last_output_progress_us: u64,
    /// Bytes the transport still holds (unsent or unacknowledged), as last reported.
    transport_backlog_bytes: usize,
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
            request_started_us: Some(now_us),
            blocked_on_output: false,
            last_activity_us: now_us,
            last_output_progress_us: now_us,
            transport_backlog_bytes: 0,
            aborted: false,
            peer_closed: false,
            refusing: false,
            access_log,
            finished_records: Vec::new(),
            requests_answered: 0,
            bytes_transmitted: 0,
        }
    }

    /// A connection accepted while the server is at its connection limit: it reads one request
    /// head and answers `503 Service Unavailable` with `Retry-After: 1`, then closes
    /// (RFC 9110 §15.6.4, §10.2.3). If the head does not arrive within the request-head
    /// timeout, it answers the same `503` (not `408`) and closes.
    pub fn new_refusing(
        now_us: u64,
        limits: Limits,
        timeouts: ConnectionTimeouts,
        access_log: bool,
    ) -> Self {
        let mut connection = Connection::new(now_us, limits, timeouts, access_log);
        connection.refusing = true;
        connection
    }

    /// Offers bytes received from the client; returns how many were consumed (fewer than offered
    /// when the connection pushes back: input buffer full or too many responses queued). Parses
    /// and answers every complete request. Call with an empty slice to resume parsing after
    /// output drained.
    pub fn receive(
        &mut self,
        incoming: &[u8],
        now_us: u64,
        context: &ResponseContext<'_>,
    ) -> usize {
        if !incoming.is_empty() {
            self.last_activity_us = now_us;
        }
        let mut consumed = 0usize;
        loop {
            self.process_buffered(now_us, context);
            let rest = incoming.get(consumed..).unwrap_or(&[]);
            if self.aborted || self.input_state == InputState::Ended {
                // Nothing more will be answered: swallow the rest so the client is not stalled
                // by a closed window while its last response goes out (a lingering close).
                self.input.clear();
                return incoming.len();
            }
            if rest.is_empty() {
                return consumed;
            }
            if let InputState::DiscardingBody { remaining_bytes } = self.input_state {
                // `process_buffered` emptied `input` first; discard straight from the offer.
                let discarded = usize::try_from(remaining_bytes)
                    .unwrap_or(usize::MAX)
                    .min(rest.len());
                consumed += discarded;
                self.input_state = InputState::DiscardingBody {
                    remaining_bytes: remaining_bytes - discarded as u64,
                };
                continue;
            }
            if self.outgoing.len() >= MAX_QUEUED_RESPONSES {
                return consumed;
            }
            let room = self.input_capacity.saturating_sub(self.input.len());
            if room == 0 {
                // `process_buffered` answers a full buffer with an error; be safe regardless.
                return consumed;
            }
            let taken = room.min(rest.len());
            self.input
                .extend_from_slice(rest.get(..taken).unwrap_or(&[]));
            consumed += taken;
            if self.request_started_us.is_none() && !self.blocked_on_output {
                self.request_started_us = Some(now_us);
            }
        }
    }

    /// The client closed its sending half (TCP FIN): no more requests will come. Complete
    /// requests still waiting in the input buffer (behind a full response queue) are answered
    /// as the queue drains — the FIN ends the requests, not the responses (RFC 9112 §9.6); a
    /// partial request is dropped. Then the connection closes.
    pub fn receive_closed(&mut self) {
        if self.input_state == InputState::Ended {
            return;
        }
        self.peer_closed = true;
        // Everything received has been parsed unless the response queue stopped the parser.
        let parsing_paused = self.outgoing.len() >= MAX_QUEUED_RESPONSES && !self.input.is_empty();
        if !parsing_paused {
            self.end_input();
        }
    }

    /// No more requests will be read.
    fn end_input(&mut self) {
        self.input_state = InputState::Ended;
        self.input.clear();
        self.request_started_us = None;
    }

    /// Copies the next output bytes (response heads and bodies, in order) into `out`; returns
    /// how many. File bodies are copied from the site straight into `out`.
    pub fn transmit(&mut self, out: &mut [u8], now_us: u64) -> usize {
        let mut written = 0usize;
        loop {
            // A response whose last byte was copied is retired at once, so the connection can
            // report `Close` without another call.
            self.retire_completed(now_us);
            let Some(destination) = out.get_mut(written..).filter(|rest| !rest.is_empty()) else {
                break;
            };
            let Some(front) = self.outgoing.front_mut() else {
                break;
            };
            let (count, piece_len) = match front.piece(front.piece_index) {
                Some(piece) => {
                    let remaining = piece.get(front.piece_offset..).unwrap_or(&[]);
                    let count = remaining.len().min(destination.len());
                    if let (Some(target), Some(source)) =
                        (destination.get_mut(..count), remaining.get(..count))
                    {
                        target.copy_from_slice(source);
                    }
                    (count, piece.len())
                }
                None => (0, 0),
            };
            written += count;
            front.piece_offset += count;
            if front.piece_offset >= piece_len {
                front.piece_index += 1;
                front.piece_offset = 0;
            }
        }
        if written > 0 {
            self.last_output_progress_us = now_us;
            self.last_activity_us = now_us;
            self.bytes_transmitted = self.bytes_transmitted.saturating_add(written as u64);
        }
        written
    }

    /// Reports how many bytes the transport still holds for this connection (unsent or not yet
    /// acknowledged). A shrinking backlog is sending progress; a client that keeps a zero window
    /// lets it grow old, and the send-stall limit applies.
    pub fn set_transport_backlog(&mut self, backlog_bytes: usize, now_us: u64) {
        if backlog_bytes < self.transport_backlog_bytes {
            self.last_output_progress_us = now_us;
            self.last_activity_us = now_us;
        } else if self.transport_backlog_bytes == 0 && backlog_bytes > 0 && self.outgoing.is_empty()
        {
            self.last_output_progress_us = now_us;
        }
        self.transport_backlog_bytes = backlog_bytes;
    }

    /// Whether the connection has response bytes it has not handed over yet.
    pub fn has_output(&self) -> bool {
        !self.outgoing.is_empty()
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

    /// Output is waiting here or in the transport.
    fn output_pending(&self) -> bool {
        !self.outgoing.is_empty() || self.transport_backlog_bytes > 0
    }

    /// Between requests on a persistent connection, with nothing to send.
    fn is_idle(&self) -> bool {
        self.input_state == InputState::Head
            && self.input.is_empty()
            && self.request_started_us.is_none()
            && !self.output_pending()
    }

    /// Pops responses whose every byte has been handed over, recording them for the log.
    fn retire_completed(&mut self, now_us: u64) {
        while let Some(front) = self.outgoing.front() {
            if front.piece(front.piece_index).is_some() {
                break;
            }
            let total_bytes = front.total_bytes();
            if let Some(finished) = self.outgoing.pop_front()
                && let Some((request, parsed_at_us)) = finished.record
            {
                self.finished_records.push(RequestRecord {
                    request,
                    status: finished.response.status,
                    response_bytes: total_bytes,
                    parsed_at_us,
                    sent_at_us: now_us,
                });
            }
        }
    }

    /// Queues a response after which nothing more is read.
    fn queue_final(&mut self, mut response: Response, description: String, now_us: u64) {
        response.close_after = true;
        self.input_state = InputState::Ended;
        self.input.clear();
        self.request_started_us = None;
        self.queue(response, description, now_us);
    }

    /// Queues a response in request order.
    fn queue(&mut self, response: Response, description: String, now_us: u64) {
        if !self.output_pending() {
            // The send-stall clock starts when there is something to send.
            self.last_output_progress_us = now_us;
        }
        self.requests_answered = self.requests_answered.saturating_add(1);
        let record = self.access_log.then_some((description, now_us));
        self.outgoing.push_back(Outgoing {
            response,
            piece_index: 0,
            piece_offset: 0,
            record,
        });
    }

    /// Parses and answers what the input buffer holds, as far as the queue allows.
    fn process_buffered(&mut self, now_us: u64, context: &ResponseContext<'_>) {
        loop {
            match self.input_state {
                InputState::Ended => {
                    self.input.clear();
                    return;
                }
                InputState::DiscardingBody { remaining_bytes } => {
                    let discarded = usize::try_from(remaining_bytes)
                        .unwrap_or(usize::MAX)
                        .min(self.input.len());
                    self.input.drain(..discarded);
                    let remaining_bytes = remaining_bytes - discarded as u64;
                    if remaining_bytes > 0 {
                        self.input_state = InputState::DiscardingBody { remaining_bytes };
                        if self.peer_closed {
                            // The rest of the body will never come.
                            self.end_input();
                        }
                        return;
                    }
                    self.input_state = InputState::Head;
                    self.request_started_us = (!self.input.is_empty()).then_some(now_us);
                }
                InputState::Head => {
                    if self.input.is_empty() {
                        if self.peer_closed {
                            self.end_input();
                        }
                        // A large head grew the buffer; do not keep that much per idle
                        // connection.
                        if self.input.capacity() > INPUT_RETAINED_BYTES {
                            self.input = Vec::new();
                        }
                        return;
                    }
                    if self.outgoing.len() >= MAX_QUEUED_RESPONSES {
                        // Stop the request clock: the client is waiting for us, not we for it.
                        self.blocked_on_output = true;
                        self.request_started_us = None;
                        return;
                    }
                    if self.blocked_on_output {
                        self.blocked_on_output = false;
                        self.request_started_us = Some(now_us);
                    }
                    if !self.parse_one(now_us, context) {
                        if self.peer_closed && self.input_state == InputState::Head {
                            // Only a partial request is left, and nothing more will come.
                            self.end_input();
                        }
                        return;
                    }
                }
            }
        }
    }

    /// Parses one request head from the input buffer and queues its response. Returns whether a
    /// request was consumed (so another may follow).
    fn parse_one(&mut self, now_us: u64, context: &ResponseContext<'_>) -> bool {
        let outcome = super::parse_request(&self.input, &self.limits);
        match outcome {
            ParseOutcome::Partial => {
                if self.input.len() >= self.input_capacity {
                    // The parser should have rejected a head this long; answer as it would.
                    let response = super::error_response(
                        &RequestError::HeaderSectionTooLarge,
                        context.site,
                        context.now_unix_s,
                        context.settings,
                    );
                    self.queue_final(response, String::from("(request head too large)"), now_us);
                }
                false
            }
            ParseOutcome::Error(error) => {
                let response = super::error_response(
                    &error,
                    context.site,
                    context.now_unix_s,
                    context.settings,
                );
                let mut description = String::new();
                let _ = write!(description, "({error:?})");
                truncate_description(&mut description);
                self.queue_final(response, description, now_us);
                false
            }
            ParseOutcome::Complete { request, head_len } => {
                let description = if self.access_log {
                    describe_request(&request)
                } else {
                    String::new()
                };
                // The parser has already refused bodies above `discard_body_max_bytes` (413).
                let body_bytes = request.content_length.unwrap_or(0);
                let response = if self.refusing {
                    status_response(
                        Status::ServiceUnavailable,
                        request.method == Method::Head,
                        context,
                    )
                } else {
                    super::respond(&request, context.site, context.now_unix_s, context.settings)
                };
                let close = response.close_after || request.wants_close() || self.refusing;
                // RFC 9110 §10.1.1: a client that expects 100-continue may hold the content back
                // until it sees `100 (Continue)`, and one that gets the final response first may
                // skip the content altogether — and then its next request would be read as body.
                // Send the interim response first (as nginx does when it discards a body), unless
                // the content has begun to arrive (the RFC lets the server omit it then) or the
                // connection closes after this response (nothing more is read).
                let content_started = self.input.len() > head_len;
                let send_continue =
                    !close && body_bytes > 0 && !content_started && request.expects_continue();
                drop(request);
                let mut response = response;
                if send_continue {
                    response
                        .head
                        .splice(0..0, CONTINUE_INTERIM_RESPONSE.iter().copied());
                }
                self.input.drain(..head_len.min(self.input.len()));
                if close {
                    self.queue_final(response, description, now_us);
                    return false;
                }
                self.queue(response, description, now_us);
                if body_bytes > 0 {
                    // RFC 9112 §6.3: the body is framed by Content-Length; read past it.
                    self.input_state = InputState::DiscardingBody {
                        remaining_bytes: body_bytes,
                    };
                    self.request_started_us = Some(now_us);
                } else {
                    self.request_started_us = (!self.input.is_empty()).then_some(now_us);
                }
                true
            }
        }
    }
}

/// `METHOD target`, without control characters, bounded, for the access log.
fn describe_request(request: &Request<'_>) -> String {
    let mut description = String::from(request.method.as_str());
    description.push(' ');
    match &request.target {
        Target::Path { path, query } => {
            description.push_str(path);
            if let Some(query) = query {
                description.push('?');
                description.push_str(query);
            }
        }
        Target::Asterisk => description.push('*'),
        Target::Authority(authority) => description.push_str(authority),
    }
    // Control characters could forge log lines; the decoded path may hold any UTF-8.
    let mut cleaned: String = description
        .chars()
        .map(|character| {
            if character.is_control() {
                '?'
            } else {
                character
            }
        })
        .collect();
    truncate_description(&mut cleaned);
    cleaned
}

/// Bounds a description for the log, on a character boundary.
fn truncate_description(description: &mut String) {
    if description.len() > LOG_REQUEST_MAX_BYTES {
        let mut end = LOG_REQUEST_MAX_BYTES;
        while !description.is_char_boundary(end) {
            end -= 1;
        }
        description.truncate(end);
    }
}

/// The two statuses the connection layer itself produces (the parser and the site semantics
/// produce all others).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    /// `408 Request Timeout` (RFC 9110 §15.5.9): the request head did not arrive in time.
    RequestTimeout,
    /// `503 Service Unavailable` with `Retry-After: 1` (RFC 9110 §15.6.4, §10.2.3): a connection
    /// accepted beyond the server's connection limit.
    ServiceUnavailable,
}

/// A small plain-text response that closes the connection.
fn status_response(status: Status, head_only: bool, context: &ResponseContext<'_>) -> Response {
    let (code, reason, extra_field, body): (u16, &str, &str, &'static [u8]) = match status {
        Status::RequestTimeout => (
            408,
            "Request Timeout",
            "",
            b"408 Request Timeout: the request did not arrive in time.\n",
        ),
        Status::ServiceUnavailable => (
            503,
            "Service Unavailable",
            "Retry-After: 1\r\n",
            b"503 Service Unavailable: too many connections, retry in a second.\n",
        ),
    };
    let mut head = String::new();
    let _ = write!(head, "HTTP/1.1 {code} {reason}\r\n");
    if let Some(now_unix_s) = context.now_unix_s {
        // RFC 9110 §6.6.1: an origin server with a clock sends Date.
        let _ = write!(head, "Date: {}\r\n", format_http_date(now_unix_s));
    }
    let _ = write!(
        head,
        "Server: {}\r\n{extra_field}Content-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        context.settings.server_name,
        body.len()
    );
    Response {
        status: code,
        head: head.into_bytes(),
        // RFC 9110 §9.3.2: a response to HEAD carries the fields of GET but no content.
        body: if head_only {
            Body::Empty
        } else {
            Body::Static(body)
        },
        close_after: true,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::site::FileEntry;
    use alloc::vec;
    use proptest::prelude::*;

    const HELLO: &[u8] = b"hello\n";

    fn site() -> Site {
        Site::from_entries([FileEntry {
            path: "hello.txt",
            body: HELLO,
            modified_unix_s: 1_700_000_000,
            etag: "\"h\"",
        }])
    }

    fn settings() -> ResponseSettings {
        ResponseSettings {
            server_name: "test",
            cache_control: None,
        }
    }

    fn get(path: &str) -> Vec<u8> {
        alloc::format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").into_bytes()
    }

    /// What a connection answers from: the test site and settings, no clock.
    fn context<'a>(site: &'a Site, settings: &'a ResponseSettings) -> ResponseContext<'a> {
        ResponseContext {
            site,
            settings,
            now_unix_s: None,
        }
    }

    fn new_connection(now_us: u64) -> Connection {
        Connection::new(
            now_us,
            Limits::default(),
            ConnectionTimeouts::default(),
            true,
        )
    }

    /// Everything the connection has to send, drained in chunks of `chunk` bytes.
    fn drain(connection: &mut Connection, chunk: usize, now_us: u64) -> Vec<u8> {
        let mut output = Vec::new();
        let mut buffer = vec![0u8; chunk];
        loop {
            let count = connection.transmit(&mut buffer, now_us);
            if count == 0 {
                return output;
            }
            output.extend_from_slice(&buffer[..count]);
        }
    }

    /// Status codes of the responses in `output`, in order.
    fn statuses(output: &[u8]) -> Vec<u16> {
        let text = String::from_utf8_lossy(output);
        text.match_indices("HTTP/1.1 ")
            .filter_map(|(index, _)| text.get(index + 9..index + 12)?.parse().ok())
            .collect()
    }

    #[test]
    fn pipelined_responses_are_identical_whatever_the_output_chunk_size() {
        let (site, settings) = (site(), settings());
        let context = context(&site, &settings);
        let mut requests = get("/hello.txt");
        requests.extend_from_slice(&get("/missing"));
        requests.extend_from_slice(&get("/hello.txt"));
        let mut outputs = Vec::new();
        for chunk in [1, 7, 64, 100_000] {
            let mut connection = new_connection(0);
            assert_eq!(connection.receive(&requests, 1, &context), requests.len());
            outputs.push(drain(&mut connection, chunk, 2));
            assert_eq!(connection.disposition(), Disposition::Open);
        }
        assert_eq!(statuses(&outputs[0]), [200, 404, 200]);
        assert!(outputs.iter().all(|output| *output == outputs[0]));
    }

    #[test]
    fn too_many_queued_responses_push_back_on_input() {
        let (site, settings) = (site(), settings());
        let context = context(&site, &settings);
        let request = get("/hello.txt");
        let requests: Vec<u8> = (0..1000).flat_map(|_| request.clone()).collect();
        let mut connection = new_connection(0);
        let mut offset = connection.receive(&requests, 1, &context);
        // 16 answered; the input buffer holds at most one maximal head; the rest waits in TCP.
        assert_eq!(connection.requests_answered(), MAX_QUEUED_RESPONSES as u64);
        assert!(offset <= connection.input_capacity);
        let mut answered = 0;
        for now_us in 2..1000 {
            answered += statuses(&drain(&mut connection, 4096, now_us)).len();
            offset += connection.receive(&requests[offset..], now_us, &context);
            if answered == 1000 {
                break;
            }
        }
        assert_eq!(answered, 1000);
        assert_eq!(offset, requests.len());
    }

    #[test]
    fn request_head_timeout_is_exact_and_answers_408() {
        let (site, settings) = (site(), settings());
        let context = context(&site, &settings);
        let mut connection = new_connection(1_000);
        assert_eq!(connection.receive(b"GET /hel", 2_000, &context), 8);
        // The clock runs from the connection start for the first request.
        assert_eq!(connection.next_deadline_us(), Some(10_001_000));
        assert_eq!(connection.poll_timers(10_000_999, &context), None);
        assert_eq!(
            connection.poll_timers(10_001_000, &context),
            Some(TimeoutEvent::RequestHead)
        );
        let output = drain(&mut connection, 4096, 10_001_000);
        assert!(output.starts_with(b"HTTP/1.1 408 Request Timeout\r\n"));
        assert_eq!(connection.disposition(), Disposition::Close);
        assert_eq!(connection.next_deadline_us(), None);
    }

    #[test]
    fn idle_connection_closes_silently_after_keep_alive_timeout() {
        let (site, settings) = (site(), settings());
        let context = context(&site, &settings);
        let mut connection = new_connection(0);
        connection.receive(&get("/hello.txt"), 5, &context);
        drain(&mut connection, 4096, 6);
        connection.set_transport_backlog(100, 6);
        connection.set_transport_backlog(0, 50);
        assert_eq!(connection.next_deadline_us(), Some(75_000_050));
        assert_eq!(connection.poll_timers(75_000_049, &context), None);
        assert_eq!(
            connection.poll_timers(75_000_050, &context),
            Some(TimeoutEvent::KeepAliveIdle)
        );
        assert_eq!(connection.disposition(), Disposition::Close);
        assert!(!connection.has_output());
    }

    #[test]
    fn no_sending_progress_aborts_after_send_stall_timeout() {
        let (site, settings) = (site(), settings());
        let context = context(&site, &settings);
        let mut connection = new_connection(0);
        connection.receive(&get("/hello.txt"), 10, &context);
        // The transport takes part of the output, then the client's window stays shut.
        let mut buffer = [0u8; 20];
        assert_eq!(connection.transmit(&mut buffer, 20), 20);
        connection.set_transport_backlog(20, 20);
        assert_eq!(connection.transmit(&mut [], 5_000_000), 0);
        assert_eq!(connection.next_deadline_us(), Some(30_000_020));
        assert_eq!(connection.poll_timers(30_000_019, &context), None);
        assert_eq!(
            connection.poll_timers(30_000_020, &context),
            Some(TimeoutEvent::SendStall)
        );
        assert_eq!(connection.disposition(), Disposition::Abort);
    }

    #[test]
    fn request_body_is_discarded_across_segments() {
        let (site, settings) = (site(), settings());
        let context = context(&site, &settings);
        let mut connection = new_connection(0);
        let head = b"GET /hello.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc";
        assert_eq!(connection.receive(head, 1, &context), head.len());
        assert_eq!(connection.receive(b"defg", 2, &context), 4);
        let mut rest = b"hij".to_vec();
        rest.extend_from_slice(&get("/missing"));
        assert_eq!(connection.receive(&rest, 3, &context), rest.len());
        assert_eq!(statuses(&drain(&mut connection, 4096, 4)), [200, 404]);
    }

    #[test]
    fn client_close_drops_a_partial_request_and_finishes_after_output() {
        let (site, settings) = (site(), settings());
        let context = context(&site, &settings);
        let mut connection = new_connection(0);
        let mut bytes = get("/hello.txt");
        bytes.extend_from_slice(b"GET /hel");
        connection.receive(&bytes, 1, &context);
        connection.receive_closed();
        assert_eq!(connection.disposition(), Disposition::Open);
        assert_eq!(statuses(&drain(&mut connection, 4096, 2)), [200]);
        assert_eq!(connection.disposition(), Disposition::Close);
    }

    #[test]
    fn connection_close_and_http_1_0_end_the_connection() {
        let (site, settings) = (site(), settings());
        let context = context(&site, &settings);
        for request in [
            &b"GET /hello.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"[..],
            &b"GET /hello.txt HTTP/1.0\r\n\r\n"[..],
        ] {
            let mut bytes = request.to_vec();
            // Anything after the last request is ignored.
            bytes.extend_from_slice(&get("/hello.txt"));
            let mut connection = new_connection(0);
            assert_eq!(connection.receive(&bytes, 1, &context), bytes.len());
            assert_eq!(statuses(&drain(&mut connection, 4096, 2)), [200]);
            assert_eq!(connection.disposition(), Disposition::Close);
        }
    }

    #[test]
    fn refusing_connection_answers_503_with_retry_after() {
        let (site, settings) = (site(), settings());
        let context = ResponseContext {
            site: &site,
            settings: &settings,
            now_unix_s: Some(0),
        };
        let mut connection =
            Connection::new_refusing(0, Limits::default(), ConnectionTimeouts::default(), false);
        connection.receive(b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\n", 1, &context);
        let output = drain(&mut connection, 4096, 2);
        assert_eq!(
            output,
            b"HTTP/1.1 503 Service Unavailable\r\nDate: Thu, 01 Jan 1970 00:00:00 GMT\r\n\
              Server: test\r\nRetry-After: 1\r\nContent-Type: text/plain; charset=utf-8\r\n\
              Content-Length: 66\r\nConnection: close\r\n\r\n"
        );
        assert_eq!(connection.disposition(), Disposition::Close);
    }

    #[test]
    fn oversized_head_is_rejected_and_closes() {
        let (site, settings) = (site(), settings());
        let context = context(&site, &settings);
        let mut connection = new_connection(0);
        let mut bytes = b"GET /hello.txt HTTP/1.1\r\nHost: t\r\n".to_vec();
        while bytes.len() < 40_000 {
            bytes.extend_from_slice(b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
        }
        assert_eq!(connection.receive(&bytes, 1, &context), bytes.len());
        assert_eq!(statuses(&drain(&mut connection, 4096, 2)), [431]);
        assert_eq!(connection.disposition(), Disposition::Close);
    }

    #[test]
    fn access_log_records_status_bytes_and_times() {
        let (site, settings) = (site(), settings());
        let context = context(&site, &settings);
        let mut connection = new_connection(0);
        connection.receive(
            b"GET /hello.txt?x=1 HTTP/1.1\r\nHost: t\r\n\r\n",
            100,
            &context,
        );
        let output = drain(&mut connection, 4096, 350);
        let records = connection.take_records();
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].status, 200);
        assert_eq!(records[0].response_bytes, output.len() as u64);
        assert_eq!((records[0].parsed_at_us, records[0].sent_at_us), (100, 350));
        assert_eq!(records[0].request, "GET /hello.txt?x=1");
    }

    /// RFC 9110 §10.1.1: a client that sent `Expect: 100-continue` may wait for the interim
    /// response before sending the content; when the final response came first it may even
    /// skip the content. Sending `100 Continue` before the final response (as nginx does when it
    /// discards a body) tells it to send the content, so the body bytes and the next request
    /// stay framed as the client means them.
    #[test]
    fn expect_100_continue_gets_an_interim_response_before_the_final_one() {
        let (site, settings) = (site(), settings());
        let context = context(&site, &settings);
        let head = b"GET /hello.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-Continue\r\n\r\n";
        let mut connection = new_connection(0);
        assert_eq!(connection.receive(head, 1, &context), head.len());
        let output = drain(&mut connection, 4096, 2);
        assert!(
            output.starts_with(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"),
            "{}",
            String::from_utf8_lossy(&output)
        );
        assert!(output.ends_with(HELLO));
        // The content, then the next request: both framed as sent.
        let mut rest = b"abcde".to_vec();
        rest.extend_from_slice(&get("/missing"));
        assert_eq!(connection.receive(&rest, 3, &context), rest.len());
        assert_eq!(statuses(&drain(&mut connection, 4096, 4)), [404]);
        assert_eq!(connection.disposition(), Disposition::Open);

        // No interim response: without content, when the content already arrived, for
        // HTTP/1.0 (RFC 9110 §10.1.1: MUST ignore the expectation), and before a final response
        // that closes the connection.
        let cases: [&[u8]; 4] = [
            b"GET /hello.txt HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n\r\n",
            b"GET /hello.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nExpect: 100-continue\r\n\r\nx",
            b"GET /hello.txt HTTP/1.0\r\nContent-Length: 1\r\nExpect: 100-continue\r\nConnection: keep-alive\r\n\r\n",
            b"GET /hello.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
        ];
        for request in cases {
            let mut connection = new_connection(0);
            connection.receive(request, 1, &context);
            let output = drain(&mut connection, 4096, 2);
            assert_eq!(
                statuses(&output),
                [200],
                "{}",
                String::from_utf8_lossy(request)
            );
        }
    }

    /// Found by the attack run: 60 pipelined requests followed by the client's FIN got 38
    /// answers. The requests beyond the response queue waited in the input buffer, and the FIN
    /// threw them away. A half-closed client still gets every complete request answered
    /// (RFC 9112 §9.6: the FIN ends the requests, not the responses).
    #[test]
    fn requests_waiting_behind_a_full_response_queue_are_answered_after_the_peer_fin() {
        let (site, settings) = (site(), settings());
        let context = context(&site, &settings);
        let count = MAX_QUEUED_RESPONSES + 4;
        let requests: Vec<u8> = (0..count).flat_map(|_| get("/hello.txt")).collect();
        let mut connection = new_connection(0);
        assert_eq!(connection.receive(&requests, 1, &context), requests.len());
        assert_eq!(connection.requests_answered(), MAX_QUEUED_RESPONSES as u64);
        connection.receive_closed();
        let mut output = Vec::new();
        for now_us in 2..10 {
            output.extend_from_slice(&drain(&mut connection, 4096, now_us));
            connection.receive(&[], now_us, &context);
        }
        assert_eq!(statuses(&output), vec![200; count]);
        assert_eq!(connection.disposition(), Disposition::Close);

        // A partial request left behind the queue is dropped once the queue drains.
        let mut requests = requests;
        requests.extend_from_slice(b"GET /hello.txt HTTP/1.1\r\nHo");
        let mut connection = new_connection(0);
        assert_eq!(connection.receive(&requests, 1, &context), requests.len());
        connection.receive_closed();
        let mut output = Vec::new();
        for now_us in 2..10 {
            output.extend_from_slice(&drain(&mut connection, 4096, now_us));
            connection.receive(&[], now_us, &context);
        }
        assert_eq!(statuses(&output), vec![200; count]);
        assert_eq!(connection.disposition(), Disposition::Close);
    }

    proptest! {
        #[test]
        fn arbitrary_input_in_arbitrary_pieces_never_panics(
            bytes in proptest::collection::vec(any::<u8>(), 0..4096),
            cuts in proptest::collection::vec(1usize..512, 1..16),
            seed_request in any::<bool>(),
        ) {
            let (site, settings) = (site(), settings());
            let context = ResponseContext { site: &site, settings: &settings, now_unix_s: Some(1) };
            let mut connection = new_connection(0);
            let mut input = if seed_request { get("/hello.txt") } else { Vec::new() };
            input.extend_from_slice(&bytes);
            let mut offset = 0;
            let mut now_us = 0;
            for cut in cuts.iter().cycle().take(64) {
                let end = (offset + cut).min(input.len());
                let consumed = connection.receive(&input[offset..end], now_us, &context);
                prop_assert!(consumed <= end - offset);
                offset += consumed;
                drain(&mut connection, 300, now_us);
                now_us += 1_000_000;
                connection.poll_timers(now_us, &context);
                if offset == input.len() {
                    break;
                }
            }
        }
    }
}
