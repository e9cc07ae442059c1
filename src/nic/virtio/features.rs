//! Feature negotiation (virtio 1.2 §2.2, §3.1.1 and §5.1.3) and the memory the buffer pools need.
//!
//! virtio-drivers 0.13's `VirtIONetRaw` neither offers offloads nor lets the caller add features,
//! so the kernel wraps the transport and adjusts both directions with
//! [`device_features_offered`] and [`driver_features_written`].

/// VIRTIO_NET_F_CSUM (virtio 1.2 §5.1.3, bit 0): the device checksums partially checksummed
/// frames the driver sends.
pub const FEATURE_CHECKSUM: u64 = 1 << 0;
/// VIRTIO_NET_F_HOST_TSO4 (virtio 1.2 §5.1.3, bit 11): the device segments large TCP segments over
/// IPv4. Requires VIRTIO_NET_F_CSUM (§5.1.3.1).
pub const FEATURE_SEGMENTATION_IPV4: u64 = 1 << 11;
/// VIRTIO_NET_F_HOST_TSO6 (virtio 1.2 §5.1.3, bit 12): likewise over IPv6.
pub const FEATURE_SEGMENTATION_IPV6: u64 = 1 << 12;
/// VIRTIO_F_EVENT_IDX (virtio 1.2 §6.3, bit 29, "VIRTIO_F_RING_EVENT_IDX").
pub const FEATURE_EVENT_INDEX: u64 = 1 << 29;

/// The offloads a driver can take from the device: checksums, and segmentation when both IP
/// versions are offered (an IPv6 SYN's MSS must not be raised if IPv6 segments cannot be cut).
pub fn offloads_wanted(device_features: u64) -> u64 {
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

/// The device features as shown to virtio-drivers: all but VIRTIO_F_EVENT_IDX.
///
/// virtio-drivers 0.13 decides whether to notify the device with `avail_idx >= avail_event + 1`
/// (`VirtQueue::should_notify`), which is not the wrapping comparison virtio 1.2 §2.7.10 requires
/// (`vring_need_event`). Once the 16-bit available index wraps while the device waits for a kick,
/// no kick comes until it has gone round again: under load over tap, requests then waited for
/// the idle loop's 1 s wake-up. Without EVENT_IDX the driver uses the ring flags (§2.7.7), which
/// have no such comparison; measured over tap this was as fast or faster.
pub fn device_features_offered(device_features: u64) -> u64 {
    device_features & !FEATURE_EVENT_INDEX
}

/// The driver features written to the device: virtio-drivers' choice without
/// VIRTIO_F_EVENT_IDX, plus the `offloads` this driver takes on its own behalf (it fills the
/// header fields they use itself, `offload::virtio_net_header`).
pub fn driver_features_written(driver_features: u64, offloads: u64) -> u64 {
    (driver_features & !FEATURE_EVENT_INDEX) | offloads
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
    /// The offload the feature bits `offloads` (from [`offloads_wanted`]) give.
    pub fn from_features(offloads: u64) -> Offload {
        if offloads & FEATURE_SEGMENTATION_IPV4 != 0 {
            Offload::ChecksumAndSegmentation
        } else if offloads & FEATURE_CHECKSUM != 0 {
            Offload::Checksum
        } else {
            Offload::None
        }
    }

    /// Whether the device computes the TCP checksums of sent frames.
    pub fn checksums_sent_tcp(self) -> bool {
        self != Offload::None
    }

    /// For the console.
    pub fn describe(self) -> &'static str {
        match self {
            Offload::None => "none (the device offers no TCP checksum offload)",
            Offload::Checksum => "TCP checksums",
            Offload::ChecksumAndSegmentation => "TCP checksums and segmentation",
        }
    }
}

/// Heap bytes bring-up needs besides the large buffers: both standard pools plus room for the
/// virtqueues.
pub const BASE_POOL_BYTES: usize = 2 * super::QUEUE_SIZE * super::BUFFER_BYTES + 64 * 1024;
/// Heap bytes of the large transmit buffers (segmentation offload only).
pub const LARGE_POOL_BYTES: usize = super::LARGE_BUFFER_COUNT * super::LARGE_BUFFER_BYTES;

/// The features to negotiate, decided from the device's offer and the free heap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BringUpPlan {
    /// Offload feature bits to accept ([`driver_features_written`]).
    pub offloads: u64,
    /// What they give.
    pub offload: Offload,
    /// The device offered segmentation, but the heap has too little room for its buffers.
    pub segmentation_refused_for_memory: bool,
}

/// Why bring-up cannot start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLittleMemory {
    /// Heap bytes the pools need.
    pub needed_bytes: usize,
    /// Heap bytes free.
    pub free_bytes: usize,
}

/// Decides the offloads for a device offering `device_features` with `free_heap_bytes` of heap.
///
/// Both standard pools plus the virtqueues must fit, or the allocation would fail with a bare
/// "memory allocation failed" panic; the caller says how much RAM is missing instead. The large
/// buffers are taken only where they leave room for the sockets: a machine with a few MiB of heap
/// serves better with small frames than with fewer connections.
pub fn plan_bring_up(
    device_features: u64,
    free_heap_bytes: usize,
) -> Result<BringUpPlan, TooLittleMemory> {
    if free_heap_bytes < BASE_POOL_BYTES {
        return Err(TooLittleMemory {
            needed_bytes: BASE_POOL_BYTES,
            free_bytes: free_heap_bytes,
        });
    }
    let mut offloads = offloads_wanted(device_features);
    let mut segmentation_refused_for_memory = false;
    if offloads & FEATURE_SEGMENTATION_IPV4 != 0
        && free_heap_bytes < BASE_POOL_BYTES + 8 * LARGE_POOL_BYTES
    {
        offloads &= FEATURE_CHECKSUM;
        segmentation_refused_for_memory = true;
    }
    Ok(BringUpPlan {
        offloads,
        offload: Offload::from_features(offloads),
        segmentation_refused_for_memory,
    })
}
