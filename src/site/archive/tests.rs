//! Tests of the archive reader: hand-made headers for each refusal, archives from the packer
//! (`tools/sitepack`) for what it writes, and properties over mutated archives (never a panic).

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

proptest! {
    /// The two-pass sums equal the byte-by-byte definition (POSIX ustar: every byte, the chksum
    /// field counted as spaces; the historic signed variant alike), for any block and length.
    #[test]
    fn header_sums_follow_the_definition(block in proptest::collection::vec(any::<u8>(), 0..=BLOCK_BYTES)) {
        let mut unsigned_sum: u64 = 0;
        let mut signed_sum: i64 = 0;
        for (index, &byte) in block.iter().enumerate() {
            let byte = if (148..156).contains(&index) { b' ' } else { byte };
            unsigned_sum += u64::from(byte);
            signed_sum += i64::from(byte as i8);
        }
        prop_assert_eq!(header_sums(&block), (unsigned_sum, signed_sum));
    }
}
