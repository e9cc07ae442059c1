//! The main loop: poll the network stack, sleep in `wfi` until the next deadline or interrupt,
//! dispatch interrupts, repeat. Also the console's key commands.

use alloc::string::String;

use bareserve::boot::bootargs::Config;
use bareserve::boot::settings;
use bareserve::net::{HttpServer, ServerConfig};
use bareserve::nic::NetworkCardControl;
use bareserve::site::Site;
use smoltcp::time::Instant;

use crate::arch::{self, timer};
use crate::console;
use crate::drivers::gic::Gic;
use crate::heap;
use crate::net::Nic;

/// Longest sleep without a deadline: the loop wakes at least this often anyway, which bounds the
/// damage of a missed interrupt.
const MAX_SLEEP_US: u64 = 1_000_000;

/// With `heap_report`, heap use is logged every this many requests (a leak shows as growth).
const HEAP_REPORT_EVERY_REQUESTS: u64 = 10_000;

/// INTIDs the loop handles itself.
pub struct Interrupts {
    /// The EL1 physical timer.
    pub timer: u32,
    /// The console UART, if its interrupt is known.
    pub console: Option<u32>,
}

/// Everything the loop owns besides the network card.
pub struct Context {
    /// Settings from bootargs.
    pub config: Config,
    /// The site to serve.
    pub site: Site,
    /// The interrupt controller.
    pub gic: Gic,
    /// INTIDs of the timer and console.
    pub interrupts: Interrupts,
    /// When `kernel_init` started, in microseconds since reset.
    pub boot_start_us: u64,
    /// Unix time at reset (clock zero), from the RTC, if the board has one.
    pub unix_time_at_boot_s: Option<u64>,
}

/// Without a network card: keep the console alive.
pub fn run_without_network(mut context: Context) -> ! {
    console::start_buffering();
    loop {
        console::pump_output();
        timer::set_deadline_us(timer::now_us().saturating_add(MAX_SLEEP_US));
        arch::wait_for_interrupt();
        while let Some(intid) = context.gic.acknowledge() {
            if intid == context.interrupts.timer {
                timer::acknowledge();
            } else if Some(intid) == context.interrupts.console {
                console::pump_output();
                // Cleared before the FIFO is looked at, so a byte typed after the look raises
                // the interrupt again (see `handle_console_input`).
                console::acknowledge_input();
                if console::input_pending() {
                    handle_console_input(None, "no network card");
                }
            }
            context.gic.end(intid);
        }
    }
}

