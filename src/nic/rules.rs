//! The answers every card gives smoltcp's `phy::Device` questions, decided once here so GENET and
//! virtio-net cannot drift apart again.
//!
//! Before these rules, the two drivers answered differently: virtio-net reported the momentary
//! number of free transmit buffers as its burst size, GENET its ring length; and virtio-net handed
//! smoltcp a zero-length (or short) buffer for a frame it could not send, GENET a scratch buffer
//! of the asked length.

use alloc::vec;
use alloc::vec::Vec;

use smoltcp::phy::{Checksum, ChecksumCapabilities, DeviceCapabilities, Medium};

/// Largest Ethernet frame without FCS, as smoltcp counts its MTU: 1500 bytes of payload behind
/// the 14-byte header (IEEE 802.3 §3.2; smoltcp `DeviceCapabilities::max_transmission_unit`).
pub const STANDARD_FRAME_BYTES: usize = 1514;

/// Where a transmit token puts a frame that cannot be sent (no buffer, no descriptor, link
/// down, longer than the card takes), and the count of such frames.
///
/// The rule: smoltcp's `TxToken::consume(length, producer)` promises `producer` a buffer of
/// exactly `length` bytes (smoltcp `phy::TxToken::consume` docs: it "constructs a transmit buffer
/// of size `len`" for the closure), and smoltcp
/// writes the Ethernet header and the packet into it by index. A shorter buffer — zero-length
/// in the old virtio-net path — makes that write go out of range, which panics. So a frame that
/// cannot be sent is still written, into this scratch buffer of the asked length, and counted
/// as dropped; TCP retransmits it, other protocols lose it as they would on a busy wire.
#[derive(Debug)]
pub struct TransmitDrops {
    scratch: Vec<u8>,
    dropped_frames: u64,
}

impl TransmitDrops {
    /// A scratch buffer for frames up to `usual_frame_bytes` long, allocated now so that a drop
    /// normally allocates nothing.
    pub fn new(usual_frame_bytes: usize) -> Self {
        Self {
            scratch: vec![0; usual_frame_bytes],
            dropped_frames: 0,
        }
    }

    /// Lets `fill` write a frame of `length_bytes` that will not be sent, and counts it.
    pub fn drop_frame<T>(&mut self, length_bytes: usize, fill: impl FnOnce(&mut [u8]) -> T) -> T {
        self.dropped_frames += 1;
        if self.scratch.len() < length_bytes {
            // Only for a request longer than the advertised MTU, which smoltcp never makes.
            self.scratch.resize(length_bytes, 0);
        }
        let scratch = self.scratch.get_mut(..length_bytes).unwrap_or_default();
        fill(scratch)
    }

    /// Counts `frames` dropped elsewhere (already written into real buffers, then not sent).
    pub fn count(&mut self, frames: u64) {
        self.dropped_frames += frames;
    }

    /// Frames dropped so far.
    pub fn dropped_frames(&self) -> u64 {
        self.dropped_frames
    }
}

/// `DeviceCapabilities::max_burst_size` for a card whose receive ring holds
/// `receive_ring_frames` buffers: that fixed number, never a momentary free count.
///
/// smoltcp documents the field as the burst "the network device is unable to send or receive"
/// beyond, and `None` as "no fixed limit". Its one use (smoltcp 0.14 `iface::packet`, the
/// "terrible hack" for small network buffers) clamps every TCP window it advertises to
/// burst × MSS, so that a peer does not push more frames at once than the receive buffers hold.
/// That is a property of the ring, fixed at bring-up. A momentary count of free *transmit*
/// buffers (what virtio-net reported) shrinks the advertised window whenever our own sends are
/// in flight — down to one segment when the queue is busy — throttling the peer for no reason.
/// `None` would drop the protection; both cards have fixed rings, so they report their length.
pub fn max_burst_size(receive_ring_frames: usize) -> Option<usize> {
    Some(receive_ring_frames.max(1))
}

/// Checksum capabilities for a card that does (`true`) or does not compute TCP checksums of the
/// frames it sends.
///
/// With transmit offload, smoltcp leaves sent TCP checksums to the device (`Checksum::Rx`: it
/// still verifies received ones, since neither card here reports them verified). Everything else
/// smoltcp computes and verifies (`Checksum::Both`, the default).
pub fn checksum_capabilities(transmit_tcp_checksum_offloaded: bool) -> ChecksumCapabilities {
    let mut checksum = ChecksumCapabilities::default();
    if transmit_tcp_checksum_offloaded {
        checksum.tcp = Checksum::Rx;
    }
    checksum
}

/// The whole `DeviceCapabilities` of an Ethernet card: its largest frame without FCS, its receive
/// ring length ([`max_burst_size`]) and its TCP transmit checksum offload
/// ([`checksum_capabilities`]).
pub fn ethernet_capabilities(
    max_frame_bytes: usize,
    receive_ring_frames: usize,
    transmit_tcp_checksum_offloaded: bool,
) -> DeviceCapabilities {
    let mut capabilities = DeviceCapabilities::default();
    capabilities.medium = Medium::Ethernet;
    capabilities.max_transmission_unit = max_frame_bytes;
    capabilities.max_burst_size = max_burst_size(receive_ring_frames);
    capabilities.checksum = checksum_capabilities(transmit_tcp_checksum_offloaded);
    capabilities
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_frame_gets_a_buffer_of_the_asked_length_and_is_counted() {
        let mut drops = TransmitDrops::new(STANDARD_FRAME_BYTES);
        for length in [0, 14, 60, STANDARD_FRAME_BYTES, 9000] {
            assert_eq!(drops.drop_frame(length, |buffer| buffer.len()), length);
        }
        assert_eq!(drops.dropped_frames(), 5);
        drops.count(3);
        assert_eq!(drops.dropped_frames(), 8);
    }

    /// Why the rule exists: the old virtio-net token handed smoltcp `[0u8; 0]` when it had no
    /// buffer, and smoltcp writes the Ethernet header by index (as `iface` does in every
    /// `TxToken::consume` closure).
    #[test]
    #[should_panic(expected = "out of range")]
    fn smoltcp_writing_a_frame_into_a_zero_length_buffer_panics() {
        let mut empty = [0u8; 0];
        let mut frame = smoltcp::wire::EthernetFrame::new_unchecked(&mut empty[..]);
        frame.set_src_addr(smoltcp::wire::EthernetAddress([2, 0, 0, 0, 0, 1]));
    }

    #[test]
    fn the_burst_size_is_the_ring_length_and_never_zero() {
        assert_eq!(max_burst_size(256), Some(256));
        assert_eq!(max_burst_size(0), Some(1));
    }

    #[test]
    fn checksum_offload_leaves_only_sent_tcp_checksums_to_the_card() {
        let offloaded = checksum_capabilities(true);
        assert!(matches!(offloaded.tcp, Checksum::Rx));
        assert!(matches!(offloaded.ipv4, Checksum::Both));
        assert!(matches!(checksum_capabilities(false).tcp, Checksum::Both));
        let capabilities = ethernet_capabilities(STANDARD_FRAME_BYTES, 256, false);
        assert_eq!(capabilities.max_transmission_unit, 1514);
        assert_eq!(capabilities.max_burst_size, Some(256));
        assert_eq!(capabilities.medium, Medium::Ethernet);
    }
}
