//! virtio-net as a smoltcp `phy::Device` (virtio 1.2 §5.1), over either transport.
//!
//! Built on `virtio_drivers::device::net::VirtIONetRaw` rather than its convenience wrapper,
//! because the wrapper allocates a vector per transmitted frame and waits for each transmission
//! to finish. Here both directions use fixed buffer pools allocated once: receive buffers are
//! handed back to the device after smoltcp has read them, transmit buffers are reclaimed when
//! the device reports them used, and frames are queued without waiting (docs/design-notes.md §7:
//! no transmit busy-waiting).
//!
//! When the device offers them (QEMU's virtio-net over tap does; over user networking it does
//! not), the driver also takes TCP checksum offload (`VIRTIO_NET_F_CSUM`) and segmentation
//! offload (`VIRTIO_NET_F_HOST_TSO4`/`_TSO6`, virtio 1.2 §5.1.3 and §5.1.6.2): the frame edits
//! that takes are in the portable `bareserve::offload`, which explains how large segments are
//! made to fit smoltcp.

use alloc::boxed::Box;
use alloc::vec::Vec;

use bareserve::offload::{self, TransmitPlan, VIRTIO_NET_HEADER_FIELDS_BYTES};
use smoltcp::phy::{self, Checksum, DeviceCapabilities, Medium};
use smoltcp::time::Instant;
use virtio_drivers::device::net::VirtIONetRaw;
use virtio_drivers::transport::{
    DeviceStatus, DeviceType, InterruptStatus, SomeTransport, Transport,
};
use virtio_drivers::{PhysAddr, Result as VirtioResult};
use zerocopy::{FromBytes, Immutable, IntoBytes};

use super::virtio_hal::VirtioHal;

/// Descriptors per virtqueue: QEMU's default and maximum for virtio-net (docs/design-notes.md §6:
/// 16-entry queues cost throughput).
pub const QUEUE_SIZE: usize = 256;
/// Bytes per buffer: a 1514-byte Ethernet frame plus the 12-byte virtio-net header
/// (virtio 1.2 §5.1.6), rounded up so buffers stay 64-byte aligned.
const BUFFER_BYTES: usize = 1536;
/// Largest Ethernet frame without FCS (IEEE 802.3 §3.2).
const MAX_FRAME_BYTES: usize = 1514;

/// VIRTIO_F_EVENT_IDX (virtio 1.2 §6.3, bit 29, "VIRTIO_F_RING_EVENT_IDX").
const FEATURE_EVENT_INDEX: u64 = 1 << 29;
/// VIRTIO_NET_F_CSUM (virtio 1.2 §5.1.3, bit 0): the device checksums partially checksummed
/// frames the driver sends.
const FEATURE_CHECKSUM: u64 = 1 << 0;
/// VIRTIO_NET_F_HOST_TSO4 and _TSO6 (virtio 1.2 §5.1.3, bits 11 and 12): the device segments
/// large TCP segments over IPv4 and IPv6. Both require VIRTIO_NET_F_CSUM (§5.1.3.1).
const FEATURE_SEGMENTATION_IPV4: u64 = 1 << 11;
const FEATURE_SEGMENTATION_IPV6: u64 = 1 << 12;

/// The MSS a received SYN's option is raised to when the device segments
/// (`offload::raise_peer_mss`): eleven standard IPv4 segments. Measured over tap (10 MiB,
/// 64 KiB send buffers): 16 KB segments moved 115-124 MB/s, 64 KB ones 110-134 MB/s, 1,460-byte
/// ones 47-57 MB/s; larger segments save little more per byte, and smaller ones keep several
/// in flight within a connection's send buffer.
const RAISED_MSS: u16 = 11 * 1460;
/// Largest frame smoltcp may build when the device segments: a raised-MSS payload behind the
/// longest headers smoltcp sends (Ethernet 14, IPv6 40, TCP 20 + 40 bytes of options).
const LARGE_FRAME_BYTES: usize = RAISED_MSS as usize + 14 + 40 + 20 + 40;
/// Bytes of a transmit buffer for large segments: a large frame and the virtio-net header,
/// rounded up to a multiple of 64 bytes.
const LARGE_BUFFER_BYTES: usize = (LARGE_FRAME_BYTES + 12).next_multiple_of(64);
/// Large transmit buffers: a quarter of the queue, about 1 MiB.
const LARGE_BUFFER_COUNT: usize = QUEUE_SIZE / 4;

