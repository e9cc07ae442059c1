//! The bareserve kernel: boot → heap → MMU → console → interrupts → site → NIC → serve.
//!
//! This binary is the thin, hardware-facing layer around the portable core (the `bareserve`
//! library). It is the only code with `unsafe`, all of it in `arch/`, `drivers/` and the boot
//! path here, each block with the invariant that makes it sound.
//!
//! Interrupt model: IRQs stay masked at the CPU for the kernel's whole life. The idle loop sleeps
//! in `wfi`, which wakes on any pending interrupt regardless of the mask; the loop then drains
//! the GIC and handles each interrupt in order. No code ever runs in interrupt context, so
//! nothing needs a lock.
#![no_std]
#![no_main]

extern crate alloc;

mod arch;
mod board;
mod console;
mod drivers;
mod heap;
mod net;
mod panic;
mod serve;

use alloc::boxed::Box;
use alloc::vec::Vec;

use bareserve::boot::bootargs::{self, Config};
use bareserve::boot::dtb::{DeviceTree, HEADER_LEN};
use bareserve::boot::memory::{self, HeapConstraints};
use bareserve::site::Site;

use crate::arch::mmu::{self, MemoryKind};
use crate::arch::timer;
use crate::drivers::gic::Gic;
use crate::drivers::pl011::Pl011;

/// The site, packed from `disk/` (or `$SITE`) by build.rs; part of the image, read-only.
static SITE_ARCHIVE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/site.tar"));

/// Largest device tree copied into the boot heap (see `kernel_init`); QEMU's are a few KiB,
/// the Raspberry Pi firmware's about 60 KiB.
const DEVICE_TREE_COPY_MAX_BYTES: usize = 128 * 1024;

/// The kernel's version, shown in the banner.
const VERSION: &str = env!("CARGO_PKG_VERSION");

unsafe extern "C" {
    static __image_start: u8;
    static __image_end: u8;
}

