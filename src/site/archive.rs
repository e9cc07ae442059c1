//! Reader of the site archive: POSIX ustar with pax extended headers, over a borrowed byte slice.
//!
//! The format is POSIX.1-2017 XCU `pax` ("ustar Interchange Format" and "pax Interchange
//! Format"); `tools/sitepack` writes it at build time. The reader is defensive even though the
//! packer already refuses bad input: every header's checksum, magic and numeric fields are
//! checked, every size must lie inside the archive, and anything that is not a regular file with a
//! safe relative UTF-8 path is refused with a [`TarError`] naming the entry and the byte offset of
//! its header. It never panics: offsets use checked arithmetic and slices come from `get`.
//!
//! Understood beyond plain ustar: pax `x` headers (`path`, `size`, `mtime` and the vendor record
//! `BARESERVE.etag`), pax `g` headers (syntax checked, contents ignored), GNU `L` long names and
//! `K` long link names, GNU base-256 numbers, and the old GNU magic (`"ustar  \0"`). Directory
//! entries are skipped: directories are implied by the file paths.

use alloc::borrow::Cow;
use alloc::string::{String, ToString};
use core::fmt;

pub use super::rules::{PathProblem, check_path, is_strong_etag};

/// Size of a tar block (POSIX ustar: "a series of 512-byte blocks").
pub const BLOCK_BYTES: usize = 512;

/// The pax vendor keyword (POSIX pax: `VENDOR.keyword`) under which `sitepack` stores each file's
/// strong ETag.
pub const ETAG_PAX_KEYWORD: &str = "BARESERVE.etag";

/// One regular file of the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry<'a> {
    /// Relative path, `/`-separated, checked safe. Borrowed from the archive unless it had to be
    /// assembled from the ustar `prefix` and `name` fields.
    pub path: Cow<'a, str>,
    /// The file's content, a slice of the archive.
    pub body: &'a [u8],
    /// Modification time in seconds since the Unix epoch (pax `mtime` if present, else ustar).
    pub modified_unix_s: u64,
    /// The strong ETag from the `BARESERVE.etag` pax record, with its quotes, if present.
    pub etag: Option<&'a str>,
    /// Byte offset of the entry's first header (its pax or GNU extended header, if any).
    pub header_offset: usize,
}

/// Why the archive was refused: what, where, and for which entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TarError {
    /// Byte offset of the header block at fault (or of the end of the archive).
    pub offset: usize,
    /// The entry's name as far as it was read (lossy UTF-8), if any.
    pub entry: Option<String>,
    /// What is wrong.
    pub kind: TarErrorKind,
}

/// The kinds of [`TarError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TarErrorKind {
    /// A header or a file's data runs past the end of the archive.
    Truncated,
    /// The header checksum does not match, neither the unsigned sum (POSIX) nor the signed one
    /// (old Sun and GNU writers).
    BadChecksum {
        /// The value in the `chksum` field.
        stored: u64,
        /// The unsigned sum computed over the block.
        computed: u64,
    },
    /// A numeric field is not octal (or GNU base-256), or does not fit.
    BadNumber {
        /// The field (`size`, `mtime`, `chksum`, …).
        field: &'static str,
    },
    /// Neither the POSIX `ustar\0` `00` magic nor the GNU `ustar ` ` \0` one.
    BadMagic,
    /// A symbolic link, hard link, device, FIFO or unknown entry type (the typeflag byte).
    UnsupportedType {
        /// The typeflag byte.
        typeflag: u8,
    },
    /// The path is unsafe to serve.
    UnsafePath(PathProblem),
    /// The path is not valid UTF-8.
    PathNotUtf8,
    /// A pax extended header record is malformed (POSIX pax: `"%d %s=%s\n"`).
    BadPaxRecord,
    /// The `BARESERVE.etag` record is not a strong entity-tag (RFC 9110 §8.8.3).
    BadEtag,
    /// One zero block followed by a non-zero block: not a valid end of archive.
    LoneZeroBlock,
    /// An extended header (pax `x` or GNU `L`) with no entry after it.
    DanglingExtendedHeader,
}

