//! The serial console: the `log` backend with a monotonic timestamp, and console input.
//!
//! Output is polled (the PL011 FIFO drains at line speed; log lines are short). Like the heap,
//! the console needs no lock: one core, and no interrupt handler ever runs kernel code (see
//! `arch::exceptions`).

use core::cell::UnsafeCell;
use core::fmt::{self, Write};

use log::{Level, LevelFilter, Log, Metadata, Record};

use crate::arch::timer;
use crate::drivers::pl011::Pl011;

struct ConsoleCell(UnsafeCell<Option<Pl011>>);

// SAFETY: one core and no preemption (IRQs stay masked; see `arch::exceptions`). The only code
// that can interrupt a console write is the fault path, which prints and never returns to the
// interrupted writer.
unsafe impl Sync for ConsoleCell {}

static CONSOLE: ConsoleCell = ConsoleCell(UnsafeCell::new(None));

/// Runs `action` on the console, if there is one.
fn with_console<R>(action: impl FnOnce(&mut Pl011) -> R) -> Option<R> {
    // SAFETY: see `unsafe impl Sync for ConsoleCell`: no other reference is live during `action`
    // (a fault during `action` never resumes it).
    let console = unsafe { &mut *CONSOLE.0.get() };
    console.as_mut().map(action)
}

/// Installs the UART as the console and the logger.
pub fn init(uart: Pl011, level: LevelFilter) {
    // SAFETY: called once from `kernel_init` before anything else uses the console.
    unsafe { *CONSOLE.0.get() = Some(uart) };
    // SAFETY: `set_logger_racy` requires that no other thread calls it concurrently; there is one
    // core and this runs once.
    let _ = unsafe { log::set_logger_racy(&LOGGER) };
    set_level(level);
}

/// Changes the log level.
pub fn set_level(level: LevelFilter) {
    // SAFETY: as for `set_logger_racy`: single core, nothing logs concurrently.
    unsafe { log::set_max_level_racy(level) };
}

/// Prints without the logger (the fault and panic paths, and the banner).
pub fn print(arguments: fmt::Arguments<'_>) {
    with_console(|console| {
        let _ = console.write_fmt(arguments);
    });
}

/// Prints on the fault and panic paths, which may run before the console exists: then the
/// board's fixed UART is set up first, so that an early failure is still reported.
pub fn emergency_print(arguments: fmt::Arguments<'_>) {
    // SAFETY: see `unsafe impl Sync for ConsoleCell`; nothing else holds the console here.
    let console = unsafe { &mut *CONSOLE.0.get() };
    if console.is_none() {
        crate::board::prepare_console();
        // SAFETY: the board's fixed PL011 address is device memory (or plain memory with the MMU
        // off), and no console exists yet, so nothing else uses the UART.
        *console = Some(unsafe {
            Pl011::new(
                crate::board::UART_FALLBACK_BASE as usize,
                crate::board::UART_CLOCK_HZ,
            )
        });
    }
    print(arguments);
}

/// The next byte typed on the console, if any.
pub fn read_byte() -> Option<u8> {
    with_console(|console| console.read_byte()).flatten()
}

/// Clears the console's receive interrupt once its FIFO is drained.
pub fn acknowledge_input() {
    with_console(|console| console.acknowledge_receive());
}

struct Logger;

static LOGGER: Logger = Logger;

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        // Third-party crates' info lines (virtio-drivers prints its feature negotiation) are
        // detail for `log=debug`, not for the normal console.
        let ours =
            metadata.target().starts_with("kernel") || metadata.target().starts_with("bareserve");
        let level = metadata.level();
        level <= log::max_level()
            && (ours || level <= Level::Warn || log::max_level() >= LevelFilter::Debug)
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let now_us = timer::now_us();
        let level = match record.level() {
            Level::Error => "ERROR",
            Level::Warn => "WARN ",
            Level::Info => "INFO ",
            Level::Debug => "DEBUG",
            Level::Trace => "TRACE",
        };
        print(format_args!(
            "[{:>5}.{:06}] {} {}\n",
            now_us / 1_000_000,
            now_us % 1_000_000,
            level,
            record.args()
        ));
    }

    fn flush(&self) {}
}
