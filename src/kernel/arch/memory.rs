//! `memcpy`, `memmove` and `memset` for the kernel, in assembly, moving 64 bytes per loop through
//! the SIMD registers.
//!
//! Why: the compiler calls these for every slice copy and fill — a file's bytes into a socket's
//! send buffer, a frame into a virtio buffer, a new socket's zeroed buffers. compiler_builtins'
//! portable versions move 8 bytes per loop, and when source and destination differ in alignment
//! (the usual case for file bytes copied to a ring buffer) they assemble each word from two loads
//! and shifts. Under QEMU's TCG every guest instruction costs host instructions, so the
//! instruction count per byte is what matters: serving 10 MiB over tap spent most of the QEMU
//! process's time in those loops. These versions replace compiler_builtins' weak definitions
//! at link time.
//!
//! Unaligned accesses are allowed to Normal memory when SCTLR_EL1.A is 0 (Arm ARM B2.5.2; boot.rs
//! leaves it 0). Before the MMU is on every access is to Device memory, where an unaligned access
//! faults (Arm ARM B2.5.2, "Alignment of data accesses"): each function reads SCTLR_EL1.M and
//! moves single bytes while it is 0 (only a few early copies during boot).
//!
//! memcpy copies a short count with two possibly overlapping loads and stores (the first and
//! the last 4, 8, 16 or 32 bytes) instead of a loop: most calls are a few to a few dozen bytes
//! (header fields, smoltcp's packet fields), and the loop's branches cost more than the copy.
//!
//! The registers used, x3-x7, x9, q0-q3 and q16-q19, are caller-saved in the procedure call standard
//! (AAPCS64 §6.1.1, §6.1.2), which is all the compiler assumes of a call to these functions.
//! FP/SIMD is enabled before any Rust code runs (boot.rs).