impl fmt::Display for TarError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "site archive, offset {}", self.offset)?;
        if let Some(entry) = &self.entry {
            write!(formatter, ", entry {entry:?}")?;
        }
        write!(formatter, ": ")?;
        match self.kind {
            TarErrorKind::Truncated => write!(formatter, "truncated"),
            TarErrorKind::BadChecksum { stored, computed } => write!(
                formatter,
                "header checksum {stored:o} does not match the computed {computed:o}"
            ),
            TarErrorKind::BadNumber { field } => write!(formatter, "bad number in {field}"),
            TarErrorKind::BadMagic => write!(formatter, "not a ustar header"),
            TarErrorKind::UnsupportedType { typeflag } => write!(
                formatter,
                "entry type {:?} is not a regular file or directory",
                char::from(typeflag)
            ),
            TarErrorKind::UnsafePath(problem) => write!(formatter, "unsafe path: {problem:?}"),
            TarErrorKind::PathNotUtf8 => write!(formatter, "path is not UTF-8"),
            TarErrorKind::BadPaxRecord => write!(formatter, "malformed pax record"),
            TarErrorKind::BadEtag => write!(formatter, "ETag is not a strong entity-tag"),
            TarErrorKind::LoneZeroBlock => write!(formatter, "lone zero block"),
            TarErrorKind::DanglingExtendedHeader => {
                write!(formatter, "extended header without an entry")
            }
        }
    }
}

impl core::error::Error for TarError {}

/// Iterates over the regular files of `archive`. After the first error the iterator ends.
pub fn entries(archive: &[u8]) -> Entries<'_> {
    Entries {
        archive,
        offset: 0,
        finished: false,
    }
}

/// The iterator returned by [`entries`].
#[derive(Debug, Clone)]
pub struct Entries<'a> {
    archive: &'a [u8],
    offset: usize,
    finished: bool,
}

impl<'a> Iterator for Entries<'a> {
    type Item = Result<Entry<'a>, TarError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        match self.next_entry() {
            Ok(Some(entry)) => Some(Ok(entry)),
            Ok(None) => {
                self.finished = true;
                None
            }
            Err(error) => {
                self.finished = true;
                Some(Err(error))
            }
        }
    }
}

impl core::iter::FusedIterator for Entries<'_> {}

/// What extended headers said about the next entry.
#[derive(Debug, Default)]
struct Extended<'a> {
    path: Option<&'a str>,
    gnu_long_name: Option<&'a [u8]>,
    size_bytes: Option<u64>,
    modified_unix_s: Option<u64>,
    etag: Option<&'a str>,
    first_header_offset: Option<usize>,
}

/// The fields of one header block that the reader uses.
struct Header<'a> {
    name: &'a [u8],
    prefix: &'a [u8],
    typeflag: u8,
    size_bytes: u64,
    modified_unix_s: u64,
}

