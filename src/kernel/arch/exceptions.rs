//! Exception vectors and the decoded fault report.
//!
//! The kernel runs with IRQs masked: the idle loop's `wfi` wakes on a pending interrupt even when
//! it is masked (Arm ARM D1.16.2, "Wait for Interrupt"), and the main loop then acknowledges and
//! dispatches interrupts itself (`drivers::gic`). So no interrupt handler ever preempts kernel
//! code, and no state needs locking against one. The vectors therefore only report: a
//! synchronous exception or an SError is a kernel bug or a hardware fault, printed in full before
//! the panic path; an IRQ or FIQ taken here would mean interrupts were unmasked by mistake.

use core::arch::global_asm;
use core::fmt;

use aarch64_cpu::registers::{ESR_EL1, FAR_EL1, Readable, VBAR_EL1, Writeable};

/// Registers saved by the vector stubs, in the order they are stored (see the assembly below).
#[repr(C)]
pub struct ExceptionFrame {
    /// General-purpose registers x0–x30.
    pub registers: [u64; 31],
    /// The exception link register: where the exception was taken.
    pub exception_link_register: u64,
    /// The saved program status.
    pub saved_program_status: u64,
}

const _: () = assert!(core::mem::size_of::<ExceptionFrame>() == 33 * 8);

/// Which of the 16 vectors was taken (Arm ARM D1.10.2, "Exception vectors").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u64)]
enum VectorKind {
    Synchronous = 0,
    Irq = 1,
    Fiq = 2,
    SystemError = 3,
}