/// The offloads a driver can take from the device: checksums, and segmentation when both IP
/// versions are offered (an IPv6 SYN's MSS must not be raised if IPv6 segments cannot be cut).
fn offloads_wanted(device_features: u64) -> u64 {
    if device_features & FEATURE_CHECKSUM == 0 {
        return 0;
    }
    let segmentation = FEATURE_SEGMENTATION_IPV4 | FEATURE_SEGMENTATION_IPV6;
    if device_features & segmentation == segmentation {
        FEATURE_CHECKSUM | segmentation
    } else {
        FEATURE_CHECKSUM
    }
}

/// The transport a [`VirtioNic`] drives: the card's own, with the feature negotiation adjusted
/// in both directions (virtio-drivers 0.13's `VirtIONetRaw` neither offers offloads nor lets
/// the caller add features).
///
/// - VIRTIO_F_EVENT_IDX is never offered to the driver. virtio-drivers 0.13 decides whether to
///   notify the device with `avail_idx >= avail_event + 1` (`VirtQueue::should_notify`), which
///   is not the wrapping comparison virtio 1.2 §2.7.10 requires (`vring_need_event`). Once the
///   16-bit available index wraps while the device waits for a kick, no kick comes until it has
///   gone round again: under load over tap, requests then waited for the idle loop's 1 s
///   wake-up. Without EVENT_IDX the driver uses the ring flags (§2.7.7), which have no such
///   comparison; measured over tap this was as fast or faster.
/// - The offload features in `offloads` are accepted on the driver's behalf; this driver fills
///   the header fields they use itself (`offload::virtio_net_header`).
pub struct NegotiatingTransport<T: Transport> {
    inner: T,
    offloads: u64,
}

impl<T: Transport> Transport for NegotiatingTransport<T> {
    fn device_type(&self) -> DeviceType {
        self.inner.device_type()
    }
    fn read_device_features(&mut self) -> u64 {
        self.inner.read_device_features() & !FEATURE_EVENT_INDEX
    }
    fn write_driver_features(&mut self, driver_features: u64) {
        self.inner
            .write_driver_features((driver_features & !FEATURE_EVENT_INDEX) | self.offloads)
    }
    fn max_queue_size(&mut self, queue: u16) -> u32 {
        self.inner.max_queue_size(queue)
    }
    fn notify(&mut self, queue: u16) {
        self.inner.notify(queue)
    }
    fn get_status(&self) -> DeviceStatus {
        self.inner.get_status()
    }
    fn set_status(&mut self, status: DeviceStatus) {
        self.inner.set_status(status)
    }
    fn set_guest_page_size(&mut self, guest_page_size: u32) {
        self.inner.set_guest_page_size(guest_page_size)
    }
    fn requires_legacy_layout(&self) -> bool {
        self.inner.requires_legacy_layout()
    }
    fn queue_set(
        &mut self,
        queue: u16,
        size: u32,
        descriptors: PhysAddr,
        driver_area: PhysAddr,
        device_area: PhysAddr,
    ) {
        self.inner
            .queue_set(queue, size, descriptors, driver_area, device_area)
    }
    fn queue_unset(&mut self, queue: u16) {
        self.inner.queue_unset(queue)
    }
    fn queue_used(&mut self, queue: u16) -> bool {
        self.inner.queue_used(queue)
    }
    fn ack_interrupt(&mut self) -> InterruptStatus {
        self.inner.ack_interrupt()
    }
    fn read_config_generation(&self) -> u32 {
        self.inner.read_config_generation()
    }
    fn read_config_space<V: FromBytes + IntoBytes>(&self, offset: usize) -> VirtioResult<V> {
        self.inner.read_config_space(offset)
    }
    fn write_config_space<V: IntoBytes + Immutable>(
        &mut self,
        offset: usize,
        value: V,
    ) -> VirtioResult<()> {
        self.inner.write_config_space(offset, value)
    }
}