core::arch::global_asm!(
    r#"
    .section .text.memcpy, "ax"
    .global memcpy
    .type memcpy, %function
    .balign 16
// void *memcpy(void *x0 destination, const void *x1 source, size_t x2 count). Every size class
// loads what it needs before it stores (the tail of a long copy first of all), so memmove's
// ascending case may use it when the regions overlap with the destination below the source.
memcpy:
    mrs     x9, sctlr_el1
    tbz     x9, #0, 9f                  // MMU off: bytes only
    add     x4, x1, x2                  // source end
    add     x5, x0, x2                  // destination end
    cmp     x2, #16
    b.lo    5f
    cmp     x2, #32
    b.hi    2f
    ldr     q0, [x1]                    // 16..32: the first and the last 16 bytes (they
    ldr     q1, [x4, #-16]              // overlap below 32)
    str     q0, [x0]
    str     q1, [x5, #-16]
    ret
2:  cmp     x2, #64
    b.hi    3f
    ldp     q0, q1, [x1]                // 33..64: the first and the last 32 bytes
    ldp     q2, q3, [x4, #-32]
    stp     q0, q1, [x0]
    stp     q2, q3, [x5, #-32]
    ret
3:  ldp     q16, q17, [x4, #-64]        // > 64: the last 64 bytes, then (count - 1) / 64
    ldp     q18, q19, [x4, #-32]        // blocks from the start, then the last 64 stored
    sub     x6, x2, #1                  // (overlapping the last block)
    lsr     x6, x6, #6
    mov     x3, x0
4:  ldp     q0, q1, [x1]
    ldp     q2, q3, [x1, #32]
    add     x1, x1, #64
    stp     q0, q1, [x3]
    stp     q2, q3, [x3, #32]
    add     x3, x3, #64
    subs    x6, x6, #1
    b.ne    4b
    stp     q16, q17, [x5, #-64]
    stp     q18, q19, [x5, #-32]
    ret
5:  cmp     x2, #8
    b.lo    6f
    ldr     x6, [x1]                    // 8..15: the first and the last 8 bytes
    ldr     x7, [x4, #-8]
    str     x6, [x0]
    str     x7, [x5, #-8]
    ret
6:  cmp     x2, #4
    b.lo    7f
    ldr     w6, [x1]                    // 4..7: the first and the last 4 bytes
    ldr     w7, [x4, #-4]
    str     w6, [x0]
    str     w7, [x5, #-4]
    ret
7:  cbz     x2, 8f
    ldrb    w6, [x1]                    // 1..3: the first byte, and the last two
    cmp     x2, #2
    b.lo    10f
    ldrh    w7, [x4, #-2]
    strb    w6, [x0]
    strh    w7, [x5, #-2]
8:  ret
10: strb    w6, [x0]
    ret
9:  mov     x3, x0                      // MMU off: one byte at a time
11: cbz     x2, 8b
    ldrb    w4, [x1], #1
    strb    w4, [x3], #1
    sub     x2, x2, #1
    b       11b
    .size memcpy, . - memcpy

    .section .text.memmove, "ax"
    .global memmove
    .type memmove, %function
    .balign 16
// void *memmove(void *x0 destination, const void *x1 source, size_t x2 count): ascending when
// the destination starts below the source or past its end (each loop loads a whole block
// before storing it, so the stores only overwrite source bytes already read), descending
// otherwise.
memmove:
    sub     x9, x0, x1
    cmp     x9, x2
    b.hs    memcpy                      // destination below source (wraps) or past its end
    mrs     x9, sctlr_el1
    tbz     x9, #0, 3f
    cmp     x2, #64
    b.lo    2f
1:  sub     x2, x2, #64
    add     x4, x1, x2
    add     x5, x0, x2
    ldp     q0, q1, [x4]
    ldp     q2, q3, [x4, #32]
    stp     q0, q1, [x5]
    stp     q2, q3, [x5, #32]
    cmp     x2, #64
    b.hs    1b
2:  cmp     x2, #8
    b.lo    3f
    sub     x2, x2, #8
    ldr     x4, [x1, x2]
    str     x4, [x0, x2]
    b       2b
3:  cbz     x2, 4f
    sub     x2, x2, #1
    ldrb    w4, [x1, x2]
    strb    w4, [x0, x2]
    b       3b
4:  ret
    .size memmove, . - memmove

    .section .text.memset, "ax"
    .global memset
    .type memset, %function
    .balign 16
// void *memset(void *x0 destination, int w1 value, size_t x2 count)
memset:
    mov     x3, x0
    and     x1, x1, #0xff
    mrs     x9, sctlr_el1
    tbz     x9, #0, 3f
    mov     x4, #0x0101010101010101
    mul     x4, x1, x4                  // the byte in all eight lanes
    dup     v0.2d, x4
    cmp     x2, #256
    b.lo    5f
6:  stp     q0, q0, [x3]                // 256 bytes per loop while there are (a new socket's
    stp     q0, q0, [x3, #32]           // buffers: hundreds of KiB)
    stp     q0, q0, [x3, #64]
    stp     q0, q0, [x3, #96]
    stp     q0, q0, [x3, #128]
    stp     q0, q0, [x3, #160]
    stp     q0, q0, [x3, #192]
    stp     q0, q0, [x3, #224]
    add     x3, x3, #256
    sub     x2, x2, #256
    cmp     x2, #256
    b.hs    6b
5:  cmp     x2, #64
    b.lo    2f
1:  stp     q0, q0, [x3]
    stp     q0, q0, [x3, #32]
    add     x3, x3, #64
    sub     x2, x2, #64
    cmp     x2, #64
    b.hs    1b
2:  cmp     x2, #8
    b.lo    3f
    str     x4, [x3], #8
    sub     x2, x2, #8
    b       2b
3:  cbz     x2, 4f
    strb    w1, [x3], #1
    sub     x2, x2, #1
    b       3b
4:  ret
    .size memset, . - memset
"#
);
