//! HTTP/1.1 for a read-only static site (RFC 9110, 9111, 9112).
//!
//! Two layers, both free of I/O:
//! - [`parse_request`] turns the bytes of one request head into a typed [`Request`] or a typed
//!   error, and [`respond`] turns a request and the [`Site`](crate::site::Site) into a [`Response`] — the whole
//!   static-file semantics (paths, methods, validators, ranges, content types, precompressed
//!   siblings, error pages).
//! - [`connection::Connection`] is the per-connection state machine on top: buffering, pipelining,
//!   request bodies, time limits. The network loop (`crate::net`) feeds it bytes from a TCP
//!   socket and drains its output into the socket.

use alloc::vec::Vec;

pub mod chunked;
pub mod connection;
pub mod date;
pub mod mime;
pub mod prepared;
pub mod range;
pub mod request;
pub mod response;

/// Limits on what a client may send (hardening; defaults as nginx and the issue tracker demand).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Longest request line accepted; longer gets `414 URI Too Long`.
    pub request_line_max_bytes: usize,
    /// Largest header section; larger gets `431 Request Header Fields Too Large`.
    pub header_section_max_bytes: usize,
    /// Most header fields; more gets `431`.
    pub header_fields_max: usize,
    /// Largest request body that is read and discarded on GET/HEAD/OPTIONS; larger gets `413`.
    pub discard_body_max_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            request_line_max_bytes: 8 * 1024,
            header_section_max_bytes: 16 * 1024,
            header_fields_max: 100,
            discard_body_max_bytes: 64 * 1024,
        }
    }
}

/// Settings that shape every response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseSettings {
    /// Value of the `Server` header.
    pub server_name: &'static str,
    /// `Cache-Control` value sent with files, if any (bootarg).
    pub cache_control: Option<alloc::string::String>,
}

/// A complete response: the head (status line and header fields, ending in the empty line) and
/// the body, which for files is a slice of the embedded archive — never a copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code (200, 206, 304, 404, …).
    pub status: u16,
    /// Status line, header fields and the final CRLF, ready to send.
    pub head: Vec<u8>,
    /// The body; empty for HEAD, 204 and 304.
    pub body: Body,
    /// The connection must be closed once this response is sent.
    pub close_after: bool,
}

/// A response body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// No body.
    Empty,
    /// Bytes of the site (a whole file or one range of it).
    Static(&'static [u8]),
    /// A sequence of owned and static pieces (generated pages, `multipart/byteranges`).
    Parts(Vec<BodyPart>),
}

/// One piece of a [`Body::Parts`] body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyPart {
    /// Bytes generated for this response (part headers, built-in error pages).
    Owned(Vec<u8>),
    /// Bytes of the site.
    Static(&'static [u8]),
}

// The contract the connection layer relies on (signatures fixed):
//
// pub fn parse_request(buffer: &[u8], limits: &Limits) -> ParseOutcome<'_>;
// pub enum ParseOutcome<'a> { Complete { request: Request<'a>, head_len: usize }, Partial, Error(RequestError) }
// pub fn respond(request: &Request<'_>, site: &Site, now_unix_s: Option<u64>, settings: &ResponseSettings) -> Response;
// pub fn error_response(error: &RequestError, site: &Site, now_unix_s: Option<u64>, settings: &ResponseSettings) -> Response;
pub use date::{format_http_date, parse_http_date};
pub use prepared::PreparedHeads;
pub use request::{
    HeaderField, Method, ParseOutcome, Request, RequestError, Target, Version, parse_request,
};
pub use response::{ALLOWED_METHODS, error_response, reason_phrase, respond, respond_prepared};

impl Body {
    /// Total length of the body in bytes.
    pub fn len(&self) -> usize {
        match self {
            Body::Empty => 0,
            Body::Static(bytes) => bytes.len(),
            Body::Parts(parts) => parts
                .iter()
                .map(|part| match part {
                    BodyPart::Owned(bytes) => bytes.len(),
                    BodyPart::Static(bytes) => bytes.len(),
                })
                .sum(),
        }
    }

    /// Whether the body has no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The body as one contiguous vector (for tests and diagnostics; the server sends the parts
    /// without copying).
    pub fn to_vec(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(self.len());
        match self {
            Body::Empty => {}
            Body::Static(static_bytes) => bytes.extend_from_slice(static_bytes),
            Body::Parts(parts) => {
                for part in parts {
                    match part {
                        BodyPart::Owned(owned) => bytes.extend_from_slice(owned),
                        BodyPart::Static(static_bytes) => bytes.extend_from_slice(static_bytes),
                    }
                }
            }
        }
        bytes
    }
}

#[cfg(test)]
mod tests;
