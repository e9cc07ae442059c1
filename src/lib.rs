//! The portable core of the bareserve web server: everything that needs no hardware.
//!
//! This library holds the parts of the server that are pure logic, so that plain `cargo test` on
//! the host exercises them. The kernel (`src/kernel/`, built only for `aarch64-unknown-none`) is a
//! thin layer of boot code and drivers around it, and is the only place `unsafe` may appear.
//!
//! | module | what it does |
//! |---|---|
//! | [`http`] | HTTP/1.1 request parsing, static-file semantics, responses, the per-connection state machine |
//! | [`tar`] | reader of the ustar/PAX archive that `build.rs` packs from `disk/` |
//! | [`site`] | the site index: path → file bytes, size, modification time, ETag |
//! | [`site_rules`] | path and ETag rules shared with the build-time packer |
//! | [`config`] | bootargs (`/chosen/bootargs`) parsed into typed settings |
//! | [`dtb`] | queries over the flattened device tree: memory, UART, GIC, timer, NICs, bootargs |
//! | [`net`] | the network loop: smoltcp interface, addressing (DHCP, ARP probes), listener pool, socket pump, generic over `phy::Device` |
//! | [`genet`] | the Raspberry Pi 4 GENET v5 Ethernet logic, written against a register trait |
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod config;
pub mod dtb;
pub mod genet;
pub mod http;
pub mod net;
pub mod site;
pub mod site_rules;
pub mod tar;

/// The offload frame edits under their former path, for the kernel's virtio-net driver
/// (`src/kernel/drivers/`, restructured separately); new code uses [`net::offload`].
pub use net::offload;
