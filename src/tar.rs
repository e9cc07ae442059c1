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

pub use crate::site_rules::{PathProblem, check_path, is_strong_etag};

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

/// Checks and decodes one header block.
fn parse_header(block: &[u8]) -> Result<Header<'_>, TarErrorKind> {
    let field = |start: usize, length: usize| block.get(start..start + length).unwrap_or(&[]);

    // POSIX ustar: "the simple sum of all bytes in the header block ... treating each byte as an
    // unsigned value", with the chksum field (148..156) taken as eight spaces. Some historic
    // writers summed signed bytes; GNU tar accepts both, and so does this reader.
    let stored = parse_number(field(148, 8)).ok_or(TarErrorKind::BadNumber { field: "chksum" })?;
    let mut unsigned_sum: u64 = 0;
    let mut signed_sum: i64 = 0;
    for (index, &byte) in block.iter().enumerate() {
        let byte = if (148..156).contains(&index) {
            b' '
        } else {
            byte
        };
        unsigned_sum += u64::from(byte);
        signed_sum += i64::from(byte as i8);
    }
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
mod tests {
    use super::*;
    use alloc::vec::Vec;
    use alloc::{format, vec};
    use proptest::prelude::*;
    use sitepack::ArchiveBuilder;

    /// A ustar header block with the POSIX magic and a correct checksum.
    fn header(name: &[u8], typeflag: u8, size_bytes: u64) -> [u8; BLOCK_BYTES] {
        let mut block = [0u8; BLOCK_BYTES];
        block[..name.len()].copy_from_slice(name);
        block[100..108].copy_from_slice(b"0000644\0");
        block[124..136].copy_from_slice(format!("{size_bytes:011o}\0").as_bytes());
        block[136..148].copy_from_slice(format!("{:011o}\0", 1_234_567).as_bytes());
        block[156] = typeflag;
        block[257..265].copy_from_slice(b"ustar\x0000");
        fix_checksum(&mut block);
        block
    }

    fn fix_checksum(block: &mut [u8; BLOCK_BYTES]) {
        block[148..156].copy_from_slice(b"        ");
        let sum: u32 = block.iter().map(|&byte| u32::from(byte)).sum();
        block[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    }

    /// Header, content padded to a block, for each member; then two zero blocks.
    fn archive(members: &[([u8; BLOCK_BYTES], &[u8])]) -> Vec<u8> {
        let mut bytes = Vec::new();
        for (block, content) in members {
            bytes.extend_from_slice(block);
            bytes.extend_from_slice(content);
            bytes.resize(bytes.len().next_multiple_of(BLOCK_BYTES), 0);
        }
        bytes.resize(bytes.len() + 2 * BLOCK_BYTES, 0);
        bytes
    }

    fn read_all(bytes: &[u8]) -> Result<Vec<Entry<'_>>, TarError> {
        entries(bytes).collect()
    }

    fn error_of(bytes: &[u8]) -> TarError {
        read_all(bytes).unwrap_err()
    }

    fn sample_archive() -> Vec<u8> {
        let mut builder = ArchiveBuilder::new();
        builder
            .append_file("index.html", 1_700_000_000, b"<h1>hi</h1>", "\"aaaa\"")
            .unwrap();
        builder.append_file("empty", 7, b"", "\"bbbb\"").unwrap();
        builder
            .append_file("docs/über/файл.html", 8, &[b'x'; 600], "\"cccc\"")
            .unwrap();
        builder.finish()
    }

