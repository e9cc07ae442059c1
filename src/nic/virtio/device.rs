//! The smoltcp `phy::Device` of [`VirtioNet`]: receive and transmit tokens, and the virtio-net
//! header of each sent frame (virtio 1.2 §5.1.6).

use smoltcp::phy::{self, DeviceCapabilities};
use smoltcp::time::Instant;

use super::pools::{TransmitBuffer, TransmitPool};
use super::{
    Counters, LARGE_FRAME_BYTES, Offload, QUEUE_SIZE, RAISED_MSS, STANDARD_FRAME_BYTES, VirtioNet,
    VirtioNetQueues,
};
use crate::net::offload::{self, TransmitPlan, VIRTIO_NET_HEADER_FIELDS_BYTES};
use crate::nic::rules;

/// A received frame, lent to smoltcp.
pub struct VirtioRxToken<'a> {
    frame: &'a [u8],
}

/// Permission to send one frame.
pub struct VirtioTxToken<'a, Q: VirtioNetQueues> {
    pub(super) queues: &'a mut Q,
    pub(super) pool: &'a mut TransmitPool,
    pub(super) offload: Offload,
    pub(super) counters: &'a mut Counters,
}

impl<Q: VirtioNetQueues> phy::Device for VirtioNet<Q> {
    type RxToken<'a>
        = VirtioRxToken<'a>
    where
        Self: 'a;
    type TxToken<'a>
        = VirtioTxToken<'a, Q>
    where
        Self: 'a;

    fn receive(&mut self, _timestamp: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        if let Err(error) = self.repost_receive_buffers() {
            log::error!("virtio-net: reposting a receive buffer failed: {error:?}");
        }
        self.reclaim_transmit_buffers();
        if !self.transmit.can_take_any_frame() {
            self.counters.transmit_ring_full += 1;
            return None;
        }
        let (index, frame_start, frame_end) = loop {
            let token = self.queues.poll_receive()?;
            let (index, buffer) = self.receive.returned(token)?;
            // Whatever happens now, smoltcp's use of the buffer ends before the next poll
            // (`returned` queued it to be posted again).
            match self.queues.receive_complete(token, buffer) {
                Ok((header_bytes, frame_bytes)) => {
                    break (
                        index,
                        header_bytes,
                        header_bytes.saturating_add(frame_bytes),
                    );
                }
                Err(_) => self.counters.receive_errors += 1,
            }
        };
        let frame = self
            .receive
            .bytes_mut(index)?
            .get_mut(frame_start..frame_end)?;
        if self.offload == Offload::ChecksumAndSegmentation {
            offload::raise_peer_mss(frame, STANDARD_FRAME_BYTES, RAISED_MSS);
        }
        self.counters.frames_received += 1;
        let transmit = VirtioTxToken {
            queues: &mut self.queues,
            pool: &mut self.transmit,
            offload: self.offload,
            counters: &mut self.counters,
        };
        Some((VirtioRxToken { frame }, transmit))
    }

    fn transmit(&mut self, _timestamp: Instant) -> Option<Self::TxToken<'_>> {
        self.reclaim_transmit_buffers();
        if !self.transmit.can_take_any_frame() {
            self.counters.transmit_ring_full += 1;
            return None;
        }
        Some(VirtioTxToken {
            queues: &mut self.queues,
            pool: &mut self.transmit,
            offload: self.offload,
            counters: &mut self.counters,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let max_frame_bytes = if self.offload == Offload::ChecksumAndSegmentation {
            LARGE_FRAME_BYTES
        } else {
            STANDARD_FRAME_BYTES
        };
        // The receive queue's length, fixed (`rules::max_burst_size` says why not the momentary
        // count of free transmit buffers). Received segments are still verified; with offload,
        // sent ones are summed by the device.
        rules::ethernet_capabilities(
            max_frame_bytes,
            QUEUE_SIZE,
            self.offload.checksums_sent_tcp(),
        )
    }
}

impl phy::RxToken for VirtioRxToken<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, consumer: F) -> R {
        consumer(self.frame)
    }
}

impl<Q: VirtioNetQueues> phy::TxToken for VirtioTxToken<'_, Q> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(mut self, length: usize, producer: F) -> R {
        // `transmit` checked that a buffer of either size is free, and smoltcp builds no frame
        // longer than the MTU in `capabilities`; a frame that still finds no buffer is written
        // into scratch and dropped (`rules::TransmitDrops`), never into a shorter buffer.
        let Some(taken) = self.pool.take(length) else {
            return self.pool.drops.drop_frame(length, producer);
        };
        let Some((header_bytes, end)) = self.frame_bounds(taken, length) else {
            self.pool.release(taken);
            return self.pool.drops.drop_frame(length, producer);
        };
        let Some(buffer) = self.pool.bytes_mut(taken) else {
            self.pool.release(taken);
            return self.pool.drops.drop_frame(length, producer);
        };
        let Some((header, frame)) = buffer
            .get_mut(..end)
            .map(|filled| filled.split_at_mut(header_bytes))
        else {
            self.pool.release(taken);
            return self.pool.drops.drop_frame(length, producer);
        };
        let result = producer(frame);
        if self.offload != Offload::None {
            let plan = offload::prepare_transmit(frame, STANDARD_FRAME_BYTES);
            if plan == TransmitPlan::Oversized {
                log::error!("virtio-net: {length}-byte frame the device cannot send; dropped");
                self.pool.drops.count(1);
                self.pool.release(taken);
                return result;
            }
            if let TransmitPlan::Offload {
                segmentation: Some(_),
                ..
            } = plan
            {
                self.counters.large_segments_sent += 1;
            }
            if let Some(fields) = header.get_mut(..VIRTIO_NET_HEADER_FIELDS_BYTES) {
                fields.copy_from_slice(&offload::virtio_net_header(plan));
            }
        }
        let Some(filled) = self.pool.bytes(taken).and_then(|buffer| buffer.get(..end)) else {
            self.pool.release(taken);
            return result;
        };
        match self.queues.transmit_begin(filled) {
            Ok(token) => self.pool.posted(taken, end, token),
            Err(error) => {
                log::warn!("virtio-net: frame of {length} bytes dropped: {error:?}");
                self.pool.release(taken);
                self.counters.transmit_ring_full += 1;
            }
        }
        result
    }
}

impl<Q: VirtioNetQueues> VirtioTxToken<'_, Q> {
    /// Writes the plain virtio-net header into `taken` and returns where a frame of `length`
    /// bytes lies in it (header length, end), or `None` when the buffer cannot hold both.
    fn frame_bounds(&mut self, taken: TransmitBuffer, length: usize) -> Option<(usize, usize)> {
        let buffer = self.pool.bytes_mut(taken)?;
        let header_bytes = self.queues.fill_header(buffer).ok()?;
        let end = header_bytes.checked_add(length)?;
        (end <= buffer.len()).then_some((header_bytes, end))
    }
}
