//! (being written) packs a site directory into a deterministic tar archive.
