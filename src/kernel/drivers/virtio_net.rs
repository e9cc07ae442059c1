//! virtio-net (virtio 1.2 §5.1) over either transport: the virtqueues of virtio-drivers'
//! `VirtIONetRaw` under the portable driver `bareserve::nic::virtio` (buffer pools, feature
//! choice, headers, the smoltcp `phy::Device`), and the transport wrapper that negotiates the
//! features it chose.

use bareserve::nic::virtio::features::{self, BringUpPlan};
use bareserve::nic::virtio::{QUEUE_SIZE, VirtioNet, VirtioNetQueues};
use virtio_drivers::device::net::VirtIONetRaw;
use virtio_drivers::transport::{
    DeviceStatus, DeviceType, InterruptStatus, SomeTransport, Transport,
};
use virtio_drivers::{PhysAddr, Result as VirtioResult};
use zerocopy::{FromBytes, Immutable, IntoBytes};

use super::virtio_hal::VirtioHal;

/// The transport a [`VirtioNic`] drives: the card's own, with the feature negotiation adjusted
/// in both directions (virtio-drivers 0.13's `VirtIONetRaw` neither offers offloads nor lets
/// the caller add features): VIRTIO_F_EVENT_IDX is never offered
/// (`features::device_features_offered` says why), and the offload features in `offloads` are
/// accepted on the driver's behalf (`features::driver_features_written`).
pub struct NegotiatingTransport<T: Transport> {
    inner: T,
    offloads: u64,
}

impl<T: Transport> Transport for NegotiatingTransport<T> {
    fn device_type(&self) -> DeviceType {
        self.inner.device_type()
    }
    fn read_device_features(&mut self) -> u64 {
        features::device_features_offered(self.inner.read_device_features())
    }
    fn write_driver_features(&mut self, driver_features: u64) {
        self.inner
            .write_driver_features(features::driver_features_written(
                driver_features,
                self.offloads,
            ))
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

/// The two virtqueues of `VirtIONetRaw`, as the portable driver drives them.
pub struct RawQueues<T: Transport>(VirtIONetRaw<VirtioHal, NegotiatingTransport<T>, QUEUE_SIZE>);

/// A virtio-net card: the portable driver over virtio-drivers' queues.
pub type VirtioNic<T> = VirtioNet<RawQueues<T>>;

impl<T: Transport> VirtioNetQueues for RawQueues<T> {
    type Error = virtio_drivers::Error;

    fn fill_header(&self, buffer: &mut [u8]) -> Result<usize, Self::Error> {
        self.0.fill_buffer_header(buffer)
    }

    fn transmit_begin(&mut self, buffer: &[u8]) -> Result<u16, Self::Error> {
        // SAFETY: `VirtioNetQueues`' contract, kept by `bareserve::nic::virtio`: the buffer lies
        // in a transmit pool that outlives these queues and is neither moved nor touched until
        // `poll_transmit` returns this token and `transmit_complete` is given the same buffer.
        unsafe { self.0.transmit_begin(buffer) }
    }

    fn poll_transmit(&mut self) -> Option<u16> {
        self.0.poll_transmit()
    }

    fn transmit_complete(&mut self, token: u16, buffer: &[u8]) -> Result<(), Self::Error> {
        // SAFETY: by the same contract, `buffer` is the one passed to `transmit_begin` for
        // `token`.
        unsafe { self.0.transmit_complete(token, buffer) }.map(|_| ())
    }

    fn receive_begin(&mut self, buffer: &mut [u8]) -> Result<u16, Self::Error> {
        // SAFETY: `VirtioNetQueues`' contract: the buffer lies in the receive pool, which
        // outlives these queues, and is not touched again until the device returns it through
        // `poll_receive` and `receive_complete` is given the same buffer.
        unsafe { self.0.receive_begin(buffer) }
    }

    fn poll_receive(&mut self) -> Option<u16> {
        self.0.poll_receive()
    }

    fn receive_complete(
        &mut self,
        token: u16,
        buffer: &mut [u8],
    ) -> Result<(usize, usize), Self::Error> {
        // SAFETY: by the same contract, `buffer` is the one passed to `receive_begin` for
        // `token`.
        unsafe { self.0.receive_complete(token, buffer) }
    }

    fn acknowledge_interrupt(&mut self) {
        let _ = self.0.ack_interrupt();
    }
}

/// Why the NIC could not be brought up.
#[derive(Debug)]
pub struct NicError(pub virtio_drivers::Error);

/// Negotiates features, sets up both virtqueues and posts every receive buffer.
pub fn bring_up<T: Transport>(mut transport: T) -> Result<VirtioNic<T>, NicError> {
    // Reading the offered features before the reset that `begin_init` does is allowed: they are
    // fixed for the device (virtio 1.2 §3.1.1 reads them after ACKNOWLEDGE and DRIVER only to
    // negotiate, which happens below).
    let device_features = transport.read_device_features();
    let free_bytes = crate::heap::main_heap_free_bytes();
    let plan = match features::plan_bring_up(device_features, free_bytes) {
        Ok(plan) => plan,
        Err(shortfall) => {
            log::error!(
                "virtio-net: too little RAM for the buffers: {} KiB needed, {} KiB free (give QEMU more -m)",
                shortfall.needed_bytes / 1024,
                shortfall.free_bytes / 1024
            );
            return Err(NicError(virtio_drivers::Error::DmaError));
        }
    };
    let BringUpPlan {
        offloads,
        offload,
        segmentation_refused_for_memory,
    } = plan;
    if segmentation_refused_for_memory {
        log::info!(
            "virtio-net: {} KiB free: no segmentation offload (its buffers need {} KiB)",
            free_bytes / 1024,
            features::LARGE_POOL_BYTES / 1024
        );
    }
    let transport = NegotiatingTransport {
        inner: transport,
        offloads,
    };
    let device = VirtIONetRaw::<VirtioHal, _, QUEUE_SIZE>::new(transport).map_err(NicError)?;
    let mac_address = device.mac_address();
    VirtioNet::new(RawQueues(device), offload, mac_address).map_err(NicError)
}
