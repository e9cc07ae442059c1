//! The parser: the header, the memory reservation block and the structure block, validated and
//! turned into the flat node table once (Devicetree Specification v0.4 §5). No input makes it
//! panic; every query after construction reads only the slices checked here.

use alloc::vec::Vec;
use core::fmt;

use super::{DeviceTree, MemoryRange, Node, Property, nul_terminated, read_u32, read_u64};

/// FDT header magic, big-endian (Devicetree Specification v0.4 §5.2).
pub const FDT_MAGIC: u32 = 0xD00D_FEED;

/// Size of the FDT header for version 17 (ten big-endian `u32` fields, §5.2).
pub const HEADER_LEN: usize = 40;

/// Largest DTB accepted: Linux `Documentation/arch/arm64/booting.rst` — "The device tree blob
/// (dtb) … must not exceed 2 megabytes in size."
pub const MAX_TOTAL_SIZE: usize = 2 * 1024 * 1024;

/// Structure-block tokens (§5.4.1).
pub(super) const TOKEN_BEGIN_NODE: u32 = 0x1;
pub(super) const TOKEN_END_NODE: u32 = 0x2;
pub(super) const TOKEN_PROPERTY: u32 = 0x3;
pub(super) const TOKEN_NOP: u32 = 0x4;
pub(super) const TOKEN_END: u32 = 0x9;

/// Why a blob is not a usable device tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DtbError {
    /// Fewer bytes than the 40-byte header.
    TooShort {
        /// Bytes available.
        length: usize,
    },
    /// The first word is not 0xD00D_FEED.
    BadMagic {
        /// The big-endian word found instead.
        found: u32,
    },
    /// `totalsize` is smaller than the header, larger than the bytes given, or larger than
    /// [`MAX_TOTAL_SIZE`].
    BadTotalSize {
        /// The header's `totalsize`.
        total_size: u32,
        /// Bytes available.
        available: usize,
    },
    /// The format version is not one this reader understands (needs version ≥ 17, which has
    /// `size_dt_struct`, and `last_comp_version` ≤ 17).
    UnsupportedVersion {
        /// The header's `version`.
        version: u32,
        /// The header's `last_comp_version`.
        last_compatible_version: u32,
    },
    /// A block's offset and size reach past `totalsize`.
    BlockOutOfBounds {
        /// Which block.
        block: DtbBlock,
    },
    /// The memory reservation block has no terminating all-zero entry inside `totalsize`.
    UnterminatedReservationBlock,
    /// The structure block is malformed.
    Structure {
        /// Byte offset inside the structure block where the problem was found.
        offset: usize,
        /// What is wrong there.
        problem: StructureProblem,
    },
}

/// The three blocks a DTB header points at (§5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DtbBlock {
    /// The memory reservation block (`off_mem_rsvmap`).
    MemoryReservation,
    /// The structure block (`off_dt_struct`, `size_dt_struct`).
    Structure,
    /// The strings block (`off_dt_strings`, `size_dt_strings`).
    Strings,
}

/// What is wrong in the structure block (§5.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StructureProblem {
    /// The block ends in the middle of a token or before `FDT_END`.
    Truncated,
    /// A token that is none of `FDT_BEGIN_NODE`, `FDT_END_NODE`, `FDT_PROP`, `FDT_NOP`, `FDT_END`.
    UnknownToken(u32),
    /// A node name without a NUL terminator.
    UnterminatedNodeName,
    /// A node or property name that is not UTF-8.
    NameNotUtf8,
    /// A property name offset outside the strings block, or a name without NUL.
    PropertyNameOutOfBounds,
    /// A property value longer than the rest of the block.
    PropertyValueOutOfBounds,
    /// `FDT_PROP` outside any node.
    PropertyOutsideNode,
    /// `FDT_PROP` after the node's first child (§5.4.2 puts properties before child nodes).
    PropertyAfterChildNode,
    /// `FDT_END_NODE` with no open node.
    UnbalancedEndNode,
    /// A second top-level node after the root was closed.
    SecondRootNode,
    /// The root node is not named "" (§5.4.2).
    RootNodeNamed,
    /// `FDT_END` while a node is still open, or before any node.
    EndBeforeRootClosed,
}