    #[test]
    fn reads_files_written_by_sitepack() {
        let bytes = sample_archive();
        let files = read_all(&bytes).unwrap();
        let summary: Vec<(&str, usize, u64, Option<&str>, usize)> = files
            .iter()
            .map(|entry| {
                (
                    entry.path.as_ref(),
                    entry.body.len(),
                    entry.modified_unix_s,
                    entry.etag,
                    entry.header_offset,
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("index.html", 11, 1_700_000_000, Some("\"aaaa\""), 0),
                ("empty", 0, 7, Some("\"bbbb\""), 4 * BLOCK_BYTES),
                (
                    "docs/über/файл.html",
                    600,
                    8,
                    Some("\"cccc\""),
                    7 * BLOCK_BYTES
                ),
            ]
        );
        assert_eq!(files[0].body, b"<h1>hi</h1>");
        assert_eq!(files[2].body, &[b'x'; 600][..]);
        // The bodies are slices of the archive itself.
        assert_eq!(files[0].body.as_ptr(), bytes[3 * BLOCK_BYTES..].as_ptr());
        // The pax path is borrowed too.
        assert!(matches!(files[2].path, Cow::Borrowed(_)));
    }

    #[test]
    fn long_names_from_prefix_and_pax() {
        let prefixed = format!("{}/{}", "d".repeat(120), "f".repeat(90));
        let very_long = format!("{}/{}", "d".repeat(300), "ü".repeat(80));
        let mut builder = ArchiveBuilder::new();
        builder.append_file(&prefixed, 0, b"1", "\"1\"").unwrap();
        builder.append_file(&very_long, 0, b"2", "\"2\"").unwrap();
        let bytes = builder.finish();
        let files = read_all(&bytes).unwrap();
        assert_eq!(files[0].path, prefixed);
        assert!(matches!(files[0].path, Cow::Owned(_)));
        assert_eq!(files[1].path, very_long);
        assert_eq!(files[1].body, b"2");
    }

    #[test]
    fn plain_ustar_without_pax() {
        let bytes = archive(&[(header(b"a.txt", b'0', 3), b"abc")]);
        let files = read_all(&bytes).unwrap();
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].path, "a.txt");
        assert_eq!(files[0].body, b"abc");
        assert_eq!(files[0].modified_unix_s, 1_234_567);
        assert_eq!(files[0].etag, None);
    }

    #[test]
    fn ustar_prefix_joins_with_slash() {
        let mut block = header(b"name.txt", b'0', 1);
        block[345..351].copy_from_slice(b"pre/fx");
        fix_checksum(&mut block);
        let bytes = archive(&[(block, b"z")]);
        assert_eq!(read_all(&bytes).unwrap()[0].path, "pre/fx/name.txt");
    }

    #[test]
    fn skips_directories_and_dot_slash() {
        let bytes = archive(&[
            (header(b"./", b'5', 0), b""),
            (header(b"./docs/", b'5', 0), b""),
            (header(b"./docs/a.txt", b'0', 1), b"a"),
            (header(b"old/", b'\0', 0), b""),
            (header(b"b.txt", b'\0', 1), b"b"),
            (header(b"c.txt", b'7', 1), b"c"),
        ]);
        let paths: Vec<_> = read_all(&bytes)
            .unwrap()
            .into_iter()
            .map(|entry| entry.path.into_owned())
            .collect();
        assert_eq!(paths, ["docs/a.txt", "b.txt", "c.txt"]);
    }

    #[test]
    fn gnu_long_name_and_old_gnu_magic() {
        let long_name = "l".repeat(150);
        let mut long_header = header(b"././@LongLink", b'L', long_name.len() as u64 + 1);
        long_header[257..265].copy_from_slice(b"ustar  \0");
        fix_checksum(&mut long_header);
        let mut name_data = long_name.clone().into_bytes();
        name_data.push(0);
        let mut file_header = header(b"truncated", b'0', 2);
        file_header[257..265].copy_from_slice(b"ustar  \0");
        // Old GNU keeps atime here; it must not be read as a prefix.
        file_header[345..350].copy_from_slice(b"12345");
        fix_checksum(&mut file_header);
        let bytes = archive(&[(long_header, &name_data), (file_header, b"ok")]);
        let files = read_all(&bytes).unwrap();
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].path, long_name);
        assert_eq!(files[0].body, b"ok");
        assert_eq!(files[0].header_offset, 0);
    }

    #[test]
    fn pax_size_and_mtime_override_ustar() {
        let records = b"19 mtime=99.123456\n10 size=3\n";
        let bytes = archive(&[
            (header(b"PaxHeaders/x", b'x', records.len() as u64), records),
            (header(b"x", b'0', 0), b"xyz"),
        ]);
        let files = read_all(&bytes).unwrap();
        assert_eq!(files[0].body, b"xyz");
        assert_eq!(files[0].modified_unix_s, 99);
    }

    #[test]
    fn global_pax_header_is_checked_and_ignored() {
        let records = b"10 path=g\n";
        let bytes = archive(&[
            (header(b"global", b'g', records.len() as u64), records),
            (header(b"f", b'0', 1), b"f"),
        ]);
        assert_eq!(read_all(&bytes).unwrap()[0].path, "f");
    }

    #[test]
    fn base256_size_and_signed_checksum() {
        let mut block = header(b"b", b'0', 0);
        block[124..136].copy_from_slice(&[0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4]);
        block[200] = 0xff; // in linkname: unsigned and signed sums now differ
        block[148..156].copy_from_slice(b"        ");
        let signed: i64 = block.iter().map(|&byte| i64::from(byte as i8)).sum();
        block[148..156].copy_from_slice(format!("{signed:06o}\0 ").as_bytes());
        let bytes = archive(&[(block, b"four")]);
        let files = read_all(&bytes).unwrap();
        assert_eq!(files[0].body, b"four");
    }

    #[test]
    fn end_of_archive_variants() {
        let one = header(b"one", b'0', 1);
        let mut no_end = Vec::from(one);
        no_end.extend_from_slice(b"1");
        // No end blocks, not even the padding after the last content.
        assert_eq!(read_all(&no_end).unwrap().len(), 1);
        let mut padded = no_end.clone();
        padded.resize(2 * BLOCK_BYTES, 0);
        assert_eq!(read_all(&padded).unwrap().len(), 1);
        let mut one_zero_block = padded.clone();
        one_zero_block.resize(3 * BLOCK_BYTES, 0);
        assert_eq!(read_all(&one_zero_block).unwrap().len(), 1);
        // Anything after two zero blocks is ignored.
        let mut trailing = one_zero_block.clone();
        trailing.resize(4 * BLOCK_BYTES, 0);
        trailing.extend_from_slice(&[0xaa; BLOCK_BYTES]);
        assert_eq!(read_all(&trailing).unwrap().len(), 1);
        assert_eq!(read_all(&[]).unwrap().len(), 0);
        assert_eq!(read_all(&[0; 100]).unwrap().len(), 0);
    }

    #[test]
    fn corrupt_archives_give_typed_errors() {
        let valid_pax = b"9 path=a\n";
        let mut bad_checksum = header(b"a", b'0', 0);
        bad_checksum[0] = b'b';
        let mut bad_size = header(b"a", b'0', 0);
        bad_size[124..136].copy_from_slice(b"0000000009a\0");
        fix_checksum(&mut bad_size);
        let mut bad_checksum_field = header(b"a", b'0', 0);
        bad_checksum_field[148..156].copy_from_slice(b"zzzzzz\0 ");
        let mut bad_magic = header(b"a", b'0', 0);
        bad_magic[257..263].copy_from_slice(b"ustaR\0");
        fix_checksum(&mut bad_magic);
        let mut negative_base256 = header(b"a", b'0', 0);
        negative_base256[124..136].copy_from_slice(&[0xff; 12]);
        fix_checksum(&mut negative_base256);

        let cases: Vec<(&str, Vec<u8>, usize, TarErrorKind)> = vec![
            (
                "bad checksum",
                archive(&[(bad_checksum, b"")]),
                0,
                // The values are checked in `bad_checksum_reports_both_values`.
                TarErrorKind::BadChecksum {
                    stored: 0,
                    computed: 0,
                },
            ),
            (
                "bad octal size",
                archive(&[(bad_size, b"")]),
                0,
                TarErrorKind::BadNumber { field: "size" },
            ),
            (
                "bad checksum field",
                archive(&[(bad_checksum_field, b"")]),
                0,
                TarErrorKind::BadNumber { field: "chksum" },
            ),
            (
                "bad magic",
                archive(&[(bad_magic, b"")]),
                0,
                TarErrorKind::BadMagic,
            ),
            (
                "negative base-256",
                archive(&[(negative_base256, b"")]),
                0,
                TarErrorKind::BadNumber { field: "size" },
            ),
            (
                "size past the end",
                Vec::from(header(b"a", b'0', 5000)),
                0,
                TarErrorKind::Truncated,
            ),
            (
                "truncated header",
                Vec::from(&header(b"a", b'0', 0)[..300]),
                0,
                TarErrorKind::Truncated,
            ),
            (
                "symbolic link",
                archive(&[(header(b"a", b'2', 0), b"")]),
                0,
                TarErrorKind::UnsupportedType { typeflag: b'2' },
            ),
            (
                "hard link",
                archive(&[(header(b"a", b'1', 0), b"")]),
                0,
                TarErrorKind::UnsupportedType { typeflag: b'1' },
            ),
            (
                "FIFO",
                archive(&[(header(b"a", b'6', 0), b"")]),
                0,
                TarErrorKind::UnsupportedType { typeflag: b'6' },
            ),
            (
                "unknown type",
                archive(&[(header(b"a", b'Z', 0), b"")]),
                0,
                TarErrorKind::UnsupportedType { typeflag: b'Z' },
            ),
            (
                "parent component",
                archive(&[(header(b"a/../../etc/passwd", b'0', 0), b"")]),
                0,
                TarErrorKind::UnsafePath(PathProblem::ParentComponent),
            ),
            (
                "absolute",
                archive(&[(header(b"/etc/passwd", b'0', 0), b"")]),
                0,
                TarErrorKind::UnsafePath(PathProblem::Absolute),
            ),
            (
                "empty component",
                archive(&[(header(b"a//b", b'0', 0), b"")]),
                0,
                TarErrorKind::UnsafePath(PathProblem::EmptyOrDotComponent),
            ),
            (
                "control character",
                archive(&[(header(b"a\rb", b'0', 0), b"")]),
                0,
                TarErrorKind::UnsafePath(PathProblem::ControlCharacter),
            ),
            (
                "backslash",
                archive(&[(header(b"a\\b", b'0', 0), b"")]),
                0,
                TarErrorKind::UnsafePath(PathProblem::Backslash),
            ),
            (
                "not UTF-8",
                archive(&[(header(b"caf\xe9", b'0', 0), b"")]),
                0,
                TarErrorKind::PathNotUtf8,
            ),
            (
                "directory with a parent component",
                archive(&[(header(b"../", b'5', 0), b"")]),
                0,
                TarErrorKind::UnsafePath(PathProblem::ParentComponent),
            ),
            (
                "pax path with NUL",
                archive(&[
                    (header(b"P", b'x', 11), b"11 path=\0a\n"),
                    (header(b"a", b'0', 0), b""),
                ]),
                0,
                TarErrorKind::UnsafePath(PathProblem::Nul),
            ),
            (
                "pax path with ..",
                archive(&[
                    (header(b"P", b'x', 11), b"11 path=..\n"),
                    (header(b"a", b'0', 0), b""),
                ]),
                0,
                TarErrorKind::UnsafePath(PathProblem::ParentComponent),
            ),
            (
                "pax record length wrong",
                archive(&[
                    (header(b"P", b'x', valid_pax.len() as u64), b"8 path=a\n"),
                    (header(b"a", b'0', 0), b""),
                ]),
                0,
                TarErrorKind::BadPaxRecord,
            ),
            (
                "pax record without =",
                archive(&[
                    (header(b"P", b'x', 9), b"9 patha\n\n"),
                    (header(b"a", b'0', 0), b""),
                ]),
                0,
                TarErrorKind::BadPaxRecord,
            ),
            (
                "pax length past the data",
                archive(&[
                    (header(b"P", b'x', 9), b"99 path=a"),
                    (header(b"a", b'0', 0), b""),
                ]),
                0,
                TarErrorKind::BadPaxRecord,
            ),
            (
                "weak etag",
                archive(&[
                    (header(b"P", b'x', 24), b"24 BARESERVE.etag=W/\"a\"\n"),
                    (header(b"a", b'0', 0), b""),
                ]),
                0,
                TarErrorKind::BadEtag,
            ),
            (
                "etag with a line break",
                archive(&[
                    (header(b"P", b'x', 24), b"24 BARESERVE.etag=\"a\r\nb\n"),
                    (header(b"a", b'0', 0), b""),
                ]),
                0,
                TarErrorKind::BadEtag,
            ),
            (
                "pax size not a number",
                archive(&[
                    (header(b"P", b'x', 11), b"11 size=-1\n"),
                    (header(b"a", b'0', 0), b""),
                ]),
                0,
                TarErrorKind::BadNumber { field: "pax size" },
            ),
            (
                "pax size past the end",
                archive(&[
                    (header(b"P", b'x', 15), b"15 size=999999\n"),
                    (header(b"a", b'0', 0), b""),
                ]),
                2 * BLOCK_BYTES,
                TarErrorKind::Truncated,
            ),
            (
                "dangling pax header",
                archive(&[(header(b"P", b'x', 9), valid_pax)]),
                0,
                TarErrorKind::DanglingExtendedHeader,
            ),
            (
                "lone zero block",
                {
                    let mut bytes = vec![0u8; BLOCK_BYTES];
                    bytes.extend_from_slice(&archive(&[(header(b"a", b'0', 0), b"")]));
                    bytes
                },
                0,
                TarErrorKind::LoneZeroBlock,
            ),
            (
                "error in the second entry",
                archive(&[(header(b"ok", b'0', 1), b"1"), (header(b"a", b'3', 0), b"")]),
                2 * BLOCK_BYTES,
                TarErrorKind::UnsupportedType { typeflag: b'3' },
            ),
        ];
        for (name, bytes, offset, kind) in cases {
            let error = error_of(&bytes);
            if let TarErrorKind::BadChecksum { .. } = kind {
                assert!(
                    matches!(error.kind, TarErrorKind::BadChecksum { .. }),
                    "{name}: {error}"
                );
            } else {
                assert_eq!(error.kind, kind, "{name}: {error}");
            }
            assert_eq!(error.offset, offset, "{name}: {error}");
        }
    }

    #[test]
    fn bad_checksum_reports_both_values() {
        let mut block = header(b"a", b'0', 0);
        let good: u64 = block[..148]
            .iter()
            .chain(&[b' '; 8])
            .chain(&block[156..])
            .map(|&byte| u64::from(byte))
            .sum();
        block[0] = b'c'; // two more than 'a'
        let error = error_of(&archive(&[(block, b"")]));
        assert_eq!(
            error,
            TarError {
                offset: 0,
                entry: Some("c".into()),
                kind: TarErrorKind::BadChecksum {
                    stored: good,
                    computed: good + 2
                },
            }
        );
        assert_eq!(
            format!("{error}"),
            format!(
                "site archive, offset 0, entry \"c\": header checksum {good:o} does not match the computed {:o}",
                good + 2
            )
        );
    }

    #[test]
    fn iteration_stops_after_an_error() {
        let bytes = archive(&[(header(b"a", b'2', 0), b""), (header(b"b", b'0', 0), b"")]);
        let mut iterator = entries(&bytes);
        assert!(matches!(iterator.next(), Some(Err(_))));
        assert!(iterator.next().is_none());
        assert!(iterator.next().is_none());
    }

    #[test]
    fn parse_number_table() {
        let cases: &[(&[u8], Option<u64>)] = &[
            (b"0000644\0", Some(0o644)),
            (b"  644 \0", Some(0o644)),
            (b"644", Some(0o644)),
            (b"00000000005\0", Some(5)),
            (b"\0\0\0", None),
            (b"        ", None),
            (b"", None),
            (b"0008\0", None),
            (b"12 3\0", None),
            (b"77777777777777777777777", None), // overflows u64
            (&[0x80, 0, 0, 1, 0], Some(256)),
            (&[0x80, 1, 0, 0, 0, 0, 0, 0, 0, 0], None), // more than 64 bits
            (&[0xff, 0xff], None),
            (&[0x81, 0], None),
        ];
        for (field, expected) in cases {
            assert_eq!(parse_number(field), *expected, "{field:?}");
        }
    }

    #[test]
    fn parse_pax_time_table() {
        let cases: &[(&[u8], Option<u64>)] = &[
            (b"1700000000", Some(1_700_000_000)),
            (b"1700000000.5", Some(1_700_000_000)),
            (b"-5", Some(0)),
            (b"-5.25", Some(0)),
            (b"", None),
            (b".5", None),
            (b"1.x", None),
            (b"1e9", None),
        ];
        for (value, expected) in cases {
            assert_eq!(parse_pax_time(value), *expected, "{value:?}");
        }
    }

    #[test]
    fn strong_etag_table() {
        for (etag, expected) in [
            ("\"abc\"", true),
            ("\"\"", true),
            ("\"!#~\"", true),
            ("abc", false),
            ("\"", false),
            ("W/\"abc\"", false),
            ("\"a\"b\"", false),
            ("\"a b\"", false),
            ("\"ä\"", false),
        ] {
            assert_eq!(is_strong_etag(etag), expected, "{etag}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Any mutation of a valid archive gives entries or an error, never a panic.
        #[test]
        fn mutated_archives_never_panic(
            mutations in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
            truncate_at in any::<prop::sample::Index>(),
            truncate in any::<bool>(),
        ) {
            let mut bytes = sample_archive();
            for (index, value) in mutations {
                let position = index.index(bytes.len());
                bytes[position] = value;
            }
            if truncate {
                let length = truncate_at.index(bytes.len());
                bytes.truncate(length);
            }
            for entry in entries(&bytes).flatten() {
                prop_assert!(check_path(&entry.path).is_ok());
            }
        }

        /// Mutations inside header blocks (where parsing happens), with checksums repaired so
        /// that the field checks behind the checksum are reached.
        #[test]
        fn mutated_headers_with_valid_checksums_never_panic(
            block_index in 0usize..7,
            mutations in proptest::collection::vec((0usize..BLOCK_BYTES, any::<u8>()), 1..6),
        ) {
            let mut bytes = sample_archive();
            let start = block_index * BLOCK_BYTES;
            let mut block: [u8; BLOCK_BYTES] = bytes[start..start + BLOCK_BYTES].try_into().unwrap();
            for (position, value) in mutations {
                block[position] = value;
            }
            fix_checksum(&mut block);
            bytes[start..start + BLOCK_BYTES].copy_from_slice(&block);
            let _ = entries(&bytes).count();
        }
    }
}
