//! Media types by file extension (RFC 9110 §8.3), after nginx's `mime.types` and the IANA media
//! type registry. Text types carry `charset=utf-8` because the site is authored in UTF-8.

/// `(extension in lower case, media type)`, sorted by extension for binary search.
const CONTENT_TYPES: &[(&str, &str)] = &[
    ("7z", "application/x-7z-compressed"),
    ("aac", "audio/aac"),
    ("apk", "application/vnd.android.package-archive"),
    ("appcache", "text/cache-manifest; charset=utf-8"),
    ("atom", "application/atom+xml"),
    ("avif", "image/avif"),
    ("bin", "application/octet-stream"),
    ("bmp", "image/bmp"),
    ("bz2", "application/x-bzip2"),
    ("cjs", "text/javascript; charset=utf-8"),
    ("css", "text/css; charset=utf-8"),
    ("csv", "text/csv; charset=utf-8"),
    ("doc", "application/msword"),
    (
        "docx",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ),
    ("eot", "application/vnd.ms-fontobject"),
    ("epub", "application/epub+zip"),
    ("flac", "audio/flac"),
    ("gif", "image/gif"),
    ("gz", "application/gzip"),
    ("htm", "text/html; charset=utf-8"),
    ("html", "text/html; charset=utf-8"),
    ("ico", "image/vnd.microsoft.icon"),
    ("ics", "text/calendar; charset=utf-8"),
    ("jpeg", "image/jpeg"),
    ("jpg", "image/jpeg"),
    ("js", "text/javascript; charset=utf-8"),
    ("json", "application/json"),
    ("jsonld", "application/ld+json"),
    ("m4a", "audio/mp4"),
    ("m4v", "video/mp4"),
    ("manifest", "application/manifest+json"),
    ("map", "application/json"),
    ("md", "text/markdown; charset=utf-8"),
    ("mjs", "text/javascript; charset=utf-8"),
    ("mkv", "video/x-matroska"),
    ("mov", "video/quicktime"),
    ("mp3", "audio/mpeg"),
    ("mp4", "video/mp4"),
    ("mpeg", "video/mpeg"),
    ("mpg", "video/mpeg"),
    ("odp", "application/vnd.oasis.opendocument.presentation"),
    ("ods", "application/vnd.oasis.opendocument.spreadsheet"),
    ("odt", "application/vnd.oasis.opendocument.text"),
    ("oga", "audio/ogg"),
    ("ogg", "audio/ogg"),
    ("ogv", "video/ogg"),
    ("opus", "audio/ogg"),
    ("otf", "font/otf"),
    ("pdf", "application/pdf"),
    ("png", "image/png"),
    ("ppt", "application/vnd.ms-powerpoint"),
    (
        "pptx",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ),
    ("rar", "application/vnd.rar"),
    ("rss", "application/rss+xml"),
    ("rtf", "application/rtf"),
    ("srt", "application/x-subrip"),
    ("svg", "image/svg+xml"),
    ("svgz", "image/svg+xml"),
    ("tar", "application/x-tar"),
    ("tif", "image/tiff"),
    ("tiff", "image/tiff"),
    ("toml", "application/toml"),
    ("ttf", "font/ttf"),
    ("txt", "text/plain; charset=utf-8"),
    ("vtt", "text/vtt; charset=utf-8"),
    ("wasm", "application/wasm"),
    ("wav", "audio/wav"),
    ("weba", "audio/webm"),
    ("webm", "video/webm"),
    ("webmanifest", "application/manifest+json"),
    ("webp", "image/webp"),
    ("woff", "font/woff"),
    ("woff2", "font/woff2"),
    ("xhtml", "application/xhtml+xml"),
    ("xls", "application/vnd.ms-excel"),
    (
        "xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ),
    ("xml", "application/xml"),
    ("xz", "application/x-xz"),
    ("yaml", "application/yaml"),
    ("yml", "application/yaml"),
    ("zip", "application/zip"),
];

/// The type sent for unknown extensions (RFC 9110 §8.3: a sender that does not know the type
/// may omit it, but nginx's `default_type` convention is clearer for clients).
pub const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";

/// The longest extension in the table; longer ones cannot match, so no allocation is needed to
/// lower-case them.
const EXTENSION_MAX_BYTES: usize = 16;

/// The `Content-Type` for a path, by its extension (case-insensitive; only the last path segment
/// counts; a leading dot as in `.htaccess` is no extension).
pub fn content_type_for_path(path: &str) -> &'static str {
    let file_name = path.rsplit('/').next().unwrap_or(path);
    let Some((stem, extension)) = file_name.rsplit_once('.') else {
        return DEFAULT_CONTENT_TYPE;
    };
    if stem.is_empty() || extension.is_empty() || extension.len() > EXTENSION_MAX_BYTES {
        return DEFAULT_CONTENT_TYPE;
    }
    let mut lower = [0u8; EXTENSION_MAX_BYTES];
    let Some(lower) = lower.get_mut(..extension.len()) else {
        return DEFAULT_CONTENT_TYPE;
    };
    for (target, source) in lower.iter_mut().zip(extension.bytes()) {
        *target = source.to_ascii_lowercase();
    }
    let Ok(lower) = core::str::from_utf8(lower) else {
        return DEFAULT_CONTENT_TYPE;
    };
    CONTENT_TYPES
        .binary_search_by(|(known, _)| (*known).cmp(lower))
        .ok()
        .and_then(|index| CONTENT_TYPES.get(index))
        .map_or(DEFAULT_CONTENT_TYPE, |(_, content_type)| content_type)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_lower_case_and_large() {
        assert!(CONTENT_TYPES.len() >= 50);
        for pair in CONTENT_TYPES.windows(2) {
            if let [(first, _), (second, _)] = pair {
                assert!(first < second, "{first} before {second}");
            }
        }
        for (extension, content_type) in CONTENT_TYPES {
            assert_eq!(extension.to_ascii_lowercase(), *extension);
            assert!(extension.len() <= EXTENSION_MAX_BYTES);
            if content_type.starts_with("text/") {
                assert!(content_type.ends_with("; charset=utf-8"), "{content_type}");
            }
        }
    }

    #[test]
    fn looks_up_by_extension() {
        let cases: &[(&str, &str)] = &[
            ("index.html", "text/html; charset=utf-8"),
            ("docs/INDEX.HTML", "text/html; charset=utf-8"),
            ("a/b/style.Css", "text/css; charset=utf-8"),
            ("app.mjs", "text/javascript; charset=utf-8"),
            ("data.json", "application/json"),
            ("logo.svg", "image/svg+xml"),
            ("photo.JPEG", "image/jpeg"),
            ("font.woff2", "font/woff2"),
            ("module.wasm", "application/wasm"),
            ("archive.tar.gz", "application/gzip"),
            ("site.webmanifest", "application/manifest+json"),
            ("notes.txt", "text/plain; charset=utf-8"),
            ("README", DEFAULT_CONTENT_TYPE),
            (".htaccess", DEFAULT_CONTENT_TYPE),
            ("trailing.", DEFAULT_CONTENT_TYPE),
            ("dir.html/file", DEFAULT_CONTENT_TYPE),
            ("x.unknownextension", DEFAULT_CONTENT_TYPE),
            ("x.averyveryverylongextension", DEFAULT_CONTENT_TYPE),
            ("x.ÄÖÜ", DEFAULT_CONTENT_TYPE),
            ("", DEFAULT_CONTENT_TYPE),
        ];
        for (path, expected) in cases {
            assert_eq!(content_type_for_path(path), *expected, "{path}");
        }
    }
}
