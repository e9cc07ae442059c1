//! The receive and transmit buffer pools and which virtqueue token holds which buffer.
//!
//! Both pools are allocated once at bring-up and never move (boxed slices on the heap), so the
//! addresses the device was given stay valid while the driver lives. A buffer is in exactly one
//! place at a time: free (the driver may write it), or posted under a token (the device owns it
//! until it returns the token as used, virtio 1.2 §2.7.13 and §2.7.14), or — receive side only —
//! lent to smoltcp until the next poll.

use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;

use super::{BUFFER_BYTES, QUEUE_SIZE, STANDARD_FRAME_BYTES};
use crate::nic::rules::TransmitDrops;

/// One standard buffer: a frame and its virtio-net header, 64-byte aligned so that no two buffers
/// share a cache line.
#[repr(C, align(64))]
pub(super) struct FrameBuffer(pub(super) [u8; BUFFER_BYTES]);

fn standard_buffers() -> Box<[FrameBuffer]> {
    (0..QUEUE_SIZE)
        .map(|_| FrameBuffer([0; BUFFER_BYTES]))
        .collect()
}

/// The receive buffers: posted to the receive queue, or waiting to be posted again.
pub(super) struct ReceivePool {
    buffers: Box<[FrameBuffer]>,
    /// Buffer index posted under each virtqueue token.
    buffer_of_token: [Option<u16>; QUEUE_SIZE],
    /// Buffers smoltcp has finished with (or never had), to be posted at the next poll.
    to_repost: Vec<u16>,
}

impl ReceivePool {
    /// Every buffer waiting to be posted.
    pub(super) fn new() -> Self {
        Self {
            buffers: standard_buffers(),
            buffer_of_token: [None; QUEUE_SIZE],
            to_repost: (0..QUEUE_SIZE as u16).collect(),
        }
    }

    /// The next buffer to post, if any, with its bytes.
    pub(super) fn next_to_post(&mut self) -> Option<(u16, &mut [u8])> {
        loop {
            let index = self.to_repost.pop()?;
            if usize::from(index) < self.buffers.len() {
                let buffer = self.buffers.get_mut(usize::from(index))?;
                return Some((index, &mut buffer.0[..]));
            }
        }
    }

    /// `index` is now posted under `token`.
    pub(super) fn posted(&mut self, index: u16, token: u16) {
        if let Some(slot) = self.buffer_of_token.get_mut(usize::from(token)) {
            *slot = Some(index);
        }
    }

    /// `index` could not be posted; it is tried again at the next poll.
    pub(super) fn post_failed(&mut self, index: u16) {
        self.to_repost.push(index);
    }

    /// The buffer the device returned under `token`, and its bytes. It is to be posted again at
    /// the next poll whatever the device wrote: smoltcp's use of it ends before then.
    pub(super) fn returned(&mut self, token: u16) -> Option<(u16, &mut [u8])> {
        let index = self
            .buffer_of_token
            .get_mut(usize::from(token))
            .and_then(Option::take)?;
        self.to_repost.push(index);
        let buffer = self.buffers.get_mut(usize::from(index))?;
        Some((index, &mut buffer.0[..]))
    }

    /// The bytes of buffer `index`.
    pub(super) fn bytes_mut(&mut self, index: u16) -> Option<&mut [u8]> {
        self.buffers
            .get_mut(usize::from(index))
            .map(|buffer| &mut buffer.0[..])
    }

    /// Buffers waiting to be posted.
    #[cfg(test)]
    pub(super) fn waiting(&self) -> usize {
        self.to_repost.len()
    }
}

/// Which transmit buffer a virtqueue token holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TransmitBuffer {
    Standard(u16),
    Large(u16),
}

/// The transmit buffers: free, or posted to the transmit queue; and the frames dropped.
pub(super) struct TransmitPool {
    buffers: Box<[FrameBuffer]>,
    free: Vec<u16>,
    /// Buffers for large segments (empty without segmentation offload).
    large_buffers: Vec<Box<[u8]>>,
    large_free: Vec<u16>,
    /// The buffer posted under each virtqueue token, and how many of its bytes were posted.
    buffer_of_token: [Option<(TransmitBuffer, usize)>; QUEUE_SIZE],
    /// Where frames that cannot be sent go (the rule every card shares).
    pub(super) drops: TransmitDrops,
}

impl TransmitPool {
    /// Every standard buffer free, and `large_count` large buffers of `large_buffer_bytes`.
    pub(super) fn new(large_count: usize, large_buffer_bytes: usize) -> Self {
        Self {
            buffers: standard_buffers(),
            free: (0..QUEUE_SIZE as u16).rev().collect(),
            large_buffers: (0..large_count)
                .map(|_| vec![0u8; large_buffer_bytes].into_boxed_slice())
                .collect(),
            large_free: (0..large_count as u16).rev().collect(),
            buffer_of_token: [None; QUEUE_SIZE],
            drops: TransmitDrops::new(STANDARD_FRAME_BYTES),
        }
    }

    /// Whether a frame of any size smoltcp may build can be taken now.
    pub(super) fn can_take_any_frame(&self) -> bool {
        !self.free.is_empty() && (self.large_buffers.is_empty() || !self.large_free.is_empty())
    }

    /// Takes a free buffer for a frame of `frame_bytes`: a standard one for a standard frame,
    /// else a large one.
    pub(super) fn take(&mut self, frame_bytes: usize) -> Option<TransmitBuffer> {
        if frame_bytes <= STANDARD_FRAME_BYTES {
            self.free.pop().map(TransmitBuffer::Standard)
        } else {
            self.large_free.pop().map(TransmitBuffer::Large)
        }
    }

    /// The bytes of `buffer`.
    pub(super) fn bytes(&self, buffer: TransmitBuffer) -> Option<&[u8]> {
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

    /// The bytes of `buffer`, writable (only while it is taken, not posted).
    pub(super) fn bytes_mut(&mut self, buffer: TransmitBuffer) -> Option<&mut [u8]> {
        match buffer {
            TransmitBuffer::Standard(index) => self
                .buffers
                .get_mut(usize::from(index))
                .map(|buffer| &mut buffer.0[..]),
            TransmitBuffer::Large(index) => self
                .large_buffers
                .get_mut(usize::from(index))
                .map(|b| &mut b[..]),
        }
    }

    /// The first `posted_bytes` of `buffer` are now posted under `token`.
    pub(super) fn posted(&mut self, buffer: TransmitBuffer, posted_bytes: usize, token: u16) {
        if let Some(slot) = self.buffer_of_token.get_mut(usize::from(token)) {
            *slot = Some((buffer, posted_bytes));
        }
    }

    /// The buffer posted under `token` and the bytes of it that were posted (the same slice
    /// `transmit_complete` must be given), no longer recorded there.
    pub(super) fn returned(&mut self, token: u16) -> Option<(TransmitBuffer, &[u8])> {
        let (buffer, posted_bytes) = self
            .buffer_of_token
            .get_mut(usize::from(token))
            .and_then(Option::take)?;
        Some((buffer, self.bytes(buffer)?.get(..posted_bytes)?))
    }

    /// `buffer` is free again.
    pub(super) fn release(&mut self, buffer: TransmitBuffer) {
        match buffer {
            TransmitBuffer::Standard(index) => self.free.push(index),
            TransmitBuffer::Large(index) => self.large_free.push(index),
        }
    }

    /// Free standard buffers.
    #[cfg(test)]
    pub(super) fn free_standard(&self) -> usize {
        self.free.len()
    }
}
