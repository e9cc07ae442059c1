//! Producer/consumer bookkeeping of the ring-16 descriptor rings (docs/bcm2711.md §6.1, §6.3
//! steps 5–6, §6.4, §6.8).
//!
//! GENET's PROD/CONS registers are free-running 16-bit counters that wrap at 0x10000, not at
//! the ring length; the descriptor for an index is `index % ring_length`, consistent across the
//! wrap because the ring length (256) divides 65,536. Occupancy is `producer - consumer` in
//! wrapping arithmetic (U-Boot's `cons < prod` comparison breaks at the wrap; this does not).
//! These types hold no register access: the driver reads and writes the registers and feeds the
//! values in, so every rule here is testable on its own.

/// Number of descriptors in each ring: all 256 of the direction's descriptor RAM (U-Boot).
pub const RING_LENGTH: u16 = 256;

// docs/bcm2711.md §6.1: the index arithmetic is consistent across the 16-bit wrap only when the
// ring length divides 65,536.
const _: () = assert!(65_536 % (RING_LENGTH as u32) == 0);

/// The descriptor slot of a free-running index.
pub fn descriptor_for(index: u16) -> usize {
    usize::from(index % RING_LENGTH)
}

/// A hardware index that cannot be right: it claims more descriptors than the ring holds, or
/// moves backwards past the software index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InconsistentIndex {
    /// The software-side index.
    pub software_index: u16,
    /// The value the hardware reported.
    pub hardware_index: u16,
}

/// The transmit ring: software produces (TDMA_PROD_INDEX), the DMA consumes (TDMA_CONS_INDEX).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TransmitRing {
    producer: u16,
    consumer: u16,
}

impl TransmitRing {
    /// A ring that adopts the hardware's consumer index: both indices start there and the
    /// driver writes the producer register with it (docs/bcm2711.md §6.3 step 6, §6.8).
    pub fn adopt(hardware_consumer: u16) -> Self {
        Self {
            producer: hardware_consumer,
            consumer: hardware_consumer,
        }
    }

    /// The next index software will fill (the value TDMA_PROD_INDEX holds).
    pub fn producer(&self) -> u16 {
        self.producer
    }

    /// The oldest index not yet known to be sent.
    pub fn consumer(&self) -> u16 {
        self.consumer
    }

    /// Descriptors handed to the DMA and not yet reclaimed.
    pub fn in_flight(&self) -> u16 {
        self.producer.wrapping_sub(self.consumer)
    }

    /// Descriptors software may fill now.
    pub fn free(&self) -> u16 {
        RING_LENGTH.saturating_sub(self.in_flight())
    }

    /// True when all descriptors are in flight.
    pub fn is_full(&self) -> bool {
        self.in_flight() >= RING_LENGTH
    }

    /// The descriptor slot to fill next, or `None` when the ring is full.
    pub fn next_descriptor(&self) -> Option<usize> {
        if self.is_full() {
            None
        } else {
            Some(descriptor_for(self.producer))
        }
    }

    /// Records that the next descriptor was filled; returns the new producer index to write.
    /// Does nothing (and returns the unchanged index) when the ring is full.
    pub fn push(&mut self) -> u16 {
        if !self.is_full() {
            self.producer = self.producer.wrapping_add(1);
        }
        self.producer
    }

    /// Takes the hardware consumer index; returns how many descriptors completed since the last
    /// call. The value must lie between the software consumer and producer.
    pub fn reclaim(&mut self, hardware_consumer: u16) -> Result<u16, InconsistentIndex> {
        let completed = hardware_consumer.wrapping_sub(self.consumer);
        if completed > self.in_flight() {
            return Err(InconsistentIndex {
                software_index: self.producer,
                hardware_index: hardware_consumer,
            });
        }
        self.consumer = hardware_consumer;
        Ok(completed)
    }

    /// Abandons everything in flight after a DMA stop and TX flush (docs/bcm2711.md §6.8): the
    /// producer goes back to the hardware consumer so that no stale descriptor is sent when DMA
    /// restarts. Returns how many frames were dropped.
    pub fn abandon(&mut self, hardware_consumer: u16) -> u16 {
        let completed = hardware_consumer.wrapping_sub(self.consumer);
        let in_flight = self.in_flight();
        let dropped = in_flight.saturating_sub(completed.min(in_flight));
        self.producer = hardware_consumer;
        self.consumer = hardware_consumer;
        dropped
    }
}

/// The receive ring: the DMA produces (RDMA_PROD_INDEX), software consumes (RDMA_CONS_INDEX).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReceiveRing {
    consumer: u16,
}

impl ReceiveRing {
    /// A ring that adopts the hardware's producer index: software writes it into
    /// RDMA_CONS_INDEX and consumes from there (U-Boot: the producer index cannot be reset;
    /// docs/bcm2711.md §6.3 step 5, §6.8).
    pub fn adopt(hardware_producer: u16) -> Self {
        Self {
            consumer: hardware_producer,
        }
    }

