//! The two responses the connection layer itself produces: `408` and `503`.

use alloc::string::String;
use core::fmt::Write as _;

use super::ResponseContext;
use crate::http::{Body, Response, format_http_date};

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

/// A small plain-text response that closes the connection.
pub(super) fn status_response(
    status: Status,
    head_only: bool,
    context: &ResponseContext<'_>,
) -> Response {
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
