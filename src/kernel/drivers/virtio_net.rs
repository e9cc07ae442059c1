//! virtio-net as a smoltcp `phy::Device` (virtio 1.2 §5.1), over either transport.
//!
//! Built on `virtio_drivers::device::net::VirtIONetRaw` rather than its convenience wrapper,
//! because the wrapper allocates a vector per transmitted frame and waits for each transmission
//! to finish. Here both directions use fixed buffer pools allocated once: receive buffers are
//! handed back to the device after smoltcp has read them, transmit buffers are reclaimed when
//! the device reports them used, and frames are queued without waiting (prior-art.md §9, "No TX
//! busy-waiting").

use alloc::boxed::Box;
use alloc::vec::Vec;

use smoltcp::phy::{self, DeviceCapabilities, Medium};
use smoltcp::time::Instant;
use virtio_drivers::device::net::VirtIONetRaw;
use virtio_drivers::transport::{
    DeviceStatus, DeviceType, InterruptStatus, SomeTransport, Transport,
};
use virtio_drivers::{PhysAddr, Result as VirtioResult};
use zerocopy::{FromBytes, Immutable, IntoBytes};

use super::virtio_hal::VirtioHal;

/// Descriptors per virtqueue: QEMU's default and maximum for virtio-net (prior-art.md §9:
/// 16-entry queues cost throughput).
pub const QUEUE_SIZE: usize = 256;
/// Bytes per buffer: a 1514-byte Ethernet frame plus the 12-byte virtio-net header
/// (virtio 1.2 §5.1.6), rounded up so buffers stay 64-byte aligned.
const BUFFER_BYTES: usize = 1536;
/// Largest Ethernet frame without FCS (IEEE 802.3 §3.2).
const MAX_FRAME_BYTES: usize = 1514;

/// VIRTIO_F_EVENT_IDX (virtio 1.2 §6.3, bit 29, "VIRTIO_F_RING_EVENT_IDX").
const FEATURE_EVENT_INDEX: u64 = 1 << 29;

/// A transport that does not offer VIRTIO_F_EVENT_IDX to the driver.
///
/// virtio-drivers 0.13 decides whether to notify the device with `avail_idx >= avail_event + 1`
/// (`VirtQueue::should_notify`), which is not the wrapping comparison virtio 1.2 §2.7.10
/// requires (`vring_need_event`). Once the 16-bit available index wraps while the device waits
/// for a kick, no kick comes until it has gone round again: under load over tap, requests then
/// waited for the idle loop's 1 s wake-up. Without EVENT_IDX the driver uses the ring flags
/// (§2.7.7), which have no such comparison; measured over tap this was as fast or faster.
pub struct WithoutEventIndex<T: Transport>(pub T);

impl<T: Transport> Transport for WithoutEventIndex<T> {
    fn device_type(&self) -> DeviceType {
        self.0.device_type()
    }
    fn read_device_features(&mut self) -> u64 {
        self.0.read_device_features() & !FEATURE_EVENT_INDEX
    }
    fn write_driver_features(&mut self, driver_features: u64) {
        self.0
            .write_driver_features(driver_features & !FEATURE_EVENT_INDEX)
    }
    fn max_queue_size(&mut self, queue: u16) -> u32 {
        self.0.max_queue_size(queue)
    }
    fn notify(&mut self, queue: u16) {
        self.0.notify(queue)
    }
    fn get_status(&self) -> DeviceStatus {
        self.0.get_status()
    }
    fn set_status(&mut self, status: DeviceStatus) {
        self.0.set_status(status)
    }
    fn set_guest_page_size(&mut self, guest_page_size: u32) {
        self.0.set_guest_page_size(guest_page_size)
    }
    fn requires_legacy_layout(&self) -> bool {
        self.0.requires_legacy_layout()
    }
    fn queue_set(
        &mut self,
        queue: u16,
        size: u32,
        descriptors: PhysAddr,
        driver_area: PhysAddr,
        device_area: PhysAddr,
    ) {
        self.0
            .queue_set(queue, size, descriptors, driver_area, device_area)
    }
    fn queue_unset(&mut self, queue: u16) {
        self.0.queue_unset(queue)
    }
    fn queue_used(&mut self, queue: u16) -> bool {
        self.0.queue_used(queue)
    }
    fn ack_interrupt(&mut self) -> InterruptStatus {
        self.0.ack_interrupt()
    }
    fn read_config_generation(&self) -> u32 {
        self.0.read_config_generation()
    }
    fn read_config_space<V: FromBytes + IntoBytes>(&self, offset: usize) -> VirtioResult<V> {
        self.0.read_config_space(offset)
    }
    fn write_config_space<V: IntoBytes + Immutable>(
        &mut self,
        offset: usize,
        value: V,
    ) -> VirtioResult<()> {
        self.0.write_config_space(offset, value)
    }
}

