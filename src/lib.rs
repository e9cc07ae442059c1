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
//! | [`boot`] | boot-time decisions: device tree queries, memory plan, bootargs, server settings |
//! | [`address_claim`] | IPv4 address conflict detection (RFC 5227): ARP probes, announcements, conflicts |
//! | [`server`] | the network loop: smoltcp interface, DHCP, listener pool, generic over `phy::Device` |
//! | [`genet`] | the Raspberry Pi 4 GENET v5 Ethernet logic, written against a register trait |
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod address_claim;
pub mod boot;
pub mod genet;
pub mod http;
pub mod offload;
pub mod server;
pub mod site;
pub mod site_rules;
pub mod tar;
mod tcp_frame;