impl fmt::Display for DtbError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooShort { length } => {
                write!(
                    formatter,
                    "DTB too short: {length} bytes, header needs {HEADER_LEN}"
                )
            }
            Self::BadMagic { found } => {
                write!(
                    formatter,
                    "DTB magic is {found:#010x}, expected {FDT_MAGIC:#010x}"
                )
            }
            Self::BadTotalSize {
                total_size,
                available,
            } => write!(
                formatter,
                "DTB totalsize {total_size} is invalid ({available} bytes available, header \
                 {HEADER_LEN}, limit {MAX_TOTAL_SIZE})"
            ),
            Self::UnsupportedVersion {
                version,
                last_compatible_version,
            } => write!(
                formatter,
                "DTB version {version} (last compatible {last_compatible_version}) unsupported; \
                 need version >= 17 compatible with 17"
            ),
            Self::BlockOutOfBounds { block } => {
                write!(formatter, "DTB {block:?} block lies outside totalsize")
            }
            Self::UnterminatedReservationBlock => {
                write!(
                    formatter,
                    "DTB memory reservation block has no terminating entry"
                )
            }
            Self::Structure { offset, problem } => {
                write!(
                    formatter,
                    "DTB structure block malformed at offset {offset}: {problem:?}"
                )
            }
        }
    }
}

/// Rounds up to the next multiple of 4 (§5.4.1: tokens are 32-bit aligned).
pub(super) fn align4(value: usize) -> Option<usize> {
    Some(value.checked_add(3)? & !3)
}

impl<'a> DeviceTree<'a> {
    /// Validates the header and the whole structure block of `blob` and builds the node table.
    /// `blob` may be longer than the tree; only `totalsize` bytes are used.
    pub fn from_bytes(blob: &'a [u8]) -> Result<Self, DtbError> {
        let total_size = total_size_from_header(blob)?;
        let blob = blob.get(..total_size).ok_or(DtbError::BadTotalSize {
            total_size: u32::try_from(total_size).unwrap_or(u32::MAX),
            available: blob.len(),
        })?;
        let field = |index: usize| read_u32(blob, index * 4).unwrap_or(0);
        let (offset_structure, offset_strings, offset_reservations) =
            (field(2), field(3), field(4));
        let (version, last_compatible_version) = (field(5), field(6));
        let (size_strings, size_structure) = (field(8), field(9));
        if version < 17 || last_compatible_version > 17 {
            return Err(DtbError::UnsupportedVersion {
                version,
                last_compatible_version,
            });
        }
        let block = |offset: u32, size: u32, which: DtbBlock| {
            let start = usize::try_from(offset).ok();
            let end = start.and_then(|start| start.checked_add(usize::try_from(size).ok()?));
            match (start, end) {
                (Some(start), Some(end)) if start >= HEADER_LEN => blob
                    .get(start..end)
                    .ok_or(DtbError::BlockOutOfBounds { block: which }),
                _ => Err(DtbError::BlockOutOfBounds { block: which }),
            }
        };
        let structure = block(offset_structure, size_structure, DtbBlock::Structure)?;
        let strings = block(offset_strings, size_strings, DtbBlock::Strings)?;
        let reservation_start = usize::try_from(offset_reservations)
            .ok()
            .filter(|&start| start >= HEADER_LEN && start <= blob.len())
            .ok_or(DtbError::BlockOutOfBounds {
                block: DtbBlock::MemoryReservation,
            })?;
        let reservations = parse_reservations(blob.get(reservation_start..).unwrap_or_default())?;
        let (nodes, properties) = parse_structure(structure, strings)?;
        let mut phandles: Vec<(u32, usize)> = Vec::new();
        for (index, node) in nodes.iter().enumerate() {
            let end = node.first_property.saturating_add(node.property_count);
            let own = properties.get(node.first_property..end).unwrap_or_default();
            // §2.3.3: `phandle`; `linux,phandle` is the legacy spelling older dtc emits.
            let phandle = own
                .iter()
                .filter(|property| property.name == "phandle" || property.name == "linux,phandle")
                .find_map(|property| read_u32(property.value, 0));
            if let Some(phandle) = phandle {
                phandles.push((phandle, index));
            }
        }
        crate::sorting::sort_by_key(&mut phandles, |&(phandle, _)| phandle);
        Ok(Self {
            blob,
            nodes,
            properties,
            reservations,
            phandles,
        })
    }

