//! Device drivers: the PL011 UART, the GIC, the virtio HAL and virtio-net GENET (the Pi 4's Ethernet).

pub mod genet;
pub mod gic;
pub mod mailbox;
pub mod pl011;
pub mod pl031;
pub mod virtio_hal;
pub mod virtio_net;