impl<'a> Entries<'a> {
    fn next_entry(&mut self) -> Result<Option<Entry<'a>>, TarError> {
        let mut extended = Extended::default();
        loop {
            let header_offset = self.offset;
            let error = |entry: Option<String>, kind| TarError {
                offset: header_offset,
                entry,
                kind,
            };
            let remaining = self.archive.get(header_offset..).unwrap_or(&[]);
            let Some(block) = remaining.get(..BLOCK_BYTES) else {
                // No room for another header. Tolerate a missing end-of-archive marker, or a
                // partial block of zeros, but not a partial header.
                if !is_zero(remaining) {
                    return Err(error(None, TarErrorKind::Truncated));
                }
                return end_of_archive(&extended);
            };
            if is_zero(block) {
                // POSIX ustar: the archive ends with two zero blocks. A lone zero block followed
                // by a non-zero one is corruption (GNU tar, too, stops there with a warning).
                let next = remaining.get(BLOCK_BYTES..2 * BLOCK_BYTES);
                if next.is_some_and(|next| !is_zero(next)) {
                    return Err(error(None, TarErrorKind::LoneZeroBlock));
                }
                return end_of_archive(&extended);
            }

            let header = parse_header(block)
                .map_err(|kind| error(Some(lossy_name(block.get(..100).unwrap_or(&[]))), kind))?;
            let raw_name = || Some(lossy_name(header.name));
            // pax: a `size` record applies to the entry that follows, not to extended headers.
            let is_extended_header = matches!(header.typeflag, b'x' | b'g' | b'L' | b'K');
            let size_bytes = if is_extended_header {
                header.size_bytes
            } else {
                extended.size_bytes.unwrap_or(header.size_bytes)
            };
            let data_offset = header_offset
                .checked_add(BLOCK_BYTES)
                .ok_or_else(|| error(raw_name(), TarErrorKind::Truncated))?;
            let data_end = usize::try_from(size_bytes)
                .ok()
                .and_then(|size| data_offset.checked_add(size))
                .ok_or_else(|| error(raw_name(), TarErrorKind::Truncated))?;
            let data = self
                .archive
                .get(data_offset..data_end)
                .ok_or_else(|| error(raw_name(), TarErrorKind::Truncated))?;
            // The content is padded to a whole block; tolerate a missing pad after the last one.
            let padded_end = data_end
                .checked_next_multiple_of(BLOCK_BYTES)
                .unwrap_or(usize::MAX);
            self.offset = padded_end.min(self.archive.len());
            extended.first_header_offset.get_or_insert(header_offset);

            match header.typeflag {
                b'x' => parse_pax_records(data, &mut extended)
                    .map_err(|kind| error(raw_name(), kind))?,
                b'g' => parse_pax_records(data, &mut Extended::default())
                    .map_err(|kind| error(raw_name(), kind))?,
                b'L' => {
                    let end = data
                        .iter()
                        .position(|&byte| byte == 0)
                        .unwrap_or(data.len());
                    extended.gnu_long_name = data.get(..end);
                }
                b'K' => {} // GNU long link name: the link that follows is refused anyway.
                b'0' | b'\0' | b'7' | b'5' => {
                    let entry_offset = extended.first_header_offset.unwrap_or(header_offset);
                    let path = resolve_path(&header, &extended).map_err(|kind| TarError {
                        offset: entry_offset,
                        entry: raw_name(),
                        kind,
                    })?;
                    // A directory, or an old-style (pre-POSIX) one: a regular file named `…/`.
                    let is_directory = header.typeflag == b'5'
                        || (header.typeflag == b'\0' && path.ends_with('/'));
                    let path = strip_path(path, is_directory);
                    // The root itself (`tar -C site .` stores `./`) is implied, like every
                    // directory.
                    if is_directory && (path == "." || path == "./") {
                        extended = Extended::default();
                        continue;
                    }
                    check_path(&path).map_err(|problem| TarError {
                        offset: entry_offset,
                        entry: Some(path.to_string()),
                        kind: TarErrorKind::UnsafePath(problem),
                    })?;
                    if is_directory {
                        extended = Extended::default();
                        continue;
                    }
                    return Ok(Some(Entry {
                        path,
                        body: data,
                        modified_unix_s: extended.modified_unix_s.unwrap_or(header.modified_unix_s),
                        etag: extended.etag,
                        header_offset: entry_offset,
                    }));
                }
                typeflag => {
                    return Err(error(
                        raw_name(),
                        TarErrorKind::UnsupportedType { typeflag },
                    ));
                }
            }
        }
    }
}