    /// `totalsize` from the header: the number of bytes the tree occupies (to reserve it).
    pub fn blob_size(&self) -> usize {
        self.blob.len()
    }
}

/// Checks the magic and returns `totalsize`, for a caller that has only a pointer to the blob
/// and must learn how many bytes to map: pass the first [`HEADER_LEN`] bytes (more is fine).
/// Errors when the magic is wrong, `totalsize` < [`HEADER_LEN`], or `totalsize` >
/// [`MAX_TOTAL_SIZE`]. Does not check `totalsize` against `header.len()`.
pub fn total_size_from_header(header: &[u8]) -> Result<usize, DtbError> {
    if header.len() < HEADER_LEN {
        return Err(DtbError::TooShort {
            length: header.len(),
        });
    }
    let magic = read_u32(header, 0).unwrap_or(0);
    if magic != FDT_MAGIC {
        return Err(DtbError::BadMagic { found: magic });
    }
    let total_size = read_u32(header, 4).unwrap_or(0);
    match usize::try_from(total_size) {
        Ok(size) if (HEADER_LEN..=MAX_TOTAL_SIZE).contains(&size) => Ok(size),
        _ => Err(DtbError::BadTotalSize {
            total_size,
            available: header.len(),
        }),
    }
}

/// A copy of the device tree `blob` holding only the bytes its blocks use, with `totalsize`
/// set to that length (Devicetree Specification v0.4 §5.2: the header's offsets and sizes place
/// the memory reservation block, the structure block and the strings block; `totalsize` may
/// include free space after them). QEMU's `virt` device tree says 1 MiB of which a few KiB are
/// used. `None` if the header is not valid or its blocks lie outside `blob`.
pub fn compacted_copy(blob: &[u8]) -> Option<Vec<u8>> {
    let total_size = total_size_from_header(blob).ok()?;
    let field =
        |offset: usize| read_u32(blob, offset).and_then(|value| usize::try_from(value).ok());
    let (struct_offset, strings_offset, reservations_offset) = (field(8)?, field(12)?, field(16)?);
    let (strings_size, struct_size) = (field(32)?, field(36)?);
    let used = struct_offset
        .checked_add(struct_size)?
        .max(strings_offset.checked_add(strings_size)?);
    // The reservation block has no size field: it must lie before the blocks that do.
    if used > total_size || used > blob.len() || reservations_offset >= used {
        return None;
    }
    let mut copy = blob[..used].to_vec();
    copy[4..8].copy_from_slice(&u32::try_from(used).ok()?.to_be_bytes());
    Some(copy)
}

/// Parses the memory reservation block (§5.3): 16-byte (address, size) pairs ending with an
/// all-zero pair. Zero-sized entries other than the terminator are dropped.
pub(super) fn parse_reservations(block: &[u8]) -> Result<Vec<MemoryRange>, DtbError> {
    let mut reservations = Vec::new();
    let mut offset = 0;
    loop {
        let (Some(base), Some(size)) = (read_u64(block, offset), read_u64(block, offset + 8))
        else {
            return Err(DtbError::UnterminatedReservationBlock);
        };
        if base == 0 && size == 0 {
            return Ok(reservations);
        }
        if size != 0 {
            reservations.push(MemoryRange { base, size });
        }
        offset += 16;
    }
}

