//! QEMU's `virt` machine (QEMU `hw/arm/virt.c`): RAM from 0x4000_0000, the device tree at the
//! start of RAM, PSCI through HVC or SMC, virtio-net on virtio-mmio or PCIe.

/// Name shown in the banner.
pub const NAME: &str = "QEMU virt";
/// The device tree's root `compatible` for this board.
pub const COMPATIBLE: &str = "linux,dummy-virt";
/// PL011 used when the device tree names none (virt's memory map, `VIRT_UART`).
pub const UART_FALLBACK_BASE: u64 = 0x0900_0000;
/// PL011 reference clock: QEMU virt's `apb-pclk` fixed clock (24 MHz).
pub const UART_CLOCK_HZ: u32 = 24_000_000;
/// The heap may use all RAM: virtio devices reach any guest address.
pub const HEAP_END_LIMIT: Option<u64> = None;
/// No VideoCore mailbox on this machine.
pub const MAILBOX_BASE: Option<u64> = None;
/// Address ranges holding device registers, mapped as device memory: everything below RAM
/// (flash, GIC, UART, RTC, virtio-mmio, the PCIe MMIO and I/O windows; `hw/arm/virt.c`
/// `base_memmap`). The high PCIe ECAM is added from the device tree.
pub const DEVICE_WINDOWS: &[(u64, u64)] = &[(0, 0x4000_0000)];

/// Nothing to do: QEMU's PL011 needs no pin multiplexing.
pub fn prepare_console() {}

/// Resets the machine through PSCI SYSTEM_RESET (a server must come back by itself).
pub fn reset() -> ! {
    crate::arch::psci::system_reset()
}

/// Stops the machine: PSCI SYSTEM_OFF, which ends QEMU.
pub fn halt() -> ! {
    crate::arch::psci::system_off()
}
