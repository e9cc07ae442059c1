//! The serial console: the `log` backend with a monotonic timestamp, and console input.
//!
//! Log lines are queued in a [`LineBuffer`] once the main loop runs ([`start_buffering`]) and
//! drained into the PL011 FIFO only as far as it has room ([`pump_output`]; the transmit
//! interrupt wakes the loop when it has room again), so a slow line (the Pi's 115,200 baud)
//! never stops the server; see `bareserve::console`. Before that, and for [`print`] (the banner,
//! the console commands, the fault and panic paths), output is written at once, after what is
//! queued, so nothing is reordered or lost when the kernel stops. Like the heap, the console
//! needs no lock: one core, and no interrupt handler ever runs kernel code (see
//! `arch::exceptions`).

use core::cell::UnsafeCell;
use core::fmt::{self, Write};

use bareserve::console::{LineBuffer, LineWriter};
use log::{Level, LevelFilter, Log, Metadata, Record};

use crate::arch::timer;
use crate::drivers::pl011::Pl011;

/// Bytes of log lines the console holds while the UART catches up: about 1.4 s of output at
/// 115,200 baud, some 200 access-log lines.
const QUEUE_BYTES: usize = 16 * 1024;

/// Longest log line; longer ones are cut (marked with `…`).
const LINE_MAX_BYTES: usize = 512;

struct Console {
    uart: Option<Pl011>,
    queue: LineBuffer<QUEUE_BYTES>,
    buffering: bool,
    /// Whether the transmit interrupt is unmasked: the mask register is written only when this
    /// changes, not on every loop round.
    transmit_interrupt: bool,
}

struct ConsoleCell(UnsafeCell<Console>);

// SAFETY: one core and no preemption (IRQs stay masked; see `arch::exceptions`). The only code
// that can interrupt a console write is the fault path, which prints and never returns to the
// interrupted writer.
unsafe impl Sync for ConsoleCell {}

static CONSOLE: ConsoleCell = ConsoleCell(UnsafeCell::new(Console {
    uart: None,
    queue: LineBuffer::new(),
    buffering: false,
    transmit_interrupt: false,
}));

/// Runs `action` on the console state.
fn with_state<R>(action: impl FnOnce(&mut Console) -> R) -> R {
    // SAFETY: see `unsafe impl Sync for ConsoleCell`: no other reference is live during `action`
    // (a fault during `action` never resumes it).
    let console = unsafe { &mut *CONSOLE.0.get() };
    action(console)
}

/// From now on, log lines are queued and drained by [`pump_output`] (the main loop calls it).
pub fn start_buffering() {
    with_state(|console| console.buffering = true);
}

/// Moves queued output into the UART FIFO as far as it has room, and asks for the transmit
/// interrupt while some is left.
pub fn pump_output() {
    with_state(|console| {
        let Some(uart) = console.uart.as_mut() else {
            return;
        };
        while let Some(byte) = console.queue.peek() {
            if !uart.try_write_byte(byte) {
                break;
            }
            console.queue.pop();
        }
        let wanted = !console.queue.is_empty();
        if wanted != console.transmit_interrupt {
            uart.set_transmit_interrupt(wanted);
            console.transmit_interrupt = wanted;
        }
    });
}

/// Log lines dropped because output came faster than the line speed.
pub fn dropped_lines() -> u64 {
    with_state(|console| console.queue.dropped_total())
}

/// Writes everything queued, waiting for the FIFO (before direct output, and on the way down).
fn flush(console: &mut Console) {
    if let Some(uart) = console.uart.as_mut() {
        while let Some(byte) = console.queue.pop() {
            uart.write_byte(byte);
        }
    }
}

/// Runs `action` on the UART, if there is one.
fn with_console<R>(action: impl FnOnce(&mut Pl011) -> R) -> Option<R> {
    with_state(|console| console.uart.as_mut().map(action))
}

/// Installs the UART as the console and the logger.
pub fn init(uart: Pl011, level: LevelFilter) {
    with_state(|console| console.uart = Some(uart));
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
    with_state(|console| {
        flush(console);
        if let Some(uart) = console.uart.as_mut() {
            let _ = uart.write_fmt(arguments);
        }
    });
}

/// Prints on the fault and panic paths, which may run before the console exists: then the
/// board's fixed UART is set up first, so that an early failure is still reported.
pub fn emergency_print(arguments: fmt::Arguments<'_>) {
    with_state(|console| {
        if console.uart.is_none() {
            crate::board::prepare_console();
            // SAFETY: the board's fixed PL011 address is device memory (or plain memory with the
            // MMU off), and no console exists yet, so nothing else uses the UART.
            console.uart = Some(unsafe {
                Pl011::new(
                    crate::board::UART_FALLBACK_BASE as usize,
                    crate::board::UART_CLOCK_HZ,
                )
            });
        }
        // The kernel is going down: nothing may stay queued.
        console.buffering = false;
    });
    print(arguments);
}

/// The next byte typed on the console, if any.
pub fn read_byte() -> Option<u8> {
    with_console(|console| console.read_byte()).flatten()
}

/// Whether a typed byte waits (the console interrupt is also raised for transmit room).
pub fn input_pending() -> bool {
    with_console(|console| console.has_input()).unwrap_or(false)
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
        let line = format_args!(
            "[{:>5}.{:06}] {} {}\n",
            now_us / 1_000_000,
            now_us % 1_000_000,
            level,
            record.args()
        );
        if !with_state(|console| console.buffering) {
            print(line);
            return;
        }
        let mut text = LineWriter::<LINE_MAX_BYTES>::default();
        let _ = text.write_fmt(line);
        with_state(|console| {
            console.queue.push(text.finish());
        });
        pump_output();
    }

    fn flush(&self) {}
}