// Each vector entry is 0x80 bytes. The stub saves x0/x1, loads the vector's number
// (source × 4 + kind) into x0 and branches to the common path, which saves the rest, calls Rust,
// and restores everything before `eret` (the handler never returns today, but the path is
// complete so that a recoverable exception could return).
global_asm!(
    r#"
.macro VECTOR_STUB number
    .balign 0x80
    sub     sp, sp, #272
    stp     x0, x1, [sp, #0]
    mov     x0, #\number
    b       exception_common
.endm

.section .text.vectors, "ax"
.balign 0x800
.global exception_vector_table
exception_vector_table:
    VECTOR_STUB 0
    VECTOR_STUB 1
    VECTOR_STUB 2
    VECTOR_STUB 3
    VECTOR_STUB 4
    VECTOR_STUB 5
    VECTOR_STUB 6
    VECTOR_STUB 7
    VECTOR_STUB 8
    VECTOR_STUB 9
    VECTOR_STUB 10
    VECTOR_STUB 11
    VECTOR_STUB 12
    VECTOR_STUB 13
    VECTOR_STUB 14
    VECTOR_STUB 15

exception_common:
    stp     x2, x3, [sp, #16]
    stp     x4, x5, [sp, #32]
    stp     x6, x7, [sp, #48]
    stp     x8, x9, [sp, #64]
    stp     x10, x11, [sp, #80]
    stp     x12, x13, [sp, #96]
    stp     x14, x15, [sp, #112]
    stp     x16, x17, [sp, #128]
    stp     x18, x19, [sp, #144]
    stp     x20, x21, [sp, #160]
    stp     x22, x23, [sp, #176]
    stp     x24, x25, [sp, #192]
    stp     x26, x27, [sp, #208]
    stp     x28, x29, [sp, #224]
    mrs     x2, elr_el1
    stp     x30, x2, [sp, #240]
    mrs     x2, spsr_el1
    str     x2, [sp, #256]
    mov     x1, x0
    mov     x0, sp
    bl      {handler}
    ldr     x2, [sp, #256]
    msr     spsr_el1, x2
    ldp     x30, x2, [sp, #240]
    msr     elr_el1, x2
    ldp     x28, x29, [sp, #224]
    ldp     x26, x27, [sp, #208]
    ldp     x24, x25, [sp, #192]
    ldp     x22, x23, [sp, #176]
    ldp     x20, x21, [sp, #160]
    ldp     x18, x19, [sp, #144]
    ldp     x16, x17, [sp, #128]
    ldp     x14, x15, [sp, #112]
    ldp     x12, x13, [sp, #96]
    ldp     x10, x11, [sp, #80]
    ldp     x8, x9, [sp, #64]
    ldp     x6, x7, [sp, #48]
    ldp     x4, x5, [sp, #32]
    ldp     x2, x3, [sp, #16]
    ldp     x0, x1, [sp, #0]
    add     sp, sp, #272
    eret
"#,
    handler = sym handle_exception,
);

unsafe extern "C" {
    /// The vector table above; 2 KiB aligned as VBAR_EL1 requires.
    static exception_vector_table: u8;
}

/// Points VBAR_EL1 at the vector table.
pub fn install_vectors() {
    let table = &raw const exception_vector_table as u64;
    VBAR_EL1.set(table);
    aarch64_cpu::asm::barrier::isb(aarch64_cpu::asm::barrier::SY);
}

/// Called by `exception_common` with the saved registers and the vector number.
extern "C" fn handle_exception(frame: &mut ExceptionFrame, vector: u64) {
    let source = match vector / 4 {
        0 => "current EL with SP_EL0",
        1 => "current EL with SP_ELx",
        2 => "lower EL, AArch64",
        _ => "lower EL, AArch32",
    };
    let kind = match vector % 4 {
        0 => VectorKind::Synchronous,
        1 => VectorKind::Irq,
        2 => VectorKind::Fiq,
        _ => VectorKind::SystemError,
    };
    let syndrome = ESR_EL1.get();
    let fault_address = FAR_EL1.get();
    let report = FaultReport {
        kind,
        source,
        syndrome,
        fault_address,
        frame,
    };
    crate::console::emergency_print(format_args!("{report}"));
    panic!("unhandled {kind:?} exception from {source}");
}

/// Everything known about an exception, printed as the decoded report.
struct FaultReport<'a> {
    kind: VectorKind,
    source: &'static str,
    syndrome: u64,
    fault_address: u64,
    frame: &'a ExceptionFrame,
}

impl fmt::Display for FaultReport<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let exception_class = (self.syndrome >> 26) & 0x3F;
        let instruction_specific = self.syndrome & 0x1FF_FFFF;
        writeln!(f, "\n*** EXCEPTION: {:?} from {}", self.kind, self.source)?;
        writeln!(
            f,
            "    ESR_EL1 {:#018x}: class {:#04x} ({}), ISS {:#09x}",
            self.syndrome,
            exception_class,
            exception_class_name(exception_class),
            instruction_specific
        )?;
        if matches!(exception_class, 0x20 | 0x21 | 0x24 | 0x25) {
            // Arm ARM D17.2.40, ISS encoding for Data/Instruction Aborts.
            let status = instruction_specific & 0x3F;
            let write = (instruction_specific >> 6) & 1 == 1;
            writeln!(
                f,
                "    abort: {} ({:#04x}){}",
                fault_status_name(status),
                status,
                if exception_class >= 0x24 {
                    if write { ", on a write" } else { ", on a read" }
                } else {
                    ""
                }
            )?;
        }
        writeln!(f, "    FAR_EL1 {:#018x}", self.fault_address)?;
        writeln!(
            f,
            "    ELR_EL1 {:#018x}  SPSR_EL1 {:#010x}",
            self.frame.exception_link_register, self.frame.saved_program_status
        )?;
        for (row, pair) in self.frame.registers.chunks(2).enumerate() {
            let first = row * 2;
            match pair {
                [a, b] => writeln!(
                    f,
                    "    x{:<2} {:#018x}  x{:<2} {:#018x}",
                    first,
                    a,
                    first + 1,
                    b
                )?,
                [a] => writeln!(f, "    x{:<2} {:#018x}", first, a)?,
                _ => {}
            }
        }
        Ok(())
    }
}

/// Names of the exception classes the kernel can meet (Arm ARM D17.2.40, ESR_EL1.EC).
fn exception_class_name(class: u64) -> &'static str {
    match class {
        0x00 => "unknown reason",
        0x01 => "WFI/WFE trapped",
        0x07 => "SVE/SIMD/FP access trapped",
        0x0E => "illegal execution state",
        0x15 => "SVC instruction",
        0x16 => "HVC instruction",
        0x17 => "SMC instruction",
        0x18 => "system register access trapped",
        0x20 => "instruction abort from a lower EL",
        0x21 => "instruction abort without change of EL",
        0x22 => "PC alignment fault",
        0x24 => "data abort from a lower EL",
        0x25 => "data abort without change of EL",
        0x26 => "SP alignment fault",
        0x2C => "floating-point exception",
        0x2F => "SError interrupt",
        0x30 | 0x31 => "breakpoint",
        0x32 | 0x33 => "software step",
        0x34 | 0x35 => "watchpoint",
        0x3C => "BRK instruction",
        _ => "other",
    }
}

/// Names of the data/instruction fault status codes (Arm ARM D17.2.40, DFSC/IFSC).
fn fault_status_name(status: u64) -> &'static str {
    match status {
        0x00..=0x03 => "address size fault",
        0x04..=0x07 => "translation fault",
        0x09..=0x0B => "access flag fault",
        0x0D..=0x0F => "permission fault",
        0x10 => "synchronous external abort",
        0x11 => "synchronous tag check fault",
        0x14..=0x17 => "external abort on a table walk",
        0x21 => "alignment fault",
        0x30 => "TLB conflict abort",
        _ => "other fault",
    }
}