/// Called by `arch::boot` on the boot core at EL1, MMU off, stack set, `.bss` zeroed.
///
/// # Safety
/// Only `arch::boot` calls this, once, with the device tree address from x0.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kernel_init(device_tree_address: usize) -> ! {
    let boot_start_us = timer::now_us();
    arch::mask_interrupts();
    arch::exceptions::install_vectors();
    heap::init_boot_heap();

    let Some(device_tree_blob) = device_tree_slice(device_tree_address) else {
        early_fail(format_args!(
            "no valid device tree at {device_tree_address:#x} (x0 at entry)"
        ));
    };
    // QEMU's direct kernel boot puts the device tree in the middle of RAM (after the initrd
    // space, which starts at MIN(RAM size / 2, 128 MiB): `arm_setup_direct_kernel_boot` in
    // QEMU's hw/arm/boot.c), which would leave the heap only the larger half. A copy in the
    // boot heap frees its place; a tree too large for that stays where it is, out of the heap.
    // QEMU's says 1 MiB of which a few KiB are used: only the used bytes are copied.
    let compacted = bareserve::boot::dtb::compacted_copy(device_tree_blob)
        .filter(|copy| copy.len() <= DEVICE_TREE_COPY_MAX_BYTES);
    let (device_tree_blob, device_tree_in_place) = match compacted {
        Some(copy) => {
            let copy: &'static [u8] = Box::leak(copy.into_boxed_slice());
            (copy, None)
        }
        None => {
            let start = device_tree_blob.as_ptr() as u64;
            (
                device_tree_blob,
                Some(start..start + device_tree_blob.len() as u64),
            )
        }
    };
    let device_tree = match DeviceTree::from_bytes(device_tree_blob) {
        Ok(tree) => tree,
        Err(error) => early_fail(format_args!(
            "device tree at {device_tree_address:#x} is unusable: {error}"
        )),
    };

    let image_start = &raw const __image_start as u64;
    let image_end = &raw const __image_end as u64;
    let ram = device_tree.memory_regions();
    let reserved = device_tree.reserved_regions();
    let Some(heap) = memory::choose_heap(&HeapConstraints {
        ram: &ram,
        reserved: &reserved,
        image: image_start..image_end,
        device_tree: device_tree_in_place.unwrap_or(0..0),
        end_limit: board::HEAP_END_LIMIT,
    }) else {
        early_fail(format_args!("no RAM for the heap (memory nodes: {ram:?})"));
    };
    // SAFETY: `heap` is RAM from the device tree's memory node that holds
    // neither the image, nor the device tree, nor any reserved region (memory::choose_heap).
    unsafe { heap::init(heap.start as usize, (heap.end - heap.start) as usize) };

    let mut regions: Vec<(usize, usize, MemoryKind)> = Vec::new();
    for range in &ram {
        regions.push((
            range.base as usize,
            range.base.saturating_add(range.size) as usize,
            MemoryKind::Normal,
        ));
    }
    for &(start, end) in board::DEVICE_WINDOWS {
        regions.push((start as usize, end as usize, MemoryKind::Device));
    }
    if let Some(host) = device_tree.pci_host() {
        regions.push((
            host.ecam.base as usize,
            host.ecam.base.saturating_add(host.ecam.size) as usize,
            MemoryKind::Device,
        ));
    }
    // SAFETY: the regions cover all RAM (image, stack, heap, device tree) as normal memory and
    // every device the kernel drives as device memory (board::DEVICE_WINDOWS, the ECAM).
    if let Err(failure) = unsafe { mmu::enable(&regions) } {
        early_fail(format_args!(
            "MMU: cannot map {:#x}..{:#x}: {:?}",
            failure.start, failure.end, failure.reason
        ));
    }

    let uart = device_tree.pl011_uart();
    let uart_base = uart
        .as_ref()
        .map_or(board::UART_FALLBACK_BASE, |device| device.base);
    board::prepare_console();
    // SAFETY: the device tree (or the board's memory map) names a PL011 at this address, mapped
    // as device memory; the console is its only user.
    let pl011 = unsafe { Pl011::new(uart_base as usize, board::UART_CLOCK_HZ) };
    let bootargs = device_tree.bootargs().unwrap_or("");
    let (config, messages) = bootargs::parse(bootargs);
    console::init(pl011, config.log_level);
    arch::psci::set_conduit(
        device_tree
            .psci_method()
            .map(|method| method == bareserve::boot::dtb::PsciMethod::Hvc),
    );
    panic::set_action(config.panic);

    let ram_bytes: u64 = ram.iter().map(|range| range.size).sum();
    let heap_usage = heap::usage();
    console::print(format_args!(
        "\nbareserve {VERSION} on {} — {} MiB RAM, {} KiB heap, timer {} Hz\nbootargs: \"{}\"\n",
        board::NAME,
        ram_bytes / (1024 * 1024),
        heap_usage.size_bytes / 1024,
        timer::frequency_hz(),
        bootargs,
    ));
    for message in &messages {
        message.log();
    }
    match device_tree.root_compatible() {
        Some(compatible) if compatible == board::COMPATIBLE => {}
        other => log::warn!(
            "this kernel is built for {} ({}), but the device tree says {:?}",
            board::NAME,
            board::COMPATIBLE,
            other
        ),
    }

    let Some(gic_description) = device_tree.gic() else {
        panic!("the device tree describes no GIC; cannot take interrupts");
    };
    // SAFETY: the device tree names this GIC; DEVICE_WINDOWS maps it as device memory, and the
    // kernel creates one driver for it.
    let mut gic = match unsafe { Gic::new(&gic_description) } {
        Ok(gic) => gic,
        Err(error) => panic!("GIC bring-up failed: {error}"),
    };
    let timer_intid = device_tree
        .timer_interrupts()
        .map_or(30, |timer| timer.non_secure_physical_intid);
    gic.enable(timer_intid, false);
    let uart_intid = uart
        .and_then(|device| device.interrupt)
        .map(|interrupt| interrupt.intid);
    if let Some(intid) = uart_intid {
        gic.enable(intid, false);
    }
    log::info!(
        "{} at {:#x}, timer INTID {}, console INTID {:?}",
        gic.name(),
        match &gic_description {
            bareserve::boot::dtb::GicDescription::V2 { distributor, .. }
            | bareserve::boot::dtb::GicDescription::V3 { distributor, .. } => distributor.base,
        },
        timer_intid,
        uart_intid
    );

    run_test_hook(&config, &mut gic, timer_intid);

    // A real-time clock gives responses a Date; the Pi 4 has none (RFC 9110 §6.6.1: then omit it).
    let unix_time_at_boot_s = device_tree.pl031_rtc().map(|rtc| {
        // SAFETY: the device tree names a PL031 here, inside the device windows mapped as device
        // memory; reading its data register has no side effects.
        let seconds = unsafe { drivers::pl031::read_unix_seconds(rtc.base as usize) };
        u64::from(seconds).saturating_sub(timer::now_us() / 1_000_000)
    });
    match unix_time_at_boot_s {
        Some(seconds) => log::info!("real-time clock: Unix time {} at reset", seconds),
        None => log::info!("no real-time clock: responses carry no Date"),
    }

    let site = match Site::from_archive(SITE_ARCHIVE) {
        Ok(site) => {
            log::info!(
                "site: {} files, {} bytes",
                site.file_count(),
                site.total_bytes()
            );
            site
        }
        Err(error) => {
            log::error!("site archive is corrupt: {error}; serving an empty site");
            Site::default()
        }
    };

    let nic = net::probe(&device_tree, &mut gic);
    let interrupts = serve::Interrupts {
        timer: timer_intid,
        console: uart_intid,
    };
    let context = serve::Context {
        config,
        site,
        gic,
        interrupts,
        boot_start_us,
        unix_time_at_boot_s,
    };
    match nic {
        Some(nic) => serve::run(context, nic),
        None => {
            log::error!(
                "no network card found; the server cannot listen (the console still works)"
            );
            serve::run_without_network(context)
        }
    }
}

