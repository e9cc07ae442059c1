//! The portable core of the bareserve web server: everything that needs no hardware.
//!
//! This library holds the parts of the server that are pure logic, so that plain `cargo test` on
//! the host exercises them. The kernel (`src/kernel/`, built only for `aarch64-unknown-none`) is a
//! thin layer of boot code and drivers around it, and is the only place `unsafe` may appear.
//!
//! | module | what it does |
//! |---|---|
//! | [`boot`] | boot-time decisions: device tree queries, memory plan, bootargs, server settings, PCI BARs |
//! | [`console`] | console output that never waits for the UART: a ring of whole lines, drops counted |
//! | [`http`] | HTTP/1.1 request parsing, static-file semantics, responses, the per-connection state machine |
//! | [`net`] | the network loop: smoltcp interface, addressing (DHCP, ARP probes), listener pool, socket pump, generic over `phy::Device` |
//! | [`nic`] | network cards: the rules every card's smoltcp device follows, the GENET v5 logic (Pi 4, against a register trait) and the virtio-net logic (against a virtqueue trait) |
//! | [`sorting`] | the one small stable sort the server uses (code size) |
//! | [`site`] | the site: [`site::archive`] (the ustar/PAX reader of what `build.rs` packs from `disk/`), the index (path → bytes, size, modification time, ETag), [`site::rules`] (path and ETag rules shared with the build-time packer) |
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod boot;
pub mod console;
pub mod http;
pub mod net;
pub mod nic;
pub mod site;
pub mod sorting;
