//! The sending side of a connection: the queue of responses in request order, copying their
//! bytes into the transport, and retiring them (with their access-log records) once handed over.

use alloc::string::String;

use super::{Connection, InputState, RequestRecord};
use crate::http::{Body, BodyPart, Response};

/// A response waiting to be sent, with the position of the next byte to send.
#[derive(Debug)]
pub(super) struct Outgoing {
    response: Response,
    /// Piece 0 is the head; pieces 1.. are the body pieces in order.
    piece_index: usize,
    /// Offset of the next byte within the current piece.
    piece_offset: usize,
    /// Access-log description and parse time, when the log is on.
    record: Option<(String, u64)>,
}

/// Output bytes (handed to the transport or acknowledged by the client) that count as sending
/// progress for the send-stall limit. A client that acknowledges a few bytes just before each
/// limit runs out (a slow-read attack) would otherwise hold its connection forever; it now has to
/// take at least this much per `send_timeout_ms` (4 KiB per 30 s by default: 137 bytes/s, far
/// below any real link). The end of the output always counts, however small the response.
pub const MINIMUM_SEND_PROGRESS_BYTES: usize = 4096;

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

impl Connection {
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
            self.last_activity_us = now_us;
            self.bytes_transmitted = self.bytes_transmitted.saturating_add(written as u64);
            self.note_output_moved(written, now_us);
        }
        written
    }

    /// Counts `bytes` of output moved; the send-stall clock restarts once
    /// [`MINIMUM_SEND_PROGRESS_BYTES`] have moved since it last did, or when nothing is left to
    /// send.
    fn note_output_moved(&mut self, bytes: usize, now_us: u64) {
        self.output_progress_bytes = self.output_progress_bytes.saturating_add(bytes);
        if self.output_progress_bytes >= MINIMUM_SEND_PROGRESS_BYTES || !self.output_pending() {
            self.restart_send_stall_clock(now_us);
        }
    }

    /// The send-stall clock starts over at `now_us`.
    pub(super) fn restart_send_stall_clock(&mut self, now_us: u64) {
        self.last_output_progress_us = now_us;
        self.output_progress_bytes = 0;
    }

    /// Reports how many bytes the transport still holds for this connection (unsent or not yet
    /// acknowledged). A shrinking backlog is sending progress; a client that keeps a zero window
    /// lets it grow old, and the send-stall limit applies.
    pub fn set_transport_backlog(&mut self, backlog_bytes: usize, now_us: u64) {
        let previous_bytes = self.transport_backlog_bytes;
        self.transport_backlog_bytes = backlog_bytes;
        if backlog_bytes < previous_bytes {
            self.last_activity_us = now_us;
            self.note_output_moved(previous_bytes - backlog_bytes, now_us);
        } else if previous_bytes == 0 && backlog_bytes > 0 && self.outgoing.is_empty() {
            self.restart_send_stall_clock(now_us);
        }
    }

    /// Whether the connection has response bytes it has not handed over yet.
    pub fn has_output(&self) -> bool {
        !self.outgoing.is_empty()
    }

    /// Output is waiting here or in the transport.
    pub(super) fn output_pending(&self) -> bool {
        !self.outgoing.is_empty() || self.transport_backlog_bytes > 0
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

    /// Queues a response after which nothing more is read (a held response, whose request's
    /// body did not end, is dropped).
    pub(super) fn queue_final(&mut self, mut response: Response, description: String, now_us: u64) {
        response.close_after = true;
        self.input_state = InputState::Ended;
        self.input.clear();
        self.partial_head = None;
        self.request_started_us = None;
        self.held_response = None;
        self.queue(response, description, now_us);
    }

    /// Queues an interim response (`100 Continue`, RFC 9110 §15.2): it answers no request by
    /// itself, so it is neither counted nor logged.
    pub(super) fn queue_interim(&mut self, head: &[u8], now_us: u64) {
        if !self.output_pending() {
            self.restart_send_stall_clock(now_us);
        }
        self.outgoing.push_back(Outgoing {
            response: Response {
                status: 100,
                head: head.to_vec(),
                body: Body::Empty,
                close_after: false,
            },
            piece_index: 0,
            piece_offset: 0,
            record: None,
        });
    }

    /// Queues a response in request order.
    pub(super) fn queue(&mut self, response: Response, description: String, now_us: u64) {
        if !self.output_pending() {
            // The send-stall clock starts when there is something to send.
            self.restart_send_stall_clock(now_us);
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
}
