//! Network cards: what the kernel's main loop needs from any card ([`NetworkCardControl`]), the
//! rules every card's smoltcp `phy::Device` follows ([`rules`]), and the portable logic of each
//! card — [`genet`] (the Raspberry Pi 4's GENET v5) and [`virtio`] (virtio-net, virtio 1.2 §5.1).
//!
//! Each card's logic is written against a small trait the kernel implements with the actual
//! hardware access (GENET: registers and DMA buffers; virtio-net: the two virtqueues), so that it
//! runs in `cargo test` against a model or a fake.

pub mod genet;
pub mod rules;
pub mod virtio;

use alloc::string::String;

/// What the main loop needs from a network card besides `phy::Device`. The kernel dispatches it
/// statically (its `Nic` enum matches on the card), so the trait only states the common shape.
pub trait NetworkCardControl {
    /// The card's MAC address.
    fn mac_address(&self) -> [u8; 6];
    /// Handles the card's interrupt (acknowledges it at the device).
    fn acknowledge_interrupt(&mut self);
    /// Periodic housekeeping (link polling on the Pi); returns the next time it wants to run, in
    /// microseconds since reset.
    fn housekeeping(&mut self, _now_us: u64) -> Option<u64> {
        None
    }
    /// Whether the link is up: virtio-net's is from the start (the driver does not negotiate
    /// `VIRTIO_NET_F_STATUS`, virtio 1.2 §5.1.4.2), GENET's once autonegotiation is done.
    fn link_up(&self) -> bool {
        true
    }
    /// One line of counters for the console.
    fn describe_statistics(&self) -> String;
}