/// The device tree blob at `address`, if its header is valid.
fn device_tree_slice(address: usize) -> Option<&'static [u8]> {
    if address == 0 || !address.is_multiple_of(8) {
        return None;
    }
    // SAFETY: x0 holds the device tree address by the boot protocol; its 40-byte header is plain
    // RAM, read-only here. (QEMU raspi4b without -dtb passes 0x100, RAM as well; the magic check
    // below rejects it.)
    let header = unsafe { core::slice::from_raw_parts(address as *const u8, HEADER_LEN) };
    let total_bytes = bareserve::boot::dtb::total_size_from_header(header).ok()?;
    // SAFETY: the header is valid and says `total_bytes` of device tree start at `address`; the
    // firmware or QEMU put it there, and nothing writes there while the slice is in use:
    // `kernel_init` copies it into the boot heap before the main heap exists, or leaves it out
    // of the main heap (memory::choose_heap) when it is too large to copy.
    Some(unsafe { core::slice::from_raw_parts(address as *const u8, total_bytes) })
}

/// Reports a failure before the console exists, on the board's UART at its fixed address, then
/// stops.
fn early_fail(arguments: core::fmt::Arguments<'_>) -> ! {
    board::prepare_console();
    // SAFETY: the board's fixed PL011 address is device memory (or plain memory with the MMU off);
    // nothing else uses the UART yet, and this path never returns.
    let pl011 = unsafe { Pl011::new(board::UART_FALLBACK_BASE as usize, board::UART_CLOCK_HZ) };
    console::init(pl011, log::LevelFilter::Info);
    console::print(format_args!("\nbareserve {VERSION}: fatal: {arguments}\n"));
    arch::psci::park()
}

/// Deliberate failures and checks for the QEMU tests (`test=fault`, `test=panic`, `test=timer`).
fn run_test_hook(config: &Config, gic: &mut Gic, timer_intid: u32) {
    match config.test_hook {
        Some(bootargs::TestHook::Fault) => {
            log::warn!("test=fault: reading an unmapped address on purpose");
            let unmapped = 0xFFFF_FFFF_0000usize as *const u64;
            // SAFETY: deliberately unsound: this read faults (the address is outside the
            // identity map) to exercise the exception report. Only reachable with `test=fault`.
            let value = unsafe { unmapped.read_volatile() };
            log::error!("the read of an unmapped address returned {value:#x}");
        }
        Some(bootargs::TestHook::Panic) => panic!("test=panic: deliberate panic"),
        Some(bootargs::TestHook::Timer) => timer_test(gic, timer_intid),
        None => {}
    }
}

/// `test=timer`: ten timer interrupts 100 ms apart, each awaited in `wfi`; shows the clock
/// advancing and the CPU asleep in between (each tick should take one wake-up).
fn timer_test(gic: &mut Gic, timer_intid: u32) {
    const TICKS: u32 = 10;
    const INTERVAL_US: u64 = 100_000;
    let start_us = timer::now_us();
    let mut wake_ups = 0u32;
    for tick in 1..=TICKS {
        timer::set_deadline_us(start_us + u64::from(tick) * INTERVAL_US);
        let mut fired = false;
        while !fired {
            arch::wait_for_interrupt();
            wake_ups += 1;
            while let Some(intid) = gic.acknowledge() {
                if intid == timer_intid {
                    timer::acknowledge();
                    fired = true;
                }
                gic.end(intid);
            }
        }
        log::info!("timer test: tick {tick} at {} us", timer::now_us());
    }
    log::info!(
        "timer test: {TICKS} ticks in {} us, {wake_ups} wake-ups",
        timer::now_us() - start_us
    );
}
