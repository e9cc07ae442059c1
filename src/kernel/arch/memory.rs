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
//! The registers used, x3-x5, x9 and q0-q3, are caller-saved in the procedure call standard
//! (AAPCS64 §6.1.1, §6.1.2), which is all the compiler assumes of a call to these functions.
//! FP/SIMD is enabled before any Rust code runs (boot.rs).

core::arch::global_asm!(
    r#"
    .section .text.memcpy, "ax"
    .global memcpy
    .type memcpy, %function
    .balign 16
// void *memcpy(void *x0 destination, const void *x1 source, size_t x2 count): ascending order.
memcpy:
    mov     x3, x0
    mrs     x9, sctlr_el1
    tbz     x9, #0, 3f                  // MMU off: bytes only
    cmp     x2, #64
    b.lo    2f
1:  ldp     q0, q1, [x1]
    ldp     q2, q3, [x1, #32]
    add     x1, x1, #64
    sub     x2, x2, #64
    stp     q0, q1, [x3]
    stp     q2, q3, [x3, #32]
    add     x3, x3, #64
    cmp     x2, #64
    b.hs    1b
2:  cmp     x2, #8
    b.lo    3f
    ldr     x4, [x1], #8
    str     x4, [x3], #8
    sub     x2, x2, #8
    b       2b
3:  cbz     x2, 4f
    ldrb    w4, [x1], #1
    strb    w4, [x3], #1
    sub     x2, x2, #1
    b       3b
4:  ret
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
    cmp     x2, #64
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