/// The transport every virtio-net card uses: MMIO or PCI, without EVENT_IDX.
pub type NicTransport = WithoutEventIndex<SomeTransport<'static>>;

#[repr(C, align(64))]
struct FrameBuffer([u8; BUFFER_BYTES]);

/// Counters for the console.
#[derive(Debug, Default, Clone, Copy)]
pub struct NicStatistics {
    /// Frames received.
    pub frames_received: u64,
    /// Frames sent.
    pub frames_sent: u64,
    /// Receive errors (buffer returned without a frame).
    pub receive_errors: u64,
    /// Times smoltcp wanted to send but every buffer was in flight.
    pub transmit_ring_full: u64,
}

/// A virtio-net device with its buffer pools.
pub struct VirtioNic<T: Transport> {
    device: VirtIONetRaw<VirtioHal, T, QUEUE_SIZE>,
    receive: ReceivePool,
    transmit: TransmitPool,
    /// Counters.
    pub statistics: NicStatistics,
}

struct ReceivePool {
    buffers: Box<[FrameBuffer]>,
    /// Buffer index posted under each virtqueue token.
    buffer_of_token: [Option<u16>; QUEUE_SIZE],
    /// Buffers smoltcp has finished with, to be posted again at the next poll.
    to_repost: Vec<u16>,
}

struct TransmitPool {
    buffers: Box<[FrameBuffer]>,
    free: Vec<u16>,
    buffer_of_token: [Option<u16>; QUEUE_SIZE],
}

/// Why the NIC could not be brought up.
#[derive(Debug)]
pub struct NicError(pub virtio_drivers::Error);

impl<T: Transport> VirtioNic<T> {
    /// Negotiates features, sets up both virtqueues and posts every receive buffer.
    pub fn new(transport: T) -> Result<Self, NicError> {
        // Both pools plus the virtqueues must fit, or the allocation would fail with a bare
        // "memory allocation failed" panic; say how much RAM is missing instead.
        let needed_bytes = 2 * QUEUE_SIZE * BUFFER_BYTES + 64 * 1024;
        let free_bytes = crate::heap::main_heap_free_bytes();
        if free_bytes < needed_bytes {
            log::error!(
                "virtio-net: too little RAM for the buffers: {} KiB needed, {} KiB free (give QEMU more -m)",
                needed_bytes / 1024,
                free_bytes / 1024
            );
            return Err(NicError(virtio_drivers::Error::DmaError));
        }
        let device = VirtIONetRaw::<VirtioHal, T, QUEUE_SIZE>::new(transport).map_err(NicError)?;
        let empty = || {
            (0..QUEUE_SIZE)
                .map(|_| FrameBuffer([0; BUFFER_BYTES]))
                .collect::<Box<[_]>>()
        };
        let mut nic = VirtioNic {
            device,
            receive: ReceivePool {
                buffers: empty(),
                buffer_of_token: [None; QUEUE_SIZE],
                to_repost: (0..QUEUE_SIZE as u16).collect(),
            },
            transmit: TransmitPool {
                buffers: empty(),
                free: (0..QUEUE_SIZE as u16).rev().collect(),
                buffer_of_token: [None; QUEUE_SIZE],
            },
            statistics: NicStatistics::default(),
        };
        nic.repost_receive_buffers()?;
        Ok(nic)
    }

    /// The MAC address from the device's configuration space.
    pub fn mac_address(&self) -> [u8; 6] {
        self.device.mac_address()
    }

    /// Acknowledges the device's interrupt (reads and clears the ISR, virtio 1.2 §4.1.4.5).
    pub fn acknowledge_interrupt(&mut self) {
        let _ = self.device.ack_interrupt();
    }

    /// Posts the buffers smoltcp has finished with back to the receive queue.
    fn repost_receive_buffers(&mut self) -> Result<(), NicError> {
        while let Some(index) = self.receive.to_repost.pop() {
            let Some(buffer) = self.receive.buffers.get_mut(usize::from(index)) else {
                continue;
            };
            // SAFETY: the buffer is owned by the pool for the device's whole life (the pool is
            // dropped after the device, field order), and is not touched again until the device
            // returns it through `poll_receive`.
            match unsafe { self.device.receive_begin(&mut buffer.0) } {
                Ok(token) => {
                    if let Some(slot) = self.receive.buffer_of_token.get_mut(usize::from(token)) {
                        *slot = Some(index);
                    }
                }
                Err(error) => {
                    self.receive.to_repost.push(index);
                    return Err(NicError(error));
                }
            }
        }
        Ok(())
    }

    /// Returns transmit buffers whose frames the device has sent to the free list.
    fn reclaim_transmit_buffers(&mut self) {
        while let Some(token) = self.device.poll_transmit() {
            let Some(index) = self
                .transmit
                .buffer_of_token
                .get_mut(usize::from(token))
                .and_then(Option::take)
            else {
                log::error!("virtio-net: the device returned unknown transmit token {token}");
                break;
            };
            let Some(buffer) = self.transmit.buffers.get(usize::from(index)) else {
                break;
            };
            // SAFETY: `buffer` is the one passed to `transmit_begin` for this token.
            if unsafe { self.device.transmit_complete(token, &buffer.0) }.is_err() {
                log::error!("virtio-net: transmit_complete failed for token {token}");
            }
            self.transmit.free.push(index);
            self.statistics.frames_sent += 1;
        }
    }
}

