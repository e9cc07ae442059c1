//! The data path: the receive and transmit halves over their rings, and the smoltcp
//! [`Device`] on them. Frames that cannot be sent follow the rule every card shares
//! ([`crate::nic::rules::TransmitDrops`]): smoltcp still gets a buffer of the length it asked for.

use core::cell::RefCell;

use smoltcp::phy::{Device, DeviceCapabilities};
use smoltcp::time::Instant;

use super::registers::*;
use super::ring::RING_LENGTH;
use super::{
    BUFFER_SIZE_BYTES, Clock, DmaBuffers, ETHERNET_HEADER_BYTES, Genet, GenetError,
    MAXIMUM_FRAME_BYTES, MINIMUM_FRAME_BYTES, RECEIVE_PAD_BYTES, ReceivePath, RegisterAccess,
    TransmitPath, write_descriptor_address,
};
use crate::nic::rules;

impl<B: DmaBuffers> ReceivePath<B> {
    /// Adds the MAC's new discards since the last look (DISCARD_CNT is a 16-bit counter; the
    /// difference is taken modulo 2^16, Linux `bcmgenet_rx_refill` keeps an old value likewise).
    pub(super) fn account_discards(&mut self, produced: u32) {
        let count = (produced >> DISCARD_COUNT_SHIFT) as u16;
        self.discarded += u64::from(count.wrapping_sub(self.last_discard_count));
        self.last_discard_count = count;
    }

    /// Finds the next good frame, dropping and re-arming bad ones on the way
    /// (docs/bcm2711.md §6.4).
    pub(super) fn next_frame<R: RegisterAccess>(
        &mut self,
        registers: &mut R,
    ) -> Result<Option<ReceivedFrame>, GenetError> {
        let produced = registers.read32(RDMA_RING16 + RING_HARDWARE_INDEX);
        self.account_discards(produced);
        let pending = self
            .ring
            .pending((produced & INDEX_MASK) as u16)
            .map_err(|index| {
                self.index_faults += 1;
                GenetError::InconsistentIndex {
                    receive_ring: true,
                    index,
                }
            })?;
        for _ in 0..pending {
            let descriptor = self.ring.next_descriptor();
            let status =
                DescriptorStatus(registers.read32(descriptor_offset(RDMA_BASE, descriptor)));
            let length_bytes = status.length_bytes();
            let single_buffer =
                status.0 & DescriptorStatus::SOP != 0 && status.0 & DescriptorStatus::EOP != 0;
            if status.0 & DescriptorStatus::RX_ERRORS != 0 {
                self.errors += 1;
            } else if !single_buffer
                || !(RECEIVE_PAD_BYTES + ETHERNET_HEADER_BYTES..=BUFFER_SIZE_BYTES)
                    .contains(&length_bytes)
            {
                self.malformed += 1;
            } else {
                return Ok(Some(ReceivedFrame {
                    descriptor,
                    length_bytes,
                }));
            }
            self.rearm(registers, descriptor);
        }
        Ok(None)
    }

    /// Passes a frame to `consume`, then gives its buffer back to the MAC. The register block is
    /// borrowed only after `consume` returns: smoltcp may send from inside it.
    pub(super) fn consume<R: RegisterAccess, T>(
        &mut self,
        registers: &RefCell<R>,
        frame: ReceivedFrame,
        consume: impl FnOnce(&[u8]) -> T,
    ) -> T {
        self.buffers
            .invalidate_for_cpu(frame.descriptor, frame.length_bytes);
        let bytes = self.buffers.bytes(frame.descriptor);
        let payload = bytes
            .get(RECEIVE_PAD_BYTES..frame.length_bytes)
            .unwrap_or(&[]);
        self.frames += 1;
        self.bytes += payload.len() as u64;
        let result = consume(payload);
        self.rearm(&mut *registers.borrow_mut(), frame.descriptor);
        result
    }

    /// Gives descriptor `descriptor`'s buffer back to the MAC and advances RDMA_CONS_INDEX.
    pub(super) fn rearm<R: RegisterAccess>(&mut self, registers: &mut R, descriptor: usize) {
        // docs/bcm2711.md §7: clean+invalidate before the MAC writes, so no dirty line is evicted
        // over the new frame.
        self.buffers.clean_for_device(descriptor, BUFFER_SIZE_BYTES);
        let consumer = self.ring.advance();
        registers.write32(RDMA_RING16 + RING_SOFTWARE_INDEX, u32::from(consumer));
    }
}

impl<B: DmaBuffers> TransmitPath<B> {
    pub(super) fn reclaim<R: RegisterAccess>(
        &mut self,
        registers: &mut R,
    ) -> Result<u16, GenetError> {
        let consumed = (registers.read32(TDMA_RING16 + RING_HARDWARE_INDEX) & INDEX_MASK) as u16;
        self.ring.reclaim(consumed).map_err(|index| {
            self.index_faults += 1;
            GenetError::InconsistentIndex {
                receive_ring: false,
                index,
            }
        })
    }