/// The end of the archive: fine unless an extended header is left without its entry.
fn end_of_archive<'a>(extended: &Extended<'_>) -> Result<Option<Entry<'a>>, TarError> {
    match extended.first_header_offset {
        Some(extended_offset) => Err(TarError {
            offset: extended_offset,
            entry: None,
            kind: TarErrorKind::DanglingExtendedHeader,
        }),
        None => Ok(None),
    }
}

/// The header block's byte sums, unsigned and signed, with the chksum field (148..156) taken as
/// eight spaces: the block summed eight bytes at a time, the field's own bytes taken back out
/// after. A loop that tested every index for the field, a byte at a time, cost ~4,600
/// instructions per header at boot.
fn header_sums(block: &[u8]) -> (u64, i64) {
    let chksum_field = block.get(148..block.len().min(156)).unwrap_or_default();
    let unsigned_sum = bytes_sum(block, u64::MAX) - bytes_sum(chksum_field, u64::MAX)
        + chksum_field.len() as u64 * u64::from(b' ');
    // A byte read as signed is 256 less when its high bit is set; the high bits alone sum to
    // 128 per such byte.
    const HIGH_BITS: u64 = 0x8080_8080_8080_8080;
    let high_count = (bytes_sum(block, HIGH_BITS) - bytes_sum(chksum_field, HIGH_BITS)) / 128;
    (unsigned_sum, unsigned_sum as i64 - 256 * high_count as i64)
}

/// The sum of `bytes`, each masked with the matching byte of `mask` (a repeated pattern):
/// eight bytes per step, added as four 16-bit lanes that are emptied every 256 bytes (32
/// steps of at most 510 per lane cannot overflow one).
fn bytes_sum(bytes: &[u8], mask: u64) -> u64 {
    const EVEN_BYTES: u64 = 0x00ff_00ff_00ff_00ff;
    let mut total = 0u64;
    for group in bytes.chunks(256) {
        let mut lanes = 0u64;
        let mut words = group.chunks_exact(8);
        for word in &mut words {
            let mut eight = [0u8; 8];
            eight.copy_from_slice(word);
            let value = u64::from_le_bytes(eight) & mask;
            lanes += (value & EVEN_BYTES) + ((value >> 8) & EVEN_BYTES);
        }
        total += (0..4)
            .map(|lane| (lanes >> (16 * lane)) & 0xffff)
            .sum::<u64>();
        total += words
            .remainder()
            .iter()
            .map(|&byte| u64::from(byte) & (mask & 0xff))
            .sum::<u64>();
    }
    total
}

/// Checks and decodes one header block.
fn parse_header(block: &[u8]) -> Result<Header<'_>, TarErrorKind> {
    let field = |start: usize, length: usize| block.get(start..start + length).unwrap_or(&[]);

    // POSIX ustar: "the simple sum of all bytes in the header block ... treating each byte as an
    // unsigned value", with the chksum field (148..156) taken as eight spaces. Some historic
    // writers summed signed bytes; GNU tar accepts both, and so does this reader.
    let stored = parse_number(field(148, 8)).ok_or(TarErrorKind::BadNumber { field: "chksum" })?;
    let (unsigned_sum, signed_sum) = header_sums(block);
    if stored != unsigned_sum && i64::try_from(stored).ok() != Some(signed_sum) {
        return Err(TarErrorKind::BadChecksum {
            stored,
            computed: unsigned_sum,
        });
    }

    let magic = field(257, 6);
    let version = field(263, 2);
    let is_posix = magic == b"ustar\0" && version == b"00";
    let is_old_gnu = magic == b"ustar " && version == b" \0";
    if !is_posix && !is_old_gnu {
        return Err(TarErrorKind::BadMagic);
    }

    Ok(Header {
        name: until_nul(field(0, 100)),
        // The old GNU format uses these bytes for access and change times, not a prefix.
        prefix: if is_posix {
            until_nul(field(345, 155))
        } else {
            &[]
        },
        typeflag: block.get(156).copied().unwrap_or(0),
        size_bytes: parse_number(field(124, 12))
            .ok_or(TarErrorKind::BadNumber { field: "size" })?,
        modified_unix_s: parse_number(field(136, 12))
            .ok_or(TarErrorKind::BadNumber { field: "mtime" })?,
    })
}