/// A received frame, lent to smoltcp.
pub struct VirtioRxToken<'a> {
    frame: &'a [u8],
}

/// Permission to send one frame.
pub struct VirtioTxToken<'a, T: Transport> {
    device: &'a mut VirtIONetRaw<VirtioHal, T, QUEUE_SIZE>,
    pool: &'a mut TransmitPool,
    statistics: &'a mut NicStatistics,
}

impl<T: Transport> phy::Device for VirtioNic<T> {
    type RxToken<'a>
        = VirtioRxToken<'a>
    where
        Self: 'a;
    type TxToken<'a>
        = VirtioTxToken<'a, T>
    where
        Self: 'a;

    fn receive(&mut self, _timestamp: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        if let Err(error) = self.repost_receive_buffers() {
            log::error!(
                "virtio-net: reposting a receive buffer failed: {:?}",
                error.0
            );
        }
        self.reclaim_transmit_buffers();
        if self.transmit.free.is_empty() {
            self.statistics.transmit_ring_full += 1;
            return None;
        }
        let (index, frame_start, frame_end) = loop {
            let token = self.device.poll_receive()?;
            let index = self
                .receive
                .buffer_of_token
                .get_mut(usize::from(token))
                .and_then(Option::take)?;
            let buffer = self.receive.buffers.get_mut(usize::from(index))?;
            // SAFETY: `buffer` is the one passed to `receive_begin` for this token.
            let completed = unsafe { self.device.receive_complete(token, &mut buffer.0) };
            // Whatever happens now, smoltcp's use of the buffer ends before the next poll.
            self.receive.to_repost.push(index);
            match completed {
                Ok((header_bytes, frame_bytes)) => {
                    break (
                        index,
                        header_bytes,
                        header_bytes.saturating_add(frame_bytes),
                    );
                }
                Err(_) => self.statistics.receive_errors += 1,
            }
        };
        let frame = self
            .receive
            .buffers
            .get(usize::from(index))?
            .0
            .get(frame_start..frame_end)?;
        self.statistics.frames_received += 1;
        let transmit = VirtioTxToken {
            device: &mut self.device,
            pool: &mut self.transmit,
            statistics: &mut self.statistics,
        };
        Some((VirtioRxToken { frame }, transmit))
    }

    fn transmit(&mut self, _timestamp: Instant) -> Option<Self::TxToken<'_>> {
        self.reclaim_transmit_buffers();
        if self.transmit.free.is_empty() {
            self.statistics.transmit_ring_full += 1;
            return None;
        }
        Some(VirtioTxToken {
            device: &mut self.device,
            pool: &mut self.transmit,
            statistics: &mut self.statistics,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut capabilities = DeviceCapabilities::default();
        capabilities.medium = Medium::Ethernet;
        capabilities.max_transmission_unit = MAX_FRAME_BYTES;
        // smoltcp issue #949: tell smoltcp how many frames the queue can take at once.
        capabilities.max_burst_size = Some(self.transmit.free.len().max(1));
        capabilities
    }
}

impl phy::RxToken for VirtioRxToken<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, consumer: F) -> R {
        consumer(self.frame)
    }
}

impl<T: Transport> phy::TxToken for VirtioTxToken<'_, T> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, length: usize, producer: F) -> R {
        let mut scratch = [0u8; 0];
        let Some(index) = self.pool.free.pop() else {
            // `transmit` checked for a free buffer; reaching this is a bug, and the frame is lost.
            return producer(&mut scratch);
        };
        let Some(buffer) = self.pool.buffers.get_mut(usize::from(index)) else {
            return producer(&mut scratch);
        };
        let header_bytes = self.device.fill_buffer_header(&mut buffer.0).unwrap_or(0);
        let end = header_bytes.saturating_add(length).min(BUFFER_BYTES);
        let result = producer(buffer.0.get_mut(header_bytes..end).unwrap_or(&mut scratch));
        // SAFETY: the buffer stays in the pool, untouched, until `poll_transmit` returns this
        // token and `reclaim_transmit_buffers` takes it back.
        match unsafe { self.device.transmit_begin(&buffer.0[..end]) } {
            Ok(token) => {
                if let Some(slot) = self.pool.buffer_of_token.get_mut(usize::from(token)) {
                    *slot = Some(index);
                }
            }
            Err(error) => {
                log::warn!("virtio-net: frame of {length} bytes dropped: {error:?}");
                self.pool.free.push(index);
                self.statistics.transmit_ring_full += 1;
            }
        }
        result
    }
}
