//! The receiving side of a connection: the input buffer, parsing request heads, discarding
//! request bodies (`Content-Length` or chunked), and the end of input (the client's FIN, or a
//! final response queued).

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write as _;

use super::status::{Status, status_response};
use super::{Connection, InputState, MAX_QUEUED_RESPONSES, ResponseContext};
use crate::http::chunked::{ChunkedDecoder, ChunkedError, ChunkedProgress};
use crate::http::request::is_token_byte;
use crate::http::{
    Limits, Method, ParseOutcome, Request, RequestError, Target, error_response, parse_request,
    respond_prepared,
};

/// Input buffer capacity kept between requests; a larger buffer (grown by a large head) is freed.
const INPUT_RETAINED_BYTES: usize = 4096;

/// Input buffer capacity first allocated: a typical request head (a browser's is 400-800 bytes).
const INPUT_INITIAL_BYTES: usize = 1024;

/// The interim response sent ahead of the final one to a client that expects it
/// (RFC 9110 §15.2.1, §10.1.1).
const CONTINUE_INTERIM_RESPONSE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// Longest request description kept for the access log (`GET /path`), in bytes.
const LOG_REQUEST_MAX_BYTES: usize = 200;

impl Connection {
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
                self.partial_head = None;
                return incoming.len();
            }
            if rest.is_empty() {
                return consumed;
            }
            if let InputState::ChunkedBody(mut decoder) = self.input_state {
                // `process_buffered` emptied `input` first; decode straight from the offer.
                match decoder.decode(rest) {
                    ChunkedProgress::NeedMore => {
                        self.input_state = InputState::ChunkedBody(decoder);
                        consumed += rest.len();
                    }
                    ChunkedProgress::Complete { consumed_bytes } => {
                        consumed += consumed_bytes;
                        self.finish_chunked_body(now_us);
                    }
                    ChunkedProgress::Error(error) => {
                        self.refuse_chunked_body(error, now_us, context);
                    }
                }
                continue;
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
            if !self.reserve_input(taken) {
                // The heap cannot give the buffer more room: the bytes stay with the transport
                // (TCP flow control holds the client) until memory is back, or the request-head
                // timeout ends the connection.
                self.input_allocation_failures += 1;
                return consumed;
            }
            self.input
                .extend_from_slice(rest.get(..taken).unwrap_or(&[]));
            consumed += taken;
            if self.request_started_us.is_none() && !self.blocked_on_output {
                self.request_started_us = Some(now_us);
            }
        }
    }

    /// Makes room in the input buffer for `additional` more bytes without an infallible
    /// allocation: the buffer at least doubles (from [`INPUT_INITIAL_BYTES`]), but never beyond
    /// the input capacity, which a client could otherwise make every connection overshoot by
    /// up to half. Returns whether the room is there.
    fn reserve_input(&mut self, additional: usize) -> bool {
        let needed = self.input.len().saturating_add(additional);
        if needed <= self.input.capacity() {
            return true;
        }
        let target = self
            .input
            .capacity()
            .saturating_mul(2)
            .max(INPUT_INITIAL_BYTES)
            .min(self.input_capacity)
            .max(needed);
        self.input
            .try_reserve_exact(target - self.input.len())
            .is_ok()
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

    /// No more requests will be read. A held response is dropped: its request's chunked body
    /// never ended, so the request is as incomplete as a partial head.
    pub(super) fn end_input(&mut self) {
        self.input_state = InputState::Ended;
        self.input.clear();
        self.partial_head = None;
        self.request_started_us = None;
        self.held_response = None;
    }

    /// The chunked body ended well: its held response is queued and the next request head is
    /// read.
    fn finish_chunked_body(&mut self, now_us: u64) {
        self.input_state = InputState::Head;
        if let Some((response, description)) = self.held_response.take() {
            self.queue(response, description, now_us);
        }
        self.request_started_us = (!self.input.is_empty()).then_some(now_us);
    }

    /// The chunked body is invalid: its held response is dropped and the error answered instead,
    /// the last response on the connection (RFC 9112 §11.2: where the body ends is unknown, so
    /// nothing after it can be framed).
    fn refuse_chunked_body(
        &mut self,
        error: ChunkedError,
        now_us: u64,
        context: &ResponseContext<'_>,
    ) {
        let error = match error {
            ChunkedError::Malformed => RequestError::MalformedChunkedBody,
            ChunkedError::BodyTooLarge => RequestError::ContentTooLarge,
            ChunkedError::TrailerSectionTooLarge => RequestError::TrailerSectionTooLarge,
        };
        let response = error_response(&error, context.site, context.now_unix_s, context.settings);
        let mut description = String::new();
        let _ = write!(description, "({error:?})");
        self.queue_final(response, description, now_us);
    }

    /// Parses and answers what the input buffer holds, as far as the queue allows.
    fn process_buffered(&mut self, now_us: u64, context: &ResponseContext<'_>) {
        loop {
            match self.input_state {
                InputState::Ended => {
                    self.input.clear();
                    self.partial_head = None;
                    return;
                }
                InputState::DiscardingBody { remaining_bytes } => {
                    let discarded = usize::try_from(remaining_bytes)
                        .unwrap_or(usize::MAX)
                        .min(self.input.len());
                    self.input.drain(..discarded);
                    self.partial_head = None;
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
                InputState::ChunkedBody(mut decoder) => {
                    match decoder.decode(&self.input) {
                        ChunkedProgress::NeedMore => {
                            self.input.clear();
                            self.partial_head = None;
                            self.input_state = InputState::ChunkedBody(decoder);
                            if self.peer_closed {
                                // The rest of the body will never come.
                                self.end_input();
                            }
                            return;
                        }
                        ChunkedProgress::Complete { consumed_bytes } => {
                            self.input.drain(..consumed_bytes.min(self.input.len()));
                            self.partial_head = None;
                            self.finish_chunked_body(now_us);
                        }
                        ChunkedProgress::Error(error) => {
                            self.refuse_chunked_body(error, now_us, context);
                            return;
                        }
                    }
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
                            self.partial_head = None;
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
        if let Some(partial) = self.partial_head
            && !partial.parse_could_say_more(&self.input, &self.limits, self.input_capacity)
        {
            return false;
        }
        let outcome = parse_request(&self.input, &self.limits);
        self.partial_head =
            matches!(outcome, ParseOutcome::Partial).then(|| PartialHead::of(&self.input));
        match outcome {
            ParseOutcome::Partial => {
                if self.input.len() >= self.input_capacity && self.refusing {
                    // A refusing connection keeps a small buffer: whatever the head holds
                    // beyond, the answer is the same `503`.
                    let response = status_response(Status::ServiceUnavailable, false, context);
                    self.queue_final(
                        response,
                        String::from("(over the connection limit)"),
                        now_us,
                    );
                } else if self.input.len() >= self.input_capacity {
                    // The parser should have rejected a head this long; answer as it would.
                    let response = error_response(
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
                let response =
                    error_response(&error, context.site, context.now_unix_s, context.settings);
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
                let chunked = request.chunked;
                let response = if self.refusing {
                    status_response(
                        Status::ServiceUnavailable,
                        request.method == Method::Head,
                        context,
                    )
                } else {
                    respond_prepared(
                        &request,
                        context.site,
                        context.now_unix_s,
                        context.settings,
                        context.prepared,
                    )
                };
                let close = response.close_after || request.wants_close() || self.refusing;
                // RFC 9110 §10.1.1: a client that expects 100-continue may hold the content back
                // until it sees `100 (Continue)`, and one that gets the final response first may
                // skip the content altogether — and then its next request would be read as body.
                // Send the interim response first (as nginx does when it discards a body), unless
                // the content has begun to arrive (the RFC lets the server omit it then) or the
                // connection closes after this response (nothing more is read). A chunked body
                // always has content (at least its last chunk).
                let content_started = self.input.len() > head_len;
                let send_continue = !close
                    && (body_bytes > 0 || chunked)
                    && !content_started
                    && request.expects_continue();
                drop(request);
                let mut response = response;
                self.input.drain(..head_len.min(self.input.len()));
                self.partial_head = None;
                if close {
                    // The body is not read: nothing after this response is.
                    self.queue_final(response, description, now_us);
                    return false;
                }
                if chunked {
                    // RFC 9112 §6.3 item 4: the body is framed by the chunked coding; read past
                    // it, and answer once it has ended (see the module documentation).
                    if send_continue {
                        self.queue_interim(CONTINUE_INTERIM_RESPONSE, now_us);
                    }
                    self.held_response = Some((response, description));
                    self.input_state = InputState::ChunkedBody(ChunkedDecoder::new(
                        self.limits.discard_body_max_bytes as u64,
                    ));
                    self.request_started_us = Some(now_us);
                    return true;
                }
                if send_continue {
                    response
                        .head
                        .splice(0..0, CONTINUE_INTERIM_RESPONSE.iter().copied());
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

/// What a parse of an incomplete head established. Bytes that arrive later are parsed again only
/// when they can change the verdict — a line end, a CR, a byte that cannot continue the method,
/// or a limit crossed — so a head trickled one byte at a time costs O(n), not O(n²): the parser
/// starts from the first byte each time. Each line end still triggers a parse, and at most
/// [`crate::http::Limits::header_fields_max`] of them come before the head is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct PartialHead {
    /// Input bytes parsed.
    parsed_bytes: usize,
    /// Where the header section starts, once the request line is complete.
    headers_start: Option<usize>,
    /// Whether the method is complete (a space follows it).
    method_done: bool,
}

impl PartialHead {
    /// What `input`, an incomplete head, shows (RFC 9112 §2.2: leading empty lines are skipped).
    pub(super) fn of(input: &[u8]) -> PartialHead {
        let line_start = input
            .iter()
            .position(|&byte| byte != b'\r' && byte != b'\n')
            .unwrap_or(input.len());
        let line = input.get(line_start..).unwrap_or_default();
        let headers_start = line
            .iter()
            .position(|&byte| byte == b'\n')
            .map(|newline| line_start + newline + 1);
        PartialHead {
            parsed_bytes: input.len(),
            headers_start,
            method_done: headers_start.is_some() || line.contains(&b' '),
        }
    }

    /// Whether parsing `input` again (the parsed bytes plus what came since) could give anything
    /// but "incomplete".
    pub(super) fn parse_could_say_more(
        &self,
        input: &[u8],
        limits: &Limits,
        input_capacity: usize,
    ) -> bool {
        let Some(new) = input.get(self.parsed_bytes..) else {
            return true;
        };
        if new.is_empty() {
            return false;
        }
        if new.iter().any(|&byte| byte == b'\n' || byte == b'\r') || input.len() >= input_capacity {
            return true;
        }
        match self.headers_start {
            None => {
                input.len() > limits.request_line_max_bytes
                    || (!self.method_done && !new.iter().all(|&byte| is_token_byte(byte)))
            }
            Some(start) => input.len().saturating_sub(start) > limits.header_section_max_bytes,
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