/// The transport every virtio-net card uses: MMIO or PCI.
pub type NicTransport = SomeTransport<'static>;

#[repr(C, align(64))]
struct FrameBuffer([u8; BUFFER_BYTES]);

/// Counters for the console.
#[derive(Debug, Default, Clone, Copy)]
pub struct NicStatistics {
    /// Frames received.
    pub frames_received: u64,
    /// Frames sent (a large segment counts once).
    pub frames_sent: u64,
    /// Large segments handed to the device to cut.
    pub large_segments_sent: u64,
    /// Receive errors (buffer returned without a frame).
    pub receive_errors: u64,
    /// Times smoltcp wanted to send but every buffer was in flight.
    pub transmit_ring_full: u64,
    /// Frames dropped because the device could not have sent them (never expected).
    pub frames_unsendable: u64,
}

/// What the device does for the driver (negotiated at bring-up).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offload {
    /// Nothing: smoltcp checksums every frame, frames are at most 1,514 bytes.
    None,
    /// TCP checksums.
    Checksum,
    /// TCP checksums and segmentation of large TCP segments.
    ChecksumAndSegmentation,
}

impl Offload {
    /// For the console.
    pub fn describe(self) -> &'static str {
        match self {
            Offload::None => "none (the device offers no TCP checksum offload)",
            Offload::Checksum => "TCP checksums",
            Offload::ChecksumAndSegmentation => "TCP checksums and segmentation",
        }
    }
}

/// A virtio-net device with its buffer pools.
pub struct VirtioNic<T: Transport> {
    device: VirtIONetRaw<VirtioHal, NegotiatingTransport<T>, QUEUE_SIZE>,
    receive: ReceivePool,
    transmit: TransmitPool,
    offload: Offload,
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

/// Which transmit buffer a virtqueue token holds.
#[derive(Debug, Clone, Copy)]
enum TransmitBuffer {
    Standard(u16),
    Large(u16),
}

struct TransmitPool {
    buffers: Box<[FrameBuffer]>,
    free: Vec<u16>,
    /// Buffers for large segments (empty without segmentation offload).
    large_buffers: Vec<Box<[u8]>>,
    large_free: Vec<u16>,
    buffer_of_token: [Option<TransmitBuffer>; QUEUE_SIZE],
}

impl TransmitPool {
    /// Whether a frame of any size smoltcp may build can be taken now.
    fn can_take_any_frame(&self) -> bool {
        !self.free.is_empty() && (self.large_buffers.is_empty() || !self.large_free.is_empty())
    }

    /// The buffer slice of `buffer`.
    fn bytes(&self, buffer: TransmitBuffer) -> Option<&[u8]> {
        match buffer {
            TransmitBuffer::Standard(index) => self
                .buffers
                .get(usize::from(index))
                .map(|buffer| &buffer.0[..]),
            TransmitBuffer::Large(index) => {
                self.large_buffers.get(usize::from(index)).map(|b| &b[..])
            }
        }
    }

