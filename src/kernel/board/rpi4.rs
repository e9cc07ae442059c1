//! Raspberry Pi 4 Model B (BCM2711): facts from `docs/bcm2711.md`, which cites the BCM2711
//! ARM Peripherals datasheet, the mainline device tree, U-Boot and Circle.

/// Name shown in the banner.
pub const NAME: &str = "Raspberry Pi 4";
/// The device tree's root `compatible` for this board.
pub const COMPATIBLE: &str = "raspberrypi,4-model-b";
/// PL011 UART0 (BCM2711 ARM Peripherals §1.2 and ch. 11; docs/bcm2711.md §0). The mainline device
/// tree gives this UART to Bluetooth, so the kernel takes it and muxes GPIO14/15 itself (§3).
pub const UART_FALLBACK_BASE: u64 = 0xFE20_1000;
/// PL011 reference clock fixed by `init_uart_clock=48000000` in config.txt (docs/bcm2711.md §3).
pub const UART_CLOCK_HZ: u32 = 48_000_000;
/// The heap (and so every DMA buffer) stays below 1 GiB: the only RAM every bus master can
/// reach safely (docs/bcm2711.md §2, DTB `dma-ranges`).
pub const HEAP_END_LIMIT: Option<u64> = Some(0x4000_0000);
/// Device registers: the main peripherals, the BCM2711-only block with GENET and PCIe, and the
/// ARM-local block with the GIC-400 (docs/bcm2711.md §0 and §2, DTB `/soc` and `/scb` ranges).
pub const DEVICE_WINDOWS: &[(u64, u64)] = &[(0xFC00_0000, 0x1_0000_0000)];

/// VideoCore mailbox (docs/bcm2711.md §5): the firmware's property interface, for the MAC address.
pub const MAILBOX_BASE: Option<u64> = Some(0xFE00_B880);

/// GPIO block (BCM2711 ARM Peripherals ch. 5).
const GPIO_BASE: usize = 0xFE20_0000;
/// GPFSEL1: function select for GPIO10–19, 3 bits per pin.
const GPFSEL1_OFFSET: usize = 0x04;
/// GPIO_PUP_PDN_CNTRL_REG0: pull control for GPIO0–15, 2 bits per pin (BCM2711 replaced
/// GPPUD/GPPUDCLK; docs/bcm2711.md §3).
const GPIO_PULL_CONTROL0_OFFSET: usize = 0xE4;
/// Function code ALT0 (TXD0/RXD0 on GPIO14/15).
const FUNCTION_ALT0: u32 = 0b100;
/// Pull code "up".
const PULL_UP: u32 = 0b01;

/// Power management block with the watchdog (BCM2835 ARM Peripherals §"PM", as used by Linux
/// `bcm2835_wdt.c`).
const POWER_MANAGEMENT_BASE: usize = 0xFE10_0000;
const PM_RSTC_OFFSET: usize = 0x1C;
const PM_WDOG_OFFSET: usize = 0x24;
const PM_PASSWORD: u32 = 0x5A00_0000;
const PM_RSTC_WRCFG_FULL_RESET: u32 = 0x20;
const PM_RSTC_WRCFG_CLEAR: u32 = 0xFFFF_FFCF;

/// Reads a 32-bit register.
///
/// # Safety
/// `address` must be a register of this board's GPIO or power-management block, mapped as device
/// memory (or with the MMU off), and nothing else may be using that block.
unsafe fn read_register(address: usize) -> u32 {
    // SAFETY: the caller guarantees a mapped, exclusively used register.
    unsafe { (address as *const u32).read_volatile() }
}

/// Writes a 32-bit register.
///
/// # Safety
/// As for [`read_register`].
unsafe fn write_register(address: usize, value: u32) {
    // SAFETY: the caller guarantees a mapped, exclusively used register.
    unsafe { (address as *mut u32).write_volatile(value) }
}

/// Routes GPIO14/15 to the PL011 (ALT0) with pull-ups, as the tutorials do without an overlay.
pub fn prepare_console() {
    let select_register = GPIO_BASE + GPFSEL1_OFFSET;
    let pull_register = GPIO_BASE + GPIO_PULL_CONTROL0_OFFSET;
    // SAFETY: (and for the three accesses below) GPFSEL1 and the pull register belong to the GPIO
    // block, which only this function touches; the peripheral window is device memory
    // (DEVICE_WINDOWS) or the MMU is still off.
    let select = unsafe { read_register(select_register) };
    let select =
        (select & !(0b111 << 12 | 0b111 << 15)) | FUNCTION_ALT0 << 12 | FUNCTION_ALT0 << 15;
    // SAFETY: see above.
    unsafe { write_register(select_register, select) };
    // SAFETY: see above.
    let pulls = unsafe { read_register(pull_register) };
    let pulls = (pulls & !(0b11 << 28 | 0b11 << 30)) | PULL_UP << 28 | PULL_UP << 30;
    // SAFETY: see above.
    unsafe { write_register(pull_register, pulls) };
}

/// Resets the board: through PSCI if a stub that provides it was configured (`armstub=`, e.g.
/// TF-A), else with the watchdog — the stock firmware has no PSCI (armstub8 disables SMC).
pub fn reset() -> ! {
    if crate::arch::psci::available() {
        crate::arch::psci::system_reset()
    }
    // SAFETY: (and for the two accesses below) PM_WDOG and PM_RSTC belong to the power-management
    // block, which only this function uses; it runs last, on the way down.
    unsafe { write_register(POWER_MANAGEMENT_BASE + PM_WDOG_OFFSET, PM_PASSWORD | 10) };
    // SAFETY: see above.
    let control = unsafe { read_register(POWER_MANAGEMENT_BASE + PM_RSTC_OFFSET) };
    let control = control & PM_RSTC_WRCFG_CLEAR | PM_PASSWORD | PM_RSTC_WRCFG_FULL_RESET;
    // SAFETY: see above.
    unsafe { write_register(POWER_MANAGEMENT_BASE + PM_RSTC_OFFSET, control) };
    crate::arch::psci::park()
}

/// Stops: PSCI SYSTEM_OFF where available, else the CPU parks with the report on the console.
pub fn halt() -> ! {
    if crate::arch::psci::available() {
        crate::arch::psci::system_off()
    }
    crate::arch::psci::park()
}
