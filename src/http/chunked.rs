//! An incremental decoder for the chunked transfer coding of a request body (RFC 9112 §7.1).
//!
//! The server serves static files only, so a request body is never used: the decoder only finds
//! where the body ends (so the next request on the connection is framed correctly, RFC 9112 §6.3
//! item 4) and checks the framing on the way. It stores none of the body: the state is a handful
//! of counters, whatever the split of the bytes into segments, and each byte is looked at once
//! (chunk data is skipped in whole runs).
//!
//! What it accepts, strictly by the grammar of RFC 9112 §7.1:
//! - `chunk-size`: 1 to [`CHUNK_SIZE_DIGITS_MAX`] hex digits (leading zeros count; more digits
//!   are refused rather than risk an overflow).
//! - `chunk-ext` (§7.1.1): `*( BWS ";" BWS name [ BWS "=" BWS value ] )`, the name a token, the
//!   value a token or a quoted-string (RFC 9110 §5.6.4). Extensions are checked and ignored; the
//!   chunk-size line with them is at most [`CHUNK_SIZE_LINE_MAX_BYTES`].
//! - The chunk-size line and the CRLF after each chunk's data must end in CRLF exactly. RFC 9112
//!   §2.2 lets a recipient recognise a bare LF only as the terminator of the start-line and of
//!   field lines, and the request parser does so there; the chunk framing is not a field line,
//!   and reading it more leniently than a front-end proxy is how request smuggling works
//!   (§11.2), so a bare LF there is an error.
//! - The trailer section (§7.1.2) after the last chunk: field lines (a token name, a colon, a
//!   value of visible bytes, SP, HTAB or obs-text), checked and ignored, ended by an empty line.
//!   These are field lines, so as in the header section a bare LF ends a line there (§2.2); a CR
//!   not followed by LF is an error everywhere. The section is at most
//!   [`TRAILER_SECTION_MAX_BYTES`].
//! - The sum of the chunk sizes is at most the body limit the decoder is made with (the server
//!   passes [`super::Limits::discard_body_max_bytes`], the limit of a `Content-Length` body).

use super::request::{hex_value, is_token_byte};

/// Most hex digits in a chunk size. Sixteen digits hold any `u64`, so the size cannot overflow;
/// a longer size (even one padded with zeros) is refused as malformed.
pub const CHUNK_SIZE_DIGITS_MAX: usize = 16;

/// Longest chunk-size line, chunk extensions and CRLF included. Extensions carry nothing this
/// server uses; the cap keeps a client from sending a body of almost nothing but extensions.
pub const CHUNK_SIZE_LINE_MAX_BYTES: usize = 1024;

/// Largest trailer section after the last chunk, its final empty line included (RFC 9112
/// §7.1.2; the trailer fields are read and ignored).
pub const TRAILER_SECTION_MAX_BYTES: usize = 8 * 1024;

/// Why a chunked body was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkedError {
    /// The bytes do not follow the chunked grammar (RFC 9112 §7.1), or a chunk-size line is too
    /// long; the end of the body cannot be found, so the connection must close (§11.2).
    Malformed,
    /// The chunk sizes add up to more than the body limit.
    BodyTooLarge,
    /// The trailer section is longer than [`TRAILER_SECTION_MAX_BYTES`].
    TrailerSectionTooLarge,
}

/// What [`ChunkedDecoder::decode`] found in the bytes it was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkedProgress {
    /// Every byte belonged to the body and the body is not over yet: offer more.
    NeedMore,
    /// The body (trailer section included) ended after this many of the bytes; any that follow
    /// belong to the next request.
    Complete {
        /// Bytes of the offer that belonged to the body.
        consumed_bytes: usize,
    },
    /// The body is invalid; nothing more on the connection can be framed.
    Error(ChunkedError),
}

/// Where the decoder stands in the chunked grammar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// In the hex digits of a chunk size (none read yet at the start of the line).
    Size,
    /// After the size or an extension value, in the whitespace before a `;` (BWS).
    BeforeSemicolon,
    /// After a `;`, in the whitespace before an extension name.
    BeforeName,
    /// In an extension name.
    Name,
    /// After an extension name, in the whitespace before `=` or the next `;`.
    AfterName,
    /// After `=`, in the whitespace before the value.
    BeforeValue,
    /// In a token value.
    TokenValue,
    /// In a quoted-string value.
    QuotedValue,
    /// After a backslash in a quoted-string value (quoted-pair).
    QuotedPair,
    /// After the closing quote of a value.
    AfterQuotedValue,
    /// After the CR that ends the chunk-size line; the LF must follow.
    SizeLineLf,
    /// In chunk data: this many bytes are left.
    Data,
    /// After a chunk's data; its CR must follow.
    DataCr,
    /// After the CR that follows a chunk's data; the LF must follow.
    DataLf,
    /// At the start of a trailer field line, or of the final empty line.
    TrailerLineStart,
    /// In a trailer field name.
    TrailerName,
    /// In a trailer field value.
    TrailerValue,
    /// After the CR that ends a trailer field line; the LF must follow.
    TrailerLineLf,
    /// After the CR of the final empty line; the LF must follow.
    FinalLf,
    /// The body is over.
    Done,
    /// The body was refused.
    Failed(ChunkedError),
}

