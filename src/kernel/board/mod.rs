//! The board the kernel is built for: one Cargo feature picks it, and this is the only place that
//! looks at the feature. Each board module exports the same names: its facts as constants (what
//! the device tree does not say, or a fallback and cross-check for what it does), console
//! preparation, reset and halt. Which devices exist is the device tree's business (`net::probe`).

#[cfg(all(feature = "board-qemu-virt", feature = "board-rpi4"))]
compile_error!(
    "choose one board: `board-qemu-virt` (the default) or `board-rpi4` with --no-default-features"
);
#[cfg(not(any(feature = "board-qemu-virt", feature = "board-rpi4")))]
compile_error!("choose a board: feature `board-qemu-virt` or `board-rpi4`");

#[cfg(all(feature = "board-qemu-virt", not(feature = "board-rpi4")))]
mod qemu_virt;
#[cfg(all(feature = "board-qemu-virt", not(feature = "board-rpi4")))]
pub use qemu_virt::*;

#[cfg(feature = "board-rpi4")]
mod rpi4;
#[cfg(feature = "board-rpi4")]
pub use rpi4::*;