/// Parses the structure block into the node and property tables (§5.4), validating every
/// token, name and length. `FDT_NOP` is skipped wherever it appears.
pub(super) fn parse_structure<'a>(
    structure: &'a [u8],
    strings: &'a [u8],
) -> Result<(Vec<Node<'a>>, Vec<Property<'a>>), DtbError> {
    let mut nodes: Vec<Node<'a>> = Vec::new();
    let mut properties: Vec<Property<'a>> = Vec::new();
    let mut open_nodes: Vec<usize> = Vec::new();
    let mut root_closed = false;
    let mut offset = 0usize;
    loop {
        let error = |problem| DtbError::Structure { offset, problem };
        let token = read_u32(structure, offset).ok_or(error(StructureProblem::Truncated))?;
        let after_token = offset + 4;
        match token {
            TOKEN_BEGIN_NODE => {
                if root_closed {
                    return Err(error(StructureProblem::SecondRootNode));
                }
                let rest = structure.get(after_token..).unwrap_or_default();
                let name_bytes =
                    nul_terminated(rest).ok_or(error(StructureProblem::UnterminatedNodeName))?;
                let name = core::str::from_utf8(name_bytes)
                    .map_err(|_| error(StructureProblem::NameNotUtf8))?;
                let parent = open_nodes.last().copied();
                if parent.is_none() && !name.is_empty() {
                    return Err(error(StructureProblem::RootNodeNamed));
                }
                if let Some(parent_node) = parent.and_then(|index| nodes.get_mut(index)) {
                    parent_node.has_children = true;
                }
                open_nodes.push(nodes.len());
                nodes.push(Node {
                    name,
                    parent,
                    first_property: properties.len(),
                    property_count: 0,
                    has_children: false,
                    compatible: &[],
                    compatible_bits: 0,
                });
                offset = align4(after_token + name_bytes.len() + 1)
                    .ok_or(error(StructureProblem::Truncated))?;
            }
            TOKEN_END_NODE => {
                open_nodes
                    .pop()
                    .ok_or(error(StructureProblem::UnbalancedEndNode))?;
                root_closed = open_nodes.is_empty();
                offset = after_token;
            }
            TOKEN_PROPERTY => {
                let node_index = *open_nodes
                    .last()
                    .ok_or(error(StructureProblem::PropertyOutsideNode))?;
                let length = read_u32(structure, after_token)
                    .and_then(|length| usize::try_from(length).ok())
                    .ok_or(error(StructureProblem::Truncated))?;
                let name_offset = read_u32(structure, after_token + 4)
                    .and_then(|name_offset| usize::try_from(name_offset).ok())
                    .ok_or(error(StructureProblem::Truncated))?;
                let value_start = after_token + 8;
                let value = value_start
                    .checked_add(length)
                    .and_then(|value_end| structure.get(value_start..value_end))
                    .ok_or(error(StructureProblem::PropertyValueOutOfBounds))?;
                let name_bytes = strings
                    .get(name_offset..)
                    .and_then(nul_terminated)
                    .ok_or(error(StructureProblem::PropertyNameOutOfBounds))?;
                let name = core::str::from_utf8(name_bytes)
                    .map_err(|_| error(StructureProblem::NameNotUtf8))?;
                let node = nodes
                    .get_mut(node_index)
                    .ok_or(error(StructureProblem::PropertyOutsideNode))?;
                if node.has_children {
                    return Err(error(StructureProblem::PropertyAfterChildNode));
                }
                node.property_count += 1;
                if name == "compatible" && node.compatible.is_empty() {
                    node.compatible = value;
                    node.compatible_bits = super::compatible_bits(value);
                }
                properties.push(Property { name, value });
                offset = align4(value_start + length).ok_or(error(StructureProblem::Truncated))?;
            }
            TOKEN_NOP => offset = after_token,
            TOKEN_END => {
                if !root_closed {
                    return Err(error(StructureProblem::EndBeforeRootClosed));
                }
                return Ok((nodes, properties));
            }
            other => return Err(error(StructureProblem::UnknownToken(other))),
        }
    }
}