/// A numeric header field: octal digits, optionally led by spaces and ended by NULs or spaces
/// (POSIX ustar), or GNU base-256 (first byte 0x80, then a big-endian value) for values too large
/// for octal. Negative base-256 values (first byte 0xFF) are refused.
fn parse_number(field: &[u8]) -> Option<u64> {
    let (&first, rest) = field.split_first()?;
    if first & 0x80 != 0 {
        if first != 0x80 {
            return None;
        }
        return rest.iter().try_fold(0u64, |value, &byte| {
            value.checked_mul(256)?.checked_add(u64::from(byte))
        });
    }
    let digits_start = field.iter().position(|&byte| byte != b' ')?;
    let digits = field.get(digits_start..)?;
    let digits_end = digits
        .iter()
        .position(|byte| !(b'0'..=b'7').contains(byte))
        .unwrap_or(digits.len());
    if digits_end == 0 {
        return None;
    }
    let (number, terminator) = digits.split_at(digits_end);
    if !terminator.iter().all(|&byte| byte == 0 || byte == b' ') {
        return None;
    }
    number.iter().try_fold(0u64, |value, &digit| {
        value.checked_mul(8)?.checked_add(u64::from(digit - b'0'))
    })
}

/// Reads the records of a pax extended header (POSIX.1-2017 XCU pax, "pax Extended Header"):
/// `"%d %s=%s\n"`, the decimal length counting the whole record. Unknown keywords are ignored, as
/// the standard allows; an empty value removes the keyword's earlier value.
fn parse_pax_records<'a>(data: &'a [u8], extended: &mut Extended<'a>) -> Result<(), TarErrorKind> {
    let mut rest = data;
    while !rest.is_empty() {
        // Some writers pad the header data with NULs; nothing may follow the padding.
        if is_zero(rest) {
            break;
        }
        let space = rest
            .iter()
            .take(20)
            .position(|&byte| byte == b' ')
            .ok_or(TarErrorKind::BadPaxRecord)?;
        let length = parse_decimal(rest.get(..space).unwrap_or(&[]))
            .and_then(|length| usize::try_from(length).ok())
            .ok_or(TarErrorKind::BadPaxRecord)?;
        let record = rest.get(..length).ok_or(TarErrorKind::BadPaxRecord)?;
        let (&last, record_without_newline) =
            record.split_last().ok_or(TarErrorKind::BadPaxRecord)?;
        if last != b'\n' {
            return Err(TarErrorKind::BadPaxRecord);
        }
        let body = record_without_newline
            .get(space + 1..)
            .ok_or(TarErrorKind::BadPaxRecord)?;
        let equals = body
            .iter()
            .position(|&byte| byte == b'=')
            .ok_or(TarErrorKind::BadPaxRecord)?;
        let keyword = body.get(..equals).unwrap_or(&[]);
        let value = body.get(equals + 1..).unwrap_or(&[]);
        match keyword {
            b"path" => {
                extended.path = if value.is_empty() {
                    None
                } else {
                    Some(core::str::from_utf8(value).map_err(|_| TarErrorKind::PathNotUtf8)?)
                };
            }
            b"size" => {
                extended.size_bytes = if value.is_empty() {
                    None
                } else {
                    Some(
                        parse_decimal(value)
                            .ok_or(TarErrorKind::BadNumber { field: "pax size" })?,
                    )
                };
            }
            b"mtime" => {
                extended.modified_unix_s = if value.is_empty() {
                    None
                } else {
                    Some(
                        parse_pax_time(value)
                            .ok_or(TarErrorKind::BadNumber { field: "pax mtime" })?,
                    )
                };
            }
            _ if keyword == ETAG_PAX_KEYWORD.as_bytes() => {
                extended.etag = if value.is_empty() {
                    None
                } else {
                    let etag = core::str::from_utf8(value).map_err(|_| TarErrorKind::BadEtag)?;
                    if !is_strong_etag(etag) {
                        return Err(TarErrorKind::BadEtag);
                    }
                    Some(etag)
                };
            }
            _ => {}
        }
        rest = rest.get(length..).unwrap_or(&[]);
    }
    Ok(())
}

