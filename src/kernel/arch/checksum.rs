//! The ones' complement sum of TCP checksums (RFC 1071) with Advanced SIMD: the kernel's
//! [`bareserve::net::checksum::SumRoutine`].
//!
//! `aarch64-unknown-none` assumes strict alignment, so portable Rust that reads 16-bit words
//! from a byte slice compiles to one byte load per byte (smoltcp's `checksum::data` and
//! `bareserve::net::checksum::sum_words` both do). Here one `LD1` of four byte vectors (any
//! alignment for byte elements: Arm ARM B2.5.2) takes 64 bytes and `UADALP` adds each
//! vector's eight 16-bit words pairwise into four 32-bit lanes. The words are taken in the
//! CPU's little-endian order and the folded sum is swapped at the end (RFC 1071 §2 (B): the sum
//! does not depend on byte order).

use core::arch::aarch64::{uint32x4_t, vaddlvq_u32, vaddq_u32, vdupq_n_u32};
use core::arch::asm;

use bareserve::net::checksum;

/// Bytes summed by one pass of the main loop.
const BLOCK_BYTES: usize = 64;

/// Bytes summed with 32-bit lanes before they are added into the 64-bit total: each block adds
/// at most 2 × 0xffff to a lane, so 2^15 blocks (2 MiB) could overflow one; half that is safe.
/// Up to 63 bytes after the last block are summed one 16-bit word at a time.
const SPAN_BYTES: usize = 1 << 20;

/// Ones' complement sum of `data` as big-endian 16-bit words (a last odd byte as the high byte
/// of a word), folded to 16 bits, not complemented.
pub fn sum_words(data: &[u8]) -> u16 {
    let mut total: u64 = 0;
    for span in data.chunks(SPAN_BYTES) {
        // SAFETY: Advanced SIMD is part of every Armv8-A core this kernel runs on (Cortex-A72 on
        // the Pi 4 and QEMU's `-cpu cortex-a72`), and `arch::boot` enables it (CPACR_EL1.FPEN)
        // before any Rust code runs; the target itself is built with `neon`.
        total += unsafe { sum_span(span) };
    }
    checksum::network_order(total)
}

/// The sum of `span` (at most [`SPAN_BYTES`]) as little-endian 16-bit words, unfolded.
#[target_feature(enable = "neon")]
fn sum_span(span: &[u8]) -> u64 {
    let mut lanes: [uint32x4_t; 4] = [vdupq_n_u32(0); 4];
    let blocks = span.len() / BLOCK_BYTES;
    if blocks > 0 {
        // The loads are written out because LLVM, told the target needs aligned accesses,
        // splits `vld1q_u8` into sixteen byte loads; `LD1` of byte elements never needs
        // alignment.
        let [mut first, mut second, mut third, mut fourth] = lanes;
        // SAFETY: reads `blocks` × 64 bytes from `span`'s start, all inside `span`; writes only
        // the named vector registers and the two counters given to it; no stack, no flags
        // kept.
        unsafe {
            asm!(
                "1:",
                "ld1 {{v16.16b, v17.16b, v18.16b, v19.16b}}, [{address}], #64",
                "uadalp {first:v}.4s, v16.8h",
                "uadalp {second:v}.4s, v17.8h",
                "uadalp {third:v}.4s, v18.8h",
                "uadalp {fourth:v}.4s, v19.8h",
                "subs {blocks}, {blocks}, #1",
                "b.ne 1b",
                address = inout(reg) span.as_ptr() => _,
                blocks = inout(reg) blocks => _,
                first = inout(vreg) first,
                second = inout(vreg) second,
                third = inout(vreg) third,
                fourth = inout(vreg) fourth,
                out("v16") _,
                out("v17") _,
                out("v18") _,
                out("v19") _,
                options(nostack, readonly),
            );
        }
        lanes = [first, second, third, fourth];
    }
    let total = vaddlvq_u32(vaddq_u32(
        vaddq_u32(lanes[0], lanes[1]),
        vaddq_u32(lanes[2], lanes[3]),
    ));
    checksum::add_native_words(total, span.get(blocks * BLOCK_BYTES..).unwrap_or_default())
}