/// The decoder of one chunked body (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkedDecoder {
    state: State,
    /// The largest sum of chunk sizes accepted.
    body_max_bytes: u64,
    /// The sum of the sizes of the chunks read so far (the current one included once its size
    /// is read).
    body_bytes: u64,
    /// The size of the chunk whose size line is being read, then the bytes of its data left.
    chunk_bytes: u64,
    /// Hex digits of the current chunk size.
    size_digits: usize,
    /// Bytes of the current chunk-size line so far.
    size_line_bytes: usize,
    /// Bytes of the trailer section so far.
    trailer_bytes: usize,
}

impl ChunkedDecoder {
    /// A decoder at the start of a body whose chunk sizes may add up to `body_max_bytes`.
    pub fn new(body_max_bytes: u64) -> Self {
        ChunkedDecoder {
            state: State::Size,
            body_max_bytes,
            body_bytes: 0,
            chunk_bytes: 0,
            size_digits: 0,
            size_line_bytes: 0,
            trailer_bytes: 0,
        }
    }

    /// The sum of the chunk sizes read so far.
    pub fn body_bytes(&self) -> u64 {
        self.body_bytes
    }

    /// Decodes the next bytes of the body, as they arrived. Never panics; after the body ended
    /// or was refused, every further call reports the same outcome and consumes nothing.
    pub fn decode(&mut self, bytes: &[u8]) -> ChunkedProgress {
        let mut position = 0usize;
        while position < bytes.len() {
            match self.state {
                State::Done => return ChunkedProgress::Complete { consumed_bytes: 0 },
                State::Failed(error) => return ChunkedProgress::Error(error),
                State::Data => {
                    // Skip the whole run of data that is here, without looking at it.
                    let available = (bytes.len() - position) as u64;
                    let skipped = self.chunk_bytes.min(available);
                    self.chunk_bytes -= skipped;
                    // `skipped` is at most `available`, a usize.
                    position += usize::try_from(skipped).unwrap_or(bytes.len() - position);
                    if self.chunk_bytes == 0 {
                        self.state = State::DataCr;
                    }
                }
                _ => {
                    let Some(&byte) = bytes.get(position) else {
                        break;
                    };
                    position += 1;
                    self.state = self.step(byte);
                    match self.state {
                        State::Done => {
                            return ChunkedProgress::Complete {
                                consumed_bytes: position,
                            };
                        }
                        State::Failed(error) => return ChunkedProgress::Error(error),
                        _ => {}
                    }
                }
            }
        }
        match self.state {
            State::Done => ChunkedProgress::Complete { consumed_bytes: 0 },
            State::Failed(error) => ChunkedProgress::Error(error),
            _ => ChunkedProgress::NeedMore,
        }
    }

