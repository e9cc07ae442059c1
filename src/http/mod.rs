//! HTTP/1.1 for a read-only static site (RFC 9110, 9111, 9112).
//!
//! Two layers, both free of I/O:
//! - [`parse_request`] turns the bytes of one request head into a typed [`Request`] or a typed
//!   error, and [`respond`] turns a request and the [`Site`] into a [`Response`] — the whole
//!   static-file semantics (paths, methods, validators, ranges, content types, precompressed
//!   siblings, error pages).
//! - [`connection::Connection`] is the per-connection state machine on top: buffering, pipelining,
//!   request bodies, time limits. The network loop (`crate::server`) feeds it bytes from a TCP
//!   socket and drains its output into the socket.

use alloc::vec::Vec;

use crate::site::Site;

pub mod connection;

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

// CONTRACT (filled in by the HTTP work; signatures are fixed so the connection layer can use them):
//
// pub fn parse_request(buffer: &[u8], limits: &Limits) -> ParseOutcome<'_>;
// pub enum ParseOutcome<'a> { Complete { request: Request<'a>, head_len: usize }, Partial, Error(RequestError) }
// pub fn respond(request: &Request<'_>, site: &Site, now_unix_s: Option<u64>, settings: &ResponseSettings) -> Response;
// pub fn error_response(error: &RequestError, site: &Site, now_unix_s: Option<u64>, settings: &ResponseSettings) -> Response;
// Request exposes at least: method, version (1.0 / 1.1), content_length: Option<u64>, chunked: bool,
// wants_close(): bool (Connection: close, or HTTP/1.0 without keep-alive).
#[allow(dead_code)]
fn _contract(_site: &Site) {}
