//! Everything the kernel decides at boot that needs no hardware: the device tree read, the
//! memory plan, the bootargs and the server settings made from them.
//!
//! | module | what it does |
//! |---|---|
//! | [`dtb`] | the flattened device tree: parser, address translation, interrupts, PCI, device queries |
//! | [`memory`] | where the heap goes in the RAM the device tree describes |
//! | [`bootargs`] | `/chosen/bootargs` parsed into typed settings, from one table of keys |
//! | [`settings`] | bootargs → [`ServerConfig`](crate::net::ServerConfig), and the defaults both share |
//! | [`mac`] | the one rule for a usable unicast MAC address |
//! | [`pci_bars`] | addresses for PCI memory BARs (QEMU `virt` has no firmware that assigns them) |

pub mod bootargs;
pub mod dtb;
pub mod mac;
pub mod memory;
pub mod pci_bars;
pub mod settings;
