//! Device drivers: the PL011 UART, the GIC, the virtio HAL and virtio-net (and GENET on the Pi).

#[cfg(feature = "board-rpi4")]
pub mod genet;
pub mod gic;
pub mod pl011;
pub mod virtio_hal;
pub mod virtio_net;