/// Serves the site on `card` forever.
pub fn run(mut context: Context, mut card: Nic) -> ! {
    let mac = card.mac_address();
    let mut server_config = settings::server_config(&context.config, mac, timer::ticks());
    // GENET's link comes up after autonegotiation; the server waits for it (see the loop).
    server_config.link_up_at_start = card.link_up();
    server_config.unix_time_at_clock_zero_s = context.unix_time_at_boot_s;
    // Each connection's send buffer is sized when its listener is made, from the free heap:
    // the full window while memory is plentiful, down to the floor that every remaining slot
    // is guaranteed (`bareserve::net` "Memory").
    server_config.tcp_tx_buffer_bytes = ServerConfig::TCP_TX_BUFFER_MAX_BYTES;
    server_config.free_memory_bytes = Some(heap::free_bytes);
    server_config.clock_us = Some(timer::now_us);
    server_config.checksum_sum = arch::checksum::sum_words;
    let heap = heap::usage();
    log::info!(
        "up to {} connections; send buffers {}-{} KiB each as the heap allows ({} KiB free)",
        server_config.max_connections,
        ServerConfig::TCP_TX_BUFFER_MIN_BYTES / 1024,
        server_config.tcp_tx_buffer_bytes / 1024,
        heap.size_bytes.saturating_sub(heap.used_bytes) / 1024
    );
    let port = server_config.http_port;
    let site = core::mem::take(&mut context.site);
    let mut server = HttpServer::new(server_config, site, &mut card, now());
    let ready_us = timer::now_us();
    log::info!(
        "listening on port {port}: ready {} us after reset ({} us in the kernel)",
        ready_us,
        ready_us.saturating_sub(context.boot_start_us)
    );
    let mut announced_address = None;
    let mut next_heap_report = HEAP_REPORT_EVERY_REQUESTS;
    let mut wake_counts = WakeCounts::default();
    // From here on a log line never waits for the UART (see `console`).
    console::start_buffering();
    loop {
        let now_us = timer::now_us();
        // Housekeeping (GENET's link poll) first, so that a link that just came up starts DHCP
        // or the ARP probe in this round.
        let housekeeping_us = card.housekeeping(now_us);
        let now = Instant::from_micros(now_us as i64);
        server.set_link_up(card.link_up(), now);
        let delay = server.poll(now, &mut card);
        let address = server.ipv4_address();
        if address != announced_address {
            if let Some(address) = address {
                log::info!(
                    "serving http://{address}:{port}/ ({:?})",
                    server.ipv4_source()
                );
            }
            announced_address = address;
        }
        if context.config.heap_report && server.statistics().requests_answered >= next_heap_report {
            let usage = heap::usage();
            log::info!(
                "heap after {} requests: {} KiB in use, high-water mark {} KiB, {} connections open",
                server.statistics().requests_answered,
                usage.used_bytes / 1024,
                usage.high_water_bytes / 1024,
                server.connection_count()
            );
            next_heap_report = server.statistics().requests_answered + HEAP_REPORT_EVERY_REQUESTS;
        }
        let mut wake_us = now_us
            .saturating_add(delay.map_or(MAX_SLEEP_US, |d| d.total_micros().min(MAX_SLEEP_US)));
        if let Some(housekeeping_us) = housekeeping_us {
            wake_us = wake_us.min(housekeeping_us);
        }
        console::pump_output();
        if wake_us > timer::now_us() {
            timer::set_deadline_us(wake_us);
            arch::wait_for_interrupt();
            wake_counts.sleeps += 1;
        }
        while let Some(intid) = context.gic.acknowledge() {
            if intid == context.interrupts.timer {
                timer::acknowledge();
                wake_counts.timer += 1;
            } else if card.interrupt_ids().contains(&intid) {
                card.acknowledge_interrupt();
                wake_counts.network += 1;
            } else if Some(intid) == context.interrupts.console {
                // Raised for transmit room as well as for typed keys.
                console::pump_output();
                // Cleared before the FIFO is looked at, so a byte typed after the look raises
                // the interrupt again (see `handle_console_input`).
                console::acknowledge_input();
                if console::input_pending() {
                    let summary =
                        alloc::format!("{}{wake_counts:?}\n", server_summary(&server, &card));
                    handle_console_input(Some(&summary), "");
                }
            } else {
                log::warn!("unexpected interrupt {intid}");
            }
            context.gic.end(intid);
        }
    }
}

/// How often the loop slept and what woke it (console `s`): a network card whose interrupts
/// stopped arriving shows as timer wake-ups only.
#[derive(Debug, Default)]
struct WakeCounts {
    sleeps: u64,
    timer: u64,
    network: u64,
}

fn now() -> Instant {
    Instant::from_micros(timer::now_us() as i64)
}

fn server_summary(server: &HttpServer, card: &Nic) -> String {
    let statistics = server.statistics();
    alloc::format!(
        "addresses {:?}\nconnections open {}, sockets {}\n{:?}\n{}\nconsole: {} log lines dropped (output faster than the line speed)\n",
        server.ip_addresses(),
        server.connection_count(),
        server.socket_count(),
        statistics,
        card.describe_statistics(),
        console::dropped_lines()
    )
}

/// Reads every typed byte and runs the one-key commands.
fn handle_console_input(summary: Option<&str>, no_network_note: &str) {
    // The receive interrupt is cleared before the FIFO is drained, not after: a byte that
    // arrives after the last read then raises it again (PL011 TRM, UARTICR and UARTRIS). Cleared
    // after the loop, it erased the interrupt of a byte typed during the final read, and that
    // key went unanswered until the next one (seen as a flaky console test).
    console::acknowledge_input();
    while let Some(byte) = console::read_byte() {
        match byte {
            b'h' | b'?' => console::print(format_args!(
                "console commands: h help, m memory (heap use and high-water mark), s server statistics\n"
            )),
            b'm' => {
                let usage = heap::usage();
                console::print(format_args!(
                    "heap: {} of {} KiB in use, high-water mark {} KiB ({} KiB free in the \
                     small-block lists)\n",
                    usage.used_bytes / 1024,
                    usage.size_bytes / 1024,
                    usage.high_water_bytes / 1024,
                    usage.cached_bytes / 1024
                ));
            }
            b's' => match summary {
                Some(summary) => console::print(format_args!("{summary}")),
                None => console::print(format_args!("{no_network_note}\n")),
            },
            b'\r' | b'\n' | b' ' => {}
            other => console::print(format_args!(
                "unknown key {:?}; h for help\n",
                other as char
            )),
        }
    }
}