    pub(super) fn send<R: RegisterAccess, T>(
        &mut self,
        registers: &RefCell<R>,
        length_bytes: usize,
        fill: impl FnOnce(&mut [u8]) -> T,
    ) -> T {
        // A failed reclaim leaves the ring as it was; the frame is then dropped if it is full.
        let _ = self.reclaim(&mut *registers.borrow_mut());
        let descriptor = match self.ring.next_descriptor() {
            Some(descriptor) if self.link_up && length_bytes <= MAXIMUM_FRAME_BYTES => descriptor,
            _ => return self.drop_frame(length_bytes, fill),
        };
        let frame_bytes = length_bytes.max(MINIMUM_FRAME_BYTES);
        let Some(buffer) = self.buffers.bytes_mut(descriptor).get_mut(..frame_bytes) else {
            return self.drop_frame(length_bytes, fill);
        };
        let (frame, padding) = buffer.split_at_mut(length_bytes);
        // IEEE 802.3 §4.2.3.3: pad short frames; zeros, so no stale data leaks onto the wire.
        padding.fill(0);
        let result = fill(frame);
        self.buffers.clean_for_device(descriptor, frame_bytes);
        let address = self.buffers.buffer_address(descriptor);
        let mut registers = registers.borrow_mut();
        let descriptor_base = descriptor_offset(TDMA_BASE, descriptor);
        write_descriptor_address(&mut *registers, descriptor_base, address);
        registers.write32(
            descriptor_base + DESCRIPTOR_LENGTH_STATUS,
            DescriptorStatus::transmit(frame_bytes).0,
        );
        let producer = self.ring.push();
        registers.write32(TDMA_RING16 + RING_SOFTWARE_INDEX, u32::from(producer));
        self.frames += 1;
        self.bytes += frame_bytes as u64;
        result
    }

    /// Lets smoltcp write a frame that will not be sent, and counts it (the shared rule).
    pub(super) fn drop_frame<T>(
        &mut self,
        length_bytes: usize,
        fill: impl FnOnce(&mut [u8]) -> T,
    ) -> T {
        self.drops.drop_frame(length_bytes, fill)
    }
}

/// A received frame waiting to be consumed.
#[derive(Clone, Copy, Debug)]
pub(super) struct ReceivedFrame {
    descriptor: usize,
    length_bytes: usize,
}

/// Receive token: owns one filled RX descriptor until consumed, then re-arms it. Dropping it
/// unconsumed leaves the frame in the ring for the next `receive`.
pub struct GenetRxToken<'a, R: RegisterAccess, B: DmaBuffers> {
    registers: &'a RefCell<R>,
    receive: &'a mut ReceivePath<B>,
    frame: ReceivedFrame,
}

/// Transmit token: fills the next free TX descriptor (or drops the frame, counted, if none is
/// free or the link is down by the time it is consumed).
pub struct GenetTxToken<'a, R: RegisterAccess, B: DmaBuffers> {
    registers: &'a RefCell<R>,
    transmit: &'a mut TransmitPath<B>,
}

impl<R: RegisterAccess, B: DmaBuffers> smoltcp::phy::RxToken for GenetRxToken<'_, R, B> {
    fn consume<T, F>(self, f: F) -> T
    where
        F: FnOnce(&[u8]) -> T,
    {
        self.receive.consume(self.registers, self.frame, f)
    }
}

impl<R: RegisterAccess, B: DmaBuffers> smoltcp::phy::TxToken for GenetTxToken<'_, R, B> {
    fn consume<T, F>(self, length_bytes: usize, f: F) -> T
    where
        F: FnOnce(&mut [u8]) -> T,
    {
        self.transmit.send(self.registers, length_bytes, f)
    }
}

impl<R: RegisterAccess, B: DmaBuffers, C: Clock> Device for Genet<R, B, C> {
    type RxToken<'a>
        = GenetRxToken<'a, R, B>
    where
        Self: 'a;
    type TxToken<'a>
        = GenetTxToken<'a, R, B>
    where
        Self: 'a;

    fn receive(&mut self, _timestamp: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let registers = &self.registers;
        // An inconsistent index is a device fault that smoltcp cannot be told about: report no
        // frame; the fault is counted in `Statistics::index_faults`.
        let frame = self
            .receive
            .next_frame(&mut *registers.borrow_mut())
            .ok()??;
        Some((
            GenetRxToken {
                registers,
                receive: &mut self.receive,
                frame,
            },
            GenetTxToken {
                registers,
                transmit: &mut self.transmit,
            },
        ))
    }

    fn transmit(&mut self, _timestamp: Instant) -> Option<Self::TxToken<'_>> {
        let registers = &self.registers;
        let _ = self.transmit.reclaim(&mut *registers.borrow_mut());
        if !self.transmit.link_up || self.transmit.ring.is_full() {
            return None;
        }
        Some(GenetTxToken {
            registers,
            transmit: &mut self.transmit,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        // The fixed ring length, as every card reports (`rules::max_burst_size`: smoltcp clamps
        // the TCP window to burst × MSS, so a momentary free count of 0 would advertise a zero
        // window); no checksum offload.
        rules::ethernet_capabilities(MAXIMUM_FRAME_BYTES, usize::from(RING_LENGTH), false)
    }
}
