//! virtio-net (virtio 1.2 §5.1) as a smoltcp `phy::Device`, written against the two virtqueues
//! ([`VirtioNetQueues`]) so that its logic runs in `cargo test` against a fake.
//!
//! The kernel (`src/kernel/drivers/virtio_net.rs`) implements [`VirtioNetQueues`] on
//! virtio-drivers' `VirtIONetRaw` rather than its convenience wrapper, because the wrapper
//! allocates a vector per transmitted frame and waits for each transmission to finish. Here both
//! directions use fixed buffer pools allocated once (`pools.rs`): receive buffers are handed back to
//! the device after smoltcp has read them, transmit buffers are reclaimed when the device reports
//! them used, and frames are queued without waiting (docs/design-notes.md §7: no transmit
//! busy-waiting).
//!
//! When the device offers them (QEMU's virtio-net over tap does; over user networking it does
//! not), the driver also takes TCP checksum offload (`VIRTIO_NET_F_CSUM`) and segmentation
//! offload (`VIRTIO_NET_F_HOST_TSO4`/`_TSO6`, virtio 1.2 §5.1.3 and §5.1.6.2; [`features`]): the
//! frame edits that takes are in the portable [`crate::net::offload`], which explains how large
//! segments are made to fit smoltcp.

mod device;
pub mod features;
mod pools;
#[cfg(test)]
mod tests;

use alloc::string::String;

pub use device::{VirtioRxToken, VirtioTxToken};
pub use features::Offload;
use pools::{ReceivePool, TransmitPool};

use super::NetworkCardControl;
use super::rules::STANDARD_FRAME_BYTES;

/// Descriptors per virtqueue: QEMU's default and maximum for virtio-net (docs/design-notes.md §6:
/// 16-entry queues cost throughput). The kernel gives `VirtIONetRaw` the same size.
pub const QUEUE_SIZE: usize = 256;
/// Bytes per buffer: a 1514-byte Ethernet frame plus the 12-byte virtio-net header
/// (virtio 1.2 §5.1.6), rounded up so buffers stay 64-byte aligned.
pub const BUFFER_BYTES: usize = 1536;

/// The MSS a received SYN's option is raised to when the device segments
/// (`offload::raise_peer_mss`): eleven standard IPv4 segments. Measured over tap (10 MiB,
/// 64 KiB send buffers): 16 KB segments moved 115-124 MB/s, 64 KB ones 110-134 MB/s, 1,460-byte
/// ones 47-57 MB/s; larger segments save little more per byte, and smaller ones keep several
/// in flight within a connection's send buffer.
pub const RAISED_MSS: u16 = 11 * 1460;
/// Largest frame smoltcp may build when the device segments: a raised-MSS payload behind the
/// longest headers smoltcp sends (Ethernet 14, IPv6 40, TCP 20 + 40 bytes of options).
pub const LARGE_FRAME_BYTES: usize = RAISED_MSS as usize + 14 + 40 + 20 + 40;
/// Bytes of a transmit buffer for large segments: a large frame and the virtio-net header,
/// rounded up to a multiple of 64 bytes.
pub const LARGE_BUFFER_BYTES: usize = (LARGE_FRAME_BYTES + 12).next_multiple_of(64);
/// Large transmit buffers: a quarter of the queue, about 1 MiB.
pub const LARGE_BUFFER_COUNT: usize = QUEUE_SIZE / 4;

/// The two virtqueues of a virtio-net device (virtio 1.2 §5.1.2: receiveq1 and transmitq1), as
/// the kernel drives them; each method is one of virtio-drivers' `VirtIONetRaw` operations.
///
/// Contract the library keeps, which the kernel's `unsafe` relies on: every buffer passed to
/// `transmit_begin` or `receive_begin` belongs to this driver's pools, which are heap
/// allocations that never move and are dropped only after the queues (field order of
/// [`VirtioNet`]); the library neither reads nor writes it from that call until the device has
/// returned its token (`poll_transmit`, `poll_receive`) and the matching `_complete` call, which
/// is passed the same buffer.
pub trait VirtioNetQueues {
    /// A queue or device error, for the console.
    type Error: core::fmt::Debug;
    /// Writes a virtio-net header asking for nothing at the start of `buffer` and returns its
    /// length: 12 bytes (`struct virtio_net_hdr` with `num_buffers`, virtio 1.2 §5.1.6), or 10
    /// with the legacy header without VIRTIO_NET_F_MRG_RXBUF (§5.1.6.1).
    fn fill_header(&self, buffer: &mut [u8]) -> Result<usize, Self::Error>;
    /// Posts a filled transmit buffer; returns its token.
    fn transmit_begin(&mut self, buffer: &[u8]) -> Result<u16, Self::Error>;
    /// The token of a transmit buffer the device has used, if any (§2.7.14).
    fn poll_transmit(&mut self) -> Option<u16>;
    /// Takes back the used transmit buffer `buffer` posted under `token`.
    fn transmit_complete(&mut self, token: u16, buffer: &[u8]) -> Result<(), Self::Error>;
    /// Posts an empty receive buffer; returns its token.
    fn receive_begin(&mut self, buffer: &mut [u8]) -> Result<u16, Self::Error>;
    /// The token of a receive buffer the device has filled, if any.
    fn poll_receive(&mut self) -> Option<u16>;
    /// Takes back the filled receive buffer posted under `token`; returns the header length and
    /// the frame length after it.
    fn receive_complete(
        &mut self,
        token: u16,
        buffer: &mut [u8],
    ) -> Result<(usize, usize), Self::Error>;
    /// Reads and clears the interrupt status (virtio 1.2 §4.1.4.5, §4.2.2.1).
    fn acknowledge_interrupt(&mut self);
}

