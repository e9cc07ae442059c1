//! The two responses the connection layer itself produces: `408` and `503`.

use super::ResponseContext;
use crate::http::response::{HeadWriter, Persistence};
use crate::http::{Body, Response};

/// The two statuses the connection layer itself produces (the parser and the site semantics
/// produce all others).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Status {
    /// `408 Request Timeout` (RFC 9110 §15.5.9): the request head did not arrive in time.
    RequestTimeout,
    /// `503 Service Unavailable` with `Retry-After: 1` (RFC 9110 §15.6.4, §10.2.3): a connection
    /// accepted beyond the server's connection limit.
    ServiceUnavailable,
}

/// A small plain-text response that closes the connection. Its head comes from the same
/// [`HeadWriter`] as every other response's.
pub(super) fn status_response(
    status: Status,
    head_only: bool,
    context: &ResponseContext<'_>,
) -> Response {
    let (code, retry_after_s, body): (u16, Option<&str>, &'static [u8]) = match status {
        Status::RequestTimeout => (
            408,
            None,
            b"408 Request Timeout: the request did not arrive in time.\n",
        ),
        Status::ServiceUnavailable => (
            503,
            Some("1"),
            b"503 Service Unavailable: too many connections, retry in a second.\n",
        ),
    };
    let mut head = HeadWriter::new(code, context.date(), context.settings);
    head.known_field("Content-Type", "text/plain; charset=utf-8");
    head.number_field("Content-Length", body.len() as u64);
    if let Some(retry_after_s) = retry_after_s {
        // RFC 9110 §10.2.3: delay-seconds after which the client may retry.
        head.field("Retry-After", retry_after_s);
    }
    Response {
        status: code,
        head: head.finish(Persistence::closing()),
        // RFC 9110 §9.3.2: a response to HEAD carries the fields of GET but no content.
        body: if head_only {
            Body::Empty
        } else {
            Body::Static(body)
        },
        close_after: true,
    }
}
