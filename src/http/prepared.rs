//! Response heads prepared once, when the server starts: for every file of the site and each of
//! its variants (the file itself, its precompressed `.gz` sibling), the header fields of a `200`
//! with the whole file, and the position of the sibling. They are the same bytes on every
//! request, so a request for a whole file only writes its status line, `Date` and `Connection`
//! around them: no lookup of the sibling, no formatting of lengths or dates, no scan of values.
//! Everything else (ranges, `304`, errors, redirects) is built field by field by
//! `HeadWriter`, and [`respond`](super::respond) without a prepared table
//! gives the same bytes for every request (a test compares the two).
//!
//! `Date` (RFC 9110 §6.6.1) is formatted once per second and kept ([`PreparedHeads::date`]).

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::cell::Cell;

use super::ResponseSettings;
use super::date::{HttpDate, http_date};
use super::mime::content_type_for_path;
use super::response::{HeadWriter, Persistence, sibling};
use crate::site::Site;

/// The fields of a `200` with one whole variant of a file, in the order
/// `HeadWriter`'s users write them: `Content-Type` to `Cache-Control`.
#[derive(Debug)]
struct PreparedFile {
    /// The file as it is.
    identity: Box<[u8]>,
    /// Its `.gz` sibling, when the site has one: the sibling's position and the fields of a
    /// `200` that sends it in place of this file (`Content-Encoding: gzip`).
    gzip: Option<(usize, Box<[u8]>)>,
}

/// Every file's prepared fields, by the file's position in the [`Site`] they were built from.
#[derive(Debug)]
pub struct PreparedHeads {
    files: Vec<PreparedFile>,
    /// `HTTP/1.1 200 OK` and `Server`.
    ok_status_and_server: Box<[u8]>,
    /// The last second whose `Date` was formatted, and its text.
    date_cache: Cell<Option<(u64, HttpDate)>>,
}

/// The end of every prepared head, by [`Persistence`]: `X-Content-Type-Options`, the
/// `Connection` field, the empty line.
const TAIL_KEEP: &[u8] = b"X-Content-Type-Options: nosniff\r\n\r\n";
const TAIL_CLOSE: &[u8] = b"X-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n";
const TAIL_KEEP_ALIVE: &[u8] = b"X-Content-Type-Options: nosniff\r\nConnection: keep-alive\r\n\r\n";

/// `Date: ` + an IMF-fixdate + CRLF.
const DATE_FIELD_BYTES: usize = 6 + super::date::HTTP_DATE_BYTES + 2;

impl PreparedHeads {
    /// Prepares the heads of every file of `site` under `settings`. Costs one small allocation
    /// per file and variant (about 200 bytes each).
    pub fn new(site: &Site, settings: &ResponseSettings) -> PreparedHeads {
        let files = site
            .files()
            .map(|entry| {
                let gzip = sibling(site, entry.path, ".gz").and_then(|compressed| {
                    let position = site.position(compressed.path)?;
                    Some((
                        position,
                        fields_of(entry.path, compressed, Some("gzip"), true, settings),
                    ))
                });
                PreparedFile {
                    identity: fields_of(entry.path, entry, None, gzip.is_some(), settings),
                    gzip,
                }
            })
            .collect();
        let mut status = HeadWriter::status_and_server(200, settings);
        status.shrink_to_fit();
        PreparedHeads {
            files,
            ok_status_and_server: status.into_boxed_slice(),
            date_cache: Cell::new(None),
        }
    }

    /// Whether this table was built for `site` (a table indexes files by position, so it only
    /// fits the site it was made from).
    pub fn fits(&self, site: &Site) -> bool {
        self.files.len() == site.file_count()
    }

    /// The `.gz` sibling's position of the file at `position`, if it has one.
    pub fn gzip_sibling(&self, position: usize) -> Option<usize> {
        self.files
            .get(position)?
            .gzip
            .as_ref()
            .map(|(index, _)| *index)
    }

    /// `now_unix_s` as an IMF-fixdate, formatted at most once per second.
    pub fn date(&self, now_unix_s: u64) -> HttpDate {
        match self.date_cache.get() {
            Some((second, date)) if second == now_unix_s => date,
            _ => {
                let date = http_date(now_unix_s);
                self.date_cache.set(Some((now_unix_s, date)));
                date
            }
        }
    }

    /// The head of a `200` with the whole file at `position` (compressed: its `.gz` variant),
    /// or `None` when there is no such prepared variant.
    pub(super) fn ok_head(
        &self,
        position: usize,
        compressed: bool,
        date: Option<HttpDate>,
        persistence: Persistence,
    ) -> Option<Vec<u8>> {
        let file = self.files.get(position)?;
        let fields: &[u8] = if compressed {
            &file.gzip.as_ref()?.1
        } else {
            &file.identity
        };
        let tail = if persistence.close_after {
            TAIL_CLOSE
        } else if persistence.keep_alive_header {
            TAIL_KEEP_ALIVE
        } else {
            TAIL_KEEP
        };
        let mut head = Vec::with_capacity(
            self.ok_status_and_server.len() + DATE_FIELD_BYTES + fields.len() + tail.len(),
        );
        head.extend_from_slice(&self.ok_status_and_server);
        // RFC 9110 §6.6.1: an origin server without a clock MUST NOT send Date.
        if let Some(date) = date {
            head.extend_from_slice(b"Date: ");
            head.extend_from_slice(date.as_str().as_bytes());
            head.extend_from_slice(b"\r\n");
        }
        head.extend_from_slice(fields);
        head.extend_from_slice(tail);
        Some(head)
    }
}

/// The `Date` of a response made at `now_unix_s` (none without a clock): from `prepared`'s
/// once-a-second cache when there is a table, else formatted.
pub(super) fn response_date(
    now_unix_s: Option<u64>,
    prepared: Option<&PreparedHeads>,
) -> Option<HttpDate> {
    let now = now_unix_s?;
    Some(match prepared {
        Some(prepared) => prepared.date(now),
        None => http_date(now),
    })
}

/// The fields of a `200` sending all of `entry` for a request of `type_path`.
fn fields_of(
    type_path: &str,
    entry: &crate::site::FileEntry,
    content_encoding: Option<&'static str>,
    has_variants: bool,
    settings: &ResponseSettings,
) -> Box<[u8]> {
    let mut fields = HeadWriter::empty();
    fields.known_field("Content-Type", content_type_for_path(type_path));
    fields.number_field("Content-Length", entry.body.len() as u64);
    fields.known_field("Last-Modified", http_date(entry.modified_unix_s).as_str());
    fields.field("ETag", entry.etag);
    fields.known_field("Accept-Ranges", "bytes");
    if let Some(encoding) = content_encoding {
        fields.known_field("Content-Encoding", encoding);
    }
    super::response::cache_fields(&mut fields, has_variants, settings);
    fields.into_bytes().into_boxed_slice()
}