    /// The state after `byte` (every state but `Data`, `Done` and `Failed`).
    fn step(&mut self, byte: u8) -> State {
        let malformed = State::Failed(ChunkedError::Malformed);
        if self.in_size_line() {
            self.size_line_bytes += 1;
            if self.size_line_bytes > CHUNK_SIZE_LINE_MAX_BYTES {
                return malformed;
            }
        } else if self.in_trailer_section() {
            self.trailer_bytes += 1;
            if self.trailer_bytes > TRAILER_SECTION_MAX_BYTES {
                return State::Failed(ChunkedError::TrailerSectionTooLarge);
            }
        }
        let whitespace = byte == b' ' || byte == b'\t';
        match self.state {
            State::Size => {
                if let Some(digit) = hex_value(byte) {
                    self.size_digits += 1;
                    if self.size_digits > CHUNK_SIZE_DIGITS_MAX {
                        return malformed;
                    }
                    // At most 16 digits, so this cannot overflow; checked anyway.
                    let Some(size) = self
                        .chunk_bytes
                        .checked_mul(16)
                        .and_then(|size| size.checked_add(u64::from(digit)))
                    else {
                        return malformed;
                    };
                    self.chunk_bytes = size;
                    // Refuse as soon as the size alone is too much, not after its data.
                    if size > self.body_max_bytes.saturating_sub(self.body_bytes) {
                        return State::Failed(ChunkedError::BodyTooLarge);
                    }
                    return State::Size;
                }
                if self.size_digits == 0 {
                    return malformed;
                }
                match byte {
                    b'\r' => State::SizeLineLf,
                    b';' => State::BeforeName,
                    _ if whitespace => State::BeforeSemicolon,
                    _ => malformed,
                }
            }
            State::BeforeSemicolon => match byte {
                b';' => State::BeforeName,
                _ if whitespace => State::BeforeSemicolon,
                _ => malformed,
            },
            State::BeforeName => match byte {
                _ if whitespace => State::BeforeName,
                _ if is_token_byte(byte) => State::Name,
                _ => malformed,
            },
            State::Name => match byte {
                b'\r' => State::SizeLineLf,
                b';' => State::BeforeName,
                b'=' => State::BeforeValue,
                _ if whitespace => State::AfterName,
                _ if is_token_byte(byte) => State::Name,
                _ => malformed,
            },
            State::AfterName => match byte {
                b';' => State::BeforeName,
                b'=' => State::BeforeValue,
                _ if whitespace => State::AfterName,
                _ => malformed,
            },
            State::BeforeValue => match byte {
                b'"' => State::QuotedValue,
                _ if whitespace => State::BeforeValue,
                _ if is_token_byte(byte) => State::TokenValue,
                _ => malformed,
            },
            State::TokenValue => match byte {
                b'\r' => State::SizeLineLf,
                b';' => State::BeforeName,
                _ if whitespace => State::BeforeSemicolon,
                _ if is_token_byte(byte) => State::TokenValue,
                _ => malformed,
            },
            // RFC 9110 §5.6.4: qdtext = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text.
            State::QuotedValue => match byte {
                b'"' => State::AfterQuotedValue,
                b'\\' => State::QuotedPair,
                b'\t' | b' ' | 0x21 | 0x23..=0x5b | 0x5d..=0x7e | 0x80..=0xff => State::QuotedValue,
                _ => malformed,
            },
            // quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text ).
            State::QuotedPair => match byte {
                b'\t' | b' ' | 0x21..=0x7e | 0x80..=0xff => State::QuotedValue,
                _ => malformed,
            },
            State::AfterQuotedValue => match byte {
                b'\r' => State::SizeLineLf,
                b';' => State::BeforeName,
                _ if whitespace => State::BeforeSemicolon,
                _ => malformed,
            },
            State::SizeLineLf => {
                if byte != b'\n' {
                    return malformed;
                }
                self.size_digits = 0;
                self.size_line_bytes = 0;
                if self.chunk_bytes == 0 {
                    // RFC 9112 §7.1: last-chunk, then the trailer section.
                    return State::TrailerLineStart;
                }
                self.body_bytes = self.body_bytes.saturating_add(self.chunk_bytes);
                State::Data
            }
            State::DataCr => match byte {
                b'\r' => State::DataLf,
                _ => malformed,
            },
            State::DataLf => match byte {
                b'\n' => State::Size,
                _ => malformed,
            },
            State::TrailerLineStart => match byte {
                b'\r' => State::FinalLf,
                // RFC 9112 §2.2: a bare LF may end a field line (as in the header section).
                b'\n' => State::Done,
                _ if is_token_byte(byte) => State::TrailerName,
                // Whitespace here would be obs-fold or a space before the name (§5.1, §5.2).
                _ => malformed,
            },
            // RFC 9112 §5.1: no whitespace between the field name and the colon.
            State::TrailerName => match byte {
                b':' => State::TrailerValue,
                _ if is_token_byte(byte) => State::TrailerName,
                _ => malformed,
            },
            // RFC 9110 §5.5: field-vchar, SP, HTAB, obs-text.
            State::TrailerValue => match byte {
                b'\r' => State::TrailerLineLf,
                b'\n' => State::TrailerLineStart,
                b'\t' | b' ' | 0x21..=0x7e | 0x80..=0xff => State::TrailerValue,
                _ => malformed,
            },
            State::TrailerLineLf => match byte {
                b'\n' => State::TrailerLineStart,
                _ => malformed,
            },
            State::FinalLf => match byte {
                b'\n' => State::Done,
                _ => malformed,
            },
            // `decode` never steps these.
            State::Data | State::Done | State::Failed(_) => self.state,
        }
    }

    /// Whether the next byte belongs to a chunk-size line.
    fn in_size_line(&self) -> bool {
        matches!(
            self.state,
            State::Size
                | State::BeforeSemicolon
                | State::BeforeName
                | State::Name
                | State::AfterName
                | State::BeforeValue
                | State::TokenValue
                | State::QuotedValue
                | State::QuotedPair
                | State::AfterQuotedValue
                | State::SizeLineLf
        )
    }

    /// Whether the next byte belongs to the trailer section.
    fn in_trailer_section(&self) -> bool {
        matches!(
            self.state,
            State::TrailerLineStart
                | State::TrailerName
                | State::TrailerValue
                | State::TrailerLineLf
                | State::FinalLf
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