    fn release(&mut self, buffer: TransmitBuffer) {
        match buffer {
            TransmitBuffer::Standard(index) => self.free.push(index),
            TransmitBuffer::Large(index) => self.large_free.push(index),
        }
    }
}

/// Why the NIC could not be brought up.
#[derive(Debug)]
pub struct NicError(pub virtio_drivers::Error);

impl<T: Transport> VirtioNic<T> {
    /// Negotiates features, sets up both virtqueues and posts every receive buffer.
    pub fn new(mut transport: T) -> Result<Self, NicError> {
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
        // Reading the offered features before the reset that `begin_init` does is allowed:
        // they are fixed for the device (virtio 1.2 §3.1.1 reads them after ACKNOWLEDGE and
        // DRIVER only to negotiate, which happens below).
        let mut offloads = offloads_wanted(transport.read_device_features());
        // The large buffers only where they leave room for the sockets: a machine with a
        // few MiB of heap serves better with small frames than with fewer connections.
        let large_pool_bytes = LARGE_BUFFER_COUNT * LARGE_BUFFER_BYTES;
        if offloads & FEATURE_SEGMENTATION_IPV4 != 0
            && free_bytes < needed_bytes + 8 * large_pool_bytes
        {
            log::info!(
                "virtio-net: {} KiB free: no segmentation offload (its buffers need {} KiB)",
                free_bytes / 1024,
                large_pool_bytes / 1024
            );
            offloads &= FEATURE_CHECKSUM;
        }
        let offload = if offloads & FEATURE_SEGMENTATION_IPV4 != 0 {
            Offload::ChecksumAndSegmentation
        } else if offloads & FEATURE_CHECKSUM != 0 {
            Offload::Checksum
        } else {
            Offload::None
        };
        let transport = NegotiatingTransport {
            inner: transport,
            offloads,
        };
        let device = VirtIONetRaw::<VirtioHal, _, QUEUE_SIZE>::new(transport).map_err(NicError)?;
        let empty = || {
            (0..QUEUE_SIZE)
                .map(|_| FrameBuffer([0; BUFFER_BYTES]))
                .collect::<Box<[_]>>()
        };
        let large_count = if offload == Offload::ChecksumAndSegmentation {
            LARGE_BUFFER_COUNT
        } else {
            0
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
                large_buffers: (0..large_count)
                    .map(|_| alloc::vec![0u8; LARGE_BUFFER_BYTES].into_boxed_slice())
                    .collect(),
                large_free: (0..large_count as u16).rev().collect(),
                buffer_of_token: [None; QUEUE_SIZE],
            },
            offload,
            statistics: NicStatistics::default(),
        };
        nic.repost_receive_buffers()?;
        Ok(nic)
    }

    /// The MAC address from the device's configuration space.
    pub fn mac_address(&self) -> [u8; 6] {
        self.device.mac_address()
    }

    /// What the device does for the driver.
    pub fn offload(&self) -> Offload {
        self.offload
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

    /// Returns transmit buffers whose frames the device has sent to the free lists.
    fn reclaim_transmit_buffers(&mut self) {
        while let Some(token) = self.device.poll_transmit() {
            let Some(buffer) = self
                .transmit
                .buffer_of_token
                .get_mut(usize::from(token))
                .and_then(Option::take)
            else {
                log::error!("virtio-net: the device returned unknown transmit token {token}");
                break;
            };
            let Some(bytes) = self.transmit.bytes(buffer) else {
                break;
            };
            // SAFETY: `bytes` is the buffer passed to `transmit_begin` for this token.
            if unsafe { self.device.transmit_complete(token, bytes) }.is_err() {
                log::error!("virtio-net: transmit_complete failed for token {token}");
            }
            self.transmit.release(buffer);
            self.statistics.frames_sent += 1;
        }
    }

    fn transmit_token(&mut self) -> VirtioTxToken<'_, T> {
        VirtioTxToken {
            device: &mut self.device,
            pool: &mut self.transmit,
            offload: self.offload,
            statistics: &mut self.statistics,
        }
    }
}

/// A received frame, lent to smoltcp.
pub struct VirtioRxToken<'a> {
    frame: &'a [u8],
}

