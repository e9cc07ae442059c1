//! Entry point: the arm64 Image header, the EL2 → EL1 drop, the stack, `.bss`, then Rust.
//!
//! Both boards enter here with the MMU and caches off and x0 holding the device tree's physical
//! address (Linux `Documentation/arch/arm64/booting.rst`; Raspberry Pi armstub8). QEMU `virt`
//! enters at EL1 (EL2 with `virtualization=on`), the Pi firmware at EL2; both continue at EL1.

use core::arch::global_asm;

// The header's fields (booting.rst, "Call the kernel image"):
//   code0/code1   a branch over the header
//   text_offset   0x80000: the image sits this far above a 2 MiB aligned base
//                 (docs/bcm2711.md §1.4)
//   image_size    bytes of image including .bss and the boot stack (from linker.ld); non-zero, so
//                 loaders honour text_offset
//   flags         0xA: little-endian, 4 KiB pages, may be placed anywhere in RAM
//   magic         "ARM\x64" at offset 0x38
//
// EL2 → EL1 (docs/bcm2711.md §1.6; Arm ARM D1.8 and the registers' own descriptions):
//   HCR_EL2.RW = 1               EL1 is AArch64
//   CNTHCTL_EL2.EL1PCTEN|EL1PCEN EL1 may use the physical counter and timer
//   CNTVOFF_EL2 = 0              virtual and physical counters agree
//   CPTR_EL2 = 0x33FF            RES1 bits only: no trap of FP/SIMD (TFP clear)
//   SCTLR_EL1 = 0x30D0_0800      RES1 bits only: MMU and caches off until arch::mmu
//   SPSR_EL2 = 0x3C5             EL1h with D, A, I, F masked
// FP/SIMD is enabled (CPACR_EL1.FPEN = 0b11) before any Rust code: the compiler may use the SIMD
// registers for any copy.
global_asm!(
    r#"
.section .text.boot, "ax"
.global _start
_start:
    b       primary_entry
    .long   0
    .quad   0x80000
    .quad   __image_size
    .quad   0xA
    .quad   0
    .quad   0
    .quad   0
    .ascii  "ARM\x64"
    .long   0

primary_entry:
    mov     x19, x0
    mrs     x1, mpidr_el1
    and     x1, x1, #0xFFFFFF
    cbnz    x1, park_secondary

    mrs     x1, CurrentEL
    lsr     x1, x1, #2
    cmp     x1, #2
    b.ne    at_el1

    mov     x1, #(1 << 31)
    msr     hcr_el2, x1
    mov     x1, #3
    msr     cnthctl_el2, x1
    msr     cntvoff_el2, xzr
    mov     x1, #0x33FF
    msr     cptr_el2, x1
    mov     x1, #0x0800
    movk    x1, #0x30D0, lsl #16
    msr     sctlr_el1, x1
    mov     x1, #0x3C5
    msr     spsr_el2, x1
    adr     x1, at_el1
    msr     elr_el2, x1
    eret

at_el1:
    mov     x1, #(3 << 20)
    msr     cpacr_el1, x1
    isb

    adrp    x1, __stack_top
    add     x1, x1, :lo12:__stack_top
    mov     sp, x1

    adrp    x1, __bss_start
    add     x1, x1, :lo12:__bss_start
    adrp    x2, __bss_end
    add     x2, x2, :lo12:__bss_end
zero_bss:                               // 64 bytes per loop (linker.ld aligns both ends)
    cmp     x1, x2
    b.hs    bss_done
    stp     xzr, xzr, [x1]
    stp     xzr, xzr, [x1, #16]
    stp     xzr, xzr, [x1, #32]
    stp     xzr, xzr, [x1, #48]
    add     x1, x1, #64
    b       zero_bss
bss_done:
    mov     x0, x19
    bl      {kernel_init}
park_secondary:
    wfe
    b       park_secondary
"#,
    kernel_init = sym crate::kernel_init,
);