/// Counters for the console.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct NicStatistics {
    /// Frames received.
    pub frames_received: u64,
    /// Frames sent (a large segment counts once).
    pub frames_sent: u64,
    /// Large segments handed to the device to cut.
    pub large_segments_sent: u64,
    /// Receive errors (buffer returned without a frame).
    pub receive_errors: u64,
    /// Times smoltcp wanted to send but every buffer was in flight, and frames the transmit
    /// queue refused.
    pub transmit_ring_full: u64,
    /// Frames dropped because no buffer could hold them or the device could not have sent them
    /// (never expected: smoltcp is only given a token when a buffer is free).
    pub frames_unsendable: u64,
}

/// Counters kept as frames pass (the dropped-frame count lives with the transmit pool).
#[derive(Debug, Default, Clone, Copy)]
struct Counters {
    frames_received: u64,
    frames_sent: u64,
    large_segments_sent: u64,
    receive_errors: u64,
    transmit_ring_full: u64,
}

/// A virtio-net device with its buffer pools.
pub struct VirtioNet<Q: VirtioNetQueues> {
    // Field order matters: the queues are dropped before the pools whose buffers they hold.
    queues: Q,
    receive: ReceivePool,
    transmit: TransmitPool,
    offload: Offload,
    mac_address: [u8; 6],
    counters: Counters,
}

impl<Q: VirtioNetQueues> VirtioNet<Q> {
    /// Allocates the pools for `offload` (the large buffers only with segmentation) and posts
    /// every receive buffer. `queues` must already be set up with the features `offload` came
    /// from ([`features::plan_bring_up`]).
    pub fn new(queues: Q, offload: Offload, mac_address: [u8; 6]) -> Result<Self, Q::Error> {
        let large_count = if offload == Offload::ChecksumAndSegmentation {
            LARGE_BUFFER_COUNT
        } else {
            0
        };
        let mut nic = VirtioNet {
            queues,
            receive: ReceivePool::new(),
            transmit: TransmitPool::new(large_count, LARGE_BUFFER_BYTES),
            offload,
            mac_address,
            counters: Counters::default(),
        };
        nic.repost_receive_buffers()?;
        Ok(nic)
    }

    /// What the device does for the driver.
    pub fn offload(&self) -> Offload {
        self.offload
    }

    /// The counters.
    pub fn statistics(&self) -> NicStatistics {
        let counters = self.counters;
        NicStatistics {
            frames_received: counters.frames_received,
            frames_sent: counters.frames_sent,
            large_segments_sent: counters.large_segments_sent,
            receive_errors: counters.receive_errors,
            transmit_ring_full: counters.transmit_ring_full,
            frames_unsendable: self.transmit.drops.dropped_frames(),
        }
    }

    /// The queues, for the tests' fake device.
    #[cfg(test)]
    fn queues_mut(&mut self) -> &mut Q {
        &mut self.queues
    }

    /// Posts the buffers smoltcp has finished with back to the receive queue.
    fn repost_receive_buffers(&mut self) -> Result<(), Q::Error> {
        while let Some((index, buffer)) = self.receive.next_to_post() {
            match self.queues.receive_begin(buffer) {
                Ok(token) => self.receive.posted(index, token),
                Err(error) => {
                    self.receive.post_failed(index);
                    return Err(error);
                }
            }
        }
        Ok(())
    }

    /// Returns transmit buffers whose frames the device has sent to the free lists.
    fn reclaim_transmit_buffers(&mut self) {
        while let Some(token) = self.queues.poll_transmit() {
            let Some((buffer, bytes)) = self.transmit.returned(token) else {
                log::error!("virtio-net: the device returned unknown transmit token {token}");
                break;
            };
            if self.queues.transmit_complete(token, bytes).is_err() {
                log::error!("virtio-net: transmit_complete failed for token {token}");
            }
            self.transmit.release(buffer);
            self.counters.frames_sent += 1;
        }
    }
}

impl<Q: VirtioNetQueues> NetworkCardControl for VirtioNet<Q> {
    fn mac_address(&self) -> [u8; 6] {
        self.mac_address
    }

    fn acknowledge_interrupt(&mut self) {
        self.queues.acknowledge_interrupt();
    }

    fn describe_statistics(&self) -> String {
        let s = self.statistics();
        alloc::format!(
            "virtio-net: {} frames received, {} sent ({} large segments cut by the device), {} receive errors, {} times the transmit queue was full, {} unsendable",
            s.frames_received,
            s.frames_sent,
            s.large_segments_sent,
            s.receive_errors,
            s.transmit_ring_full,
            s.frames_unsendable
        )
    }
}