/// Permission to send one frame.
pub struct VirtioTxToken<'a, T: Transport> {
    device: &'a mut VirtIONetRaw<VirtioHal, NegotiatingTransport<T>, QUEUE_SIZE>,
    pool: &'a mut TransmitPool,
    offload: Offload,
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
        if !self.transmit.can_take_any_frame() {
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
            .get_mut(usize::from(index))?
            .0
            .get_mut(frame_start..frame_end)?;
        if self.offload == Offload::ChecksumAndSegmentation {
            offload::raise_peer_mss(frame, MAX_FRAME_BYTES, RAISED_MSS);
        }
        self.statistics.frames_received += 1;
        let transmit = VirtioTxToken {
            device: &mut self.device,
            pool: &mut self.transmit,
            offload: self.offload,
            statistics: &mut self.statistics,
        };
        Some((VirtioRxToken { frame }, transmit))
    }

    fn transmit(&mut self, _timestamp: Instant) -> Option<Self::TxToken<'_>> {
        self.reclaim_transmit_buffers();
        if !self.transmit.can_take_any_frame() {
            self.statistics.transmit_ring_full += 1;
            return None;
        }
        Some(self.transmit_token())
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut capabilities = DeviceCapabilities::default();
        capabilities.medium = Medium::Ethernet;
        capabilities.max_transmission_unit = MAX_FRAME_BYTES;
        if self.offload != Offload::None {
            // Received segments are still verified; sent ones are summed by the device.
            capabilities.checksum.tcp = Checksum::Rx;
        }
        let mut burst = self.transmit.free.len();
        if self.offload == Offload::ChecksumAndSegmentation {
            capabilities.max_transmission_unit = LARGE_FRAME_BYTES;
            burst = burst.min(self.transmit.large_free.len());
        }
        // smoltcp issue #949: tell smoltcp how many frames the queue can take at once.
        capabilities.max_burst_size = Some(burst.max(1));
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
        let taken = if length <= MAX_FRAME_BYTES {
            self.pool.free.pop().map(TransmitBuffer::Standard)
        } else {
            self.pool.large_free.pop().map(TransmitBuffer::Large)
        };
        // `transmit` checked that a buffer of either size is free, and smoltcp builds no
        // frame longer than the MTU in `capabilities`; reaching `None` is a bug, and the frame
        // is lost.
        let Some(taken) = taken else {
            self.statistics.frames_unsendable += 1;
            return producer(&mut scratch);
        };
        let buffer: &mut [u8] = match taken {
            TransmitBuffer::Standard(index) => self
                .pool
                .buffers
                .get_mut(usize::from(index))
                .map_or(&mut scratch[..], |buffer| &mut buffer.0[..]),
            TransmitBuffer::Large(index) => self
                .pool
                .large_buffers
                .get_mut(usize::from(index))
                .map_or(&mut scratch[..], |buffer| &mut buffer[..]),
        };
        let header_bytes = self.device.fill_buffer_header(buffer).unwrap_or(0);
        let end = header_bytes.saturating_add(length).min(buffer.len());
        let Some(frame) = buffer.get_mut(header_bytes..end) else {
            self.pool.release(taken);
            return producer(&mut scratch);
        };
        let result = producer(frame);
        if self.offload != Offload::None {
            let plan = offload::prepare_transmit(frame, MAX_FRAME_BYTES);
            if plan == TransmitPlan::Oversized {
                log::error!("virtio-net: {length}-byte frame the device cannot send; dropped");
                self.statistics.frames_unsendable += 1;
                self.pool.release(taken);
                return result;
            }
            if let TransmitPlan::Offload {
                segmentation: Some(_),
                ..
            } = plan
            {
                self.statistics.large_segments_sent += 1;
            }
            if let Some(fields) = buffer.get_mut(..VIRTIO_NET_HEADER_FIELDS_BYTES) {
                fields.copy_from_slice(&offload::virtio_net_header(plan));
            }
        }
        let Some(filled) = buffer.get(..end) else {
            self.pool.release(taken);
            return result;
        };
        // SAFETY: the buffer stays in the pool, untouched, until `poll_transmit` returns this
        // token and `reclaim_transmit_buffers` takes it back.
        match unsafe { self.device.transmit_begin(filled) } {
            Ok(token) => {
                if let Some(slot) = self.pool.buffer_of_token.get_mut(usize::from(token)) {
                    *slot = Some(taken);
                }
            }
            Err(error) => {
                log::warn!("virtio-net: frame of {length} bytes dropped: {error:?}");
                self.pool.release(taken);
                self.statistics.transmit_ring_full += 1;
            }
        }
        result
    }
}