/// A non-empty string of ASCII decimal digits, without overflow.
fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |value, &digit| {
        if !digit.is_ascii_digit() {
            return None;
        }
        value.checked_mul(10)?.checked_add(u64::from(digit - b'0'))
    })
}

/// A pax time (`[-]seconds[.fraction]`), truncated to whole seconds; times before the epoch
/// become 0.
fn parse_pax_time(value: &[u8]) -> Option<u64> {
    let (negative, unsigned) = match value.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, value),
    };
    let (seconds, fraction) = match unsigned.iter().position(|&byte| byte == b'.') {
        Some(dot) => (unsigned.get(..dot)?, unsigned.get(dot + 1..)?),
        None => (unsigned, &[][..]),
    };
    if !fraction.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let seconds = parse_decimal(seconds)?;
    Some(if negative { 0 } else { seconds })
}

/// The entry's path: pax `path`, else the GNU long name, else ustar `prefix` `/` `name`.
fn resolve_path<'a>(
    header: &Header<'a>,
    extended: &Extended<'a>,
) -> Result<Cow<'a, str>, TarErrorKind> {
    if let Some(path) = extended.path {
        return Ok(Cow::Borrowed(path));
    }
    let utf8 = |bytes: &'a [u8]| core::str::from_utf8(bytes).map_err(|_| TarErrorKind::PathNotUtf8);
    if let Some(long_name) = extended.gnu_long_name {
        return Ok(Cow::Borrowed(utf8(long_name)?));
    }
    let name = utf8(header.name)?;
    if header.prefix.is_empty() {
        return Ok(Cow::Borrowed(name));
    }
    let prefix = utf8(header.prefix)?;
    let mut joined = String::with_capacity(prefix.len() + 1 + name.len());
    joined.push_str(prefix);
    joined.push('/');
    joined.push_str(name);
    Ok(Cow::Owned(joined))
}

/// Removes a leading `./` (archives made with `tar -C site .`) and, for directories, the trailing
/// `/`.
fn strip_path(path: Cow<'_, str>, is_directory: bool) -> Cow<'_, str> {
    let strip = |text: &str| -> (usize, usize) {
        let start = if text.starts_with("./") && text.len() > 2 {
            2
        } else {
            0
        };
        let end = if is_directory && text.len() > start + 1 && text.ends_with('/') {
            text.len() - 1
        } else {
            text.len()
        };
        (start, end)
    };
    match path {
        Cow::Borrowed(text) => {
            let (start, end) = strip(text);
            Cow::Borrowed(text.get(start..end).unwrap_or(text))
        }
        Cow::Owned(text) => {
            let (start, end) = strip(&text);
            match text.get(start..end) {
                Some(stripped) if stripped.len() != text.len() => Cow::Owned(stripped.to_string()),
                _ => Cow::Owned(text),
            }
        }
    }
}

fn is_zero(bytes: &[u8]) -> bool {
    bytes.iter().all(|&byte| byte == 0)
}

fn until_nul(field: &[u8]) -> &[u8] {
    let end = field
        .iter()
        .position(|&byte| byte == 0)
        .unwrap_or(field.len());
    field.get(..end).unwrap_or(field)
}

fn lossy_name(name: &[u8]) -> String {
    String::from_utf8_lossy(until_nul(name)).into_owned()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