    /// The next index to consume (the value RDMA_CONS_INDEX holds).
    pub fn consumer(&self) -> u16 {
        self.consumer
    }

    /// Frames the DMA has written and software not yet consumed, given RDMA_PROD_INDEX.
    pub fn pending(&self, hardware_producer: u16) -> Result<u16, InconsistentIndex> {
        let pending = hardware_producer.wrapping_sub(self.consumer);
        if pending > RING_LENGTH {
            return Err(InconsistentIndex {
                software_index: self.consumer,
                hardware_index: hardware_producer,
            });
        }
        Ok(pending)
    }

    /// The descriptor slot of the next frame to consume.
    pub fn next_descriptor(&self) -> usize {
        descriptor_for(self.consumer)
    }

    /// Records that the next descriptor was consumed and re-armed; returns the new consumer
    /// index to write.
    pub fn advance(&mut self) -> u16 {
        self.consumer = self.consumer.wrapping_add(1);
        self.consumer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transmit_ring_fills_to_256_across_the_16_bit_wrap() {
        let mut ring = TransmitRing::adopt(0xFFF0);
        for step in 0..256u16 {
            assert_eq!(
                ring.next_descriptor(),
                Some(usize::from((0xFFF0u16.wrapping_add(step)) % 256))
            );
            ring.push();
        }
        assert!(ring.is_full());
        assert_eq!(ring.in_flight(), 256);
        assert_eq!(ring.producer(), 0x00F0);
        assert_eq!(ring.next_descriptor(), None);
        assert_eq!(ring.push(), 0x00F0, "a full ring does not advance");
        assert_eq!(ring.reclaim(0x0005), Ok(21));
        assert_eq!(ring.free(), 21);
        assert_eq!(ring.reclaim(0x00F0), Ok(235));
        assert_eq!(ring.in_flight(), 0);
    }

    #[test]
    fn transmit_reclaim_rejects_an_index_beyond_the_producer() {
        let mut ring = TransmitRing::adopt(10);
        ring.push();
        ring.push();
        assert_eq!(
            ring.reclaim(13),
            Err(InconsistentIndex {
                software_index: 12,
                hardware_index: 13
            })
        );
        assert_eq!(
            ring.reclaim(9),
            Err(InconsistentIndex {
                software_index: 12,
                hardware_index: 9
            })
        );
        assert_eq!(ring.reclaim(11), Ok(1));
    }

    #[test]
    fn transmit_abandon_drops_what_was_not_sent() {
        let mut ring = TransmitRing::adopt(0xFFFE);
        for _ in 0..5 {
            ring.push();
        }
        assert_eq!(ring.abandon(0xFFFF), 4);
        assert_eq!((ring.producer(), ring.consumer()), (0xFFFF, 0xFFFF));
    }

    #[test]
    fn receive_ring_counts_pending_across_the_wrap() {
        let mut ring = ReceiveRing::adopt(0xFFFE);
        assert_eq!(ring.pending(0x0001), Ok(3));
        assert_eq!(ring.next_descriptor(), 254);
        assert_eq!(ring.advance(), 0xFFFF);
        assert_eq!(ring.advance(), 0x0000);
        assert_eq!(ring.next_descriptor(), 0);
        assert_eq!(ring.pending(0x0001), Ok(1));
        assert_eq!(
            ring.pending(0x0101),
            Err(InconsistentIndex {
                software_index: 0,
                hardware_index: 0x0101
            })
        );
    }

    proptest::proptest! {
        /// Against a reference with unbounded counters: any start index, any mix of pushes and
        /// completions keeps occupancy, free count and descriptor slots right across wraps.
        #[test]
        fn transmit_ring_matches_unbounded_counters(
            start in proptest::prelude::any::<u16>(),
            steps in proptest::collection::vec((0u16..300, 0u16..300), 1..40),
        ) {
            let mut ring = TransmitRing::adopt(start);
            let (mut produced, mut consumed) = (u64::from(start), u64::from(start));
            for (pushes, completions) in steps {
                for _ in 0..pushes {
                    let expected_slot = (produced % 256) as usize;
                    let full = produced - consumed == 256;
                    proptest::prop_assert_eq!(ring.next_descriptor(), if full { None } else { Some(expected_slot) });
                    ring.push();
                    if !full {
                        produced += 1;
                    }
                }
                consumed += u64::from(completions).min(produced - consumed);
                let previous_consumer = ring.consumer();
                proptest::prop_assert_eq!(
                    ring.reclaim(consumed as u16),
                    Ok((consumed as u16).wrapping_sub(previous_consumer))
                );
                proptest::prop_assert_eq!(u64::from(ring.in_flight()), produced - consumed);
                proptest::prop_assert_eq!(u64::from(ring.free()), 256 - (produced - consumed));
                proptest::prop_assert_eq!(ring.producer(), produced as u16);
            }
        }
    }
}
