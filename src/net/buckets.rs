//! Connected sockets in buckets, so that the work per frame and per poll grows with what happens,
//! not with how many connections are open.
//!
//! smoltcp's `Interface` walks every socket of the `SocketSet` it is given: for each received
//! frame (`poll_ingress_single` asks each TCP socket whether it accepts the segment), for each
//! transmit pass (`poll_egress` asks each socket for a segment) and for the next deadline
//! (`poll_at`). With thousands of connections in one set, every packet of every client would
//! cost thousands of such checks. The server therefore keeps only the DHCP socket and the
//! listeners in one small set, and moves each socket a handshake has taken into one of many small sets
//! (buckets), chosen by a keyed hash of the client's address and port. The frame router
//! (`syn_gate`) parses each TCP frame anyway; it looks up the frame's 4-tuple in its bucket and
//! hands smoltcp that bucket's set alone. Each poll round then services and transmits only the
//! buckets that received a frame, took a new socket, or have a deadline due (smoltcp's
//! retransmission and ACK timers, the connections' time limits), and the earliest deadline
//! of all comes from a tournament tree of the buckets' deadlines instead of a walk over every
//! socket: the earliest is read at its root, a changed deadline costs one walk up the tree's
//! ~12 levels, and the due buckets are found by walking down only into subtrees whose minimum
//! has come.

use alloc::vec::Vec;

use smoltcp::iface::SocketSet;
use smoltcp::wire::{IpAddress, IpEndpoint};

use super::pump::{SocketRole, SocketSlot};
#[cfg(doc)]
use super::server::HttpServer;

/// Average sockets per bucket the bucket count is sized for: a bucket's sockets are all walked
/// by smoltcp for each frame routed to it, and all serviced when one of them has work.
const SOCKETS_PER_BUCKET: usize = 2;

/// Most buckets, whatever the connection limit.
const BUCKET_COUNT_MAX: usize = 4096;

/// A deadline of "none" in the deadline table.
const NO_DEADLINE: u64 = u64::MAX;

/// Socket entries a bucket's table gets when it first takes a socket (the table then doubles as
/// needed): about the average per bucket the bucket count is sized for, with room to spare.
const BUCKET_TABLE_INITIAL_ENTRIES: usize = 4;

/// One bucket: a socket set and the slots of its sockets.
///
/// The set's table (a `Vec` of smoltcp's `SocketStorage`, about 500 bytes an entry) never
/// shrinks by itself, and smoltcp grows it infallibly. The bucket therefore sizes it: it grows
/// it fallibly before it would be full ([`SocketBuckets::insert`] rebuilds the set in a larger
/// table, or refuses the socket when the heap cannot give one), and drops it when the bucket
/// empties ([`Bucket::release_if_empty`]), so that a flood that once touched every bucket
/// does not keep the memory of its high-water mark for good.
pub(super) struct Bucket {
    pub(super) sockets: SocketSet<'static>,
    pub(super) slots: Vec<SocketSlot>,
    /// Entries in the set's table, taken or free: the most sockets it has held at once.
    table_length: usize,
    /// Entries the table has room for without reallocating.
    table_capacity: usize,
    /// Whether the bucket is in [`SocketBuckets::queued`] already.
    queued: bool,
}

impl Bucket {
    fn empty() -> Bucket {
        Bucket {
            sockets: SocketSet::new(Vec::new()),
            slots: Vec::new(),
            table_length: 0,
            table_capacity: 0,
            queued: false,
        }
    }

    /// Frees the socket table and the slot list of a bucket that holds no socket any more.
    pub(super) fn release_if_empty(&mut self) {
        if self.slots.is_empty() && self.table_capacity > 0 {
            self.sockets = SocketSet::new(Vec::new());
            self.slots = Vec::new();
            self.table_length = 0;
            self.table_capacity = 0;
        }
    }

    /// Makes sure one more socket fits in the table and the slot list without an infallible
    /// allocation: grows both (the table by moving every socket into a new set with twice the
    /// room) when needed. Returns `false`, changing nothing, when the heap cannot give the room.
    fn reserve_one(&mut self) -> bool {
        if self.slots.try_reserve(1).is_err() {
            return false;
        }
        // A free entry exists when fewer sockets are held than the table has entries.
        if self.slots.len() < self.table_length || self.table_length < self.table_capacity {
            return true;
        }
        let capacity = (self.table_capacity * 2).max(BUCKET_TABLE_INITIAL_ENTRIES);
        let mut table = Vec::new();
        if table.try_reserve_exact(capacity).is_err() {
            return false;
        }
        let mut sockets = SocketSet::new(table);
        for slot in &mut self.slots {
            let socket = self.sockets.remove(slot.handle);
            slot.handle = sockets.add(socket);
        }
        self.sockets = sockets;
        self.table_length = self.slots.len();
        self.table_capacity = capacity;
        true
    }
}

/// Every socket past LISTEN, in buckets (see the module documentation).
pub(super) struct SocketBuckets {
    pub(super) buckets: Vec<Bucket>,
    /// Buckets to service and transmit in this poll round, each once.
    queued: Vec<usize>,
    /// The other list of the same room, given to [`Self::queued`] while the taken one is being
    /// serviced, so that buckets queued meanwhile never make a list grow.
    spare_queue: Vec<usize>,
    /// Each bucket's next deadline (smoltcp's timers and its connections' time limits).
    deadlines: DeadlineTree,
    /// Key of the bucket hash: a client cannot aim its connections at one bucket without it.
    hash_key: u64,
    /// Sockets in the buckets with [`SocketRole::Regular`] (counted against the connection limit).
    pub(super) regular_count: usize,
    /// Sockets in the buckets with [`SocketRole::Overflow`] (answering `503`).
    pub(super) overflow_count: usize,
    /// Regular sockets closed to make room at the connection limit and not yet gone: they no
    /// longer count against the limit (each is gone within the short close linger).
    pub(super) reclaimed_count: usize,
    /// Until when no spare listener is kept at the connection limit, in microseconds: the last
    /// search for a connection to reclaim found none.
    pub(super) spare_blocked_until_us: u64,
}

impl SocketBuckets {
    /// Buckets for up to `socket_count` sockets; `hash_key` should differ per boot.
    pub(super) fn new(socket_count: usize, hash_key: u64) -> SocketBuckets {
        let bucket_count = (socket_count / SOCKETS_PER_BUCKET)
            .max(1)
            .next_power_of_two()
            .min(BUCKET_COUNT_MAX);
        let buckets = (0..bucket_count).map(|_| Bucket::empty()).collect();
        SocketBuckets {
            buckets,
            // Each bucket is queued at most once, so this never grows: a round that queues
            // thousands of buckets (a crowd's timeouts falling due together) must not need a
            // large block from a fragmented heap (it did: `memory allocation of 8192 bytes
            // failed`, the list doubling to 1,024 entries, with 10,000 idle clients at -m 128M).
            queued: Vec::with_capacity(bucket_count),
            spare_queue: Vec::with_capacity(bucket_count),
            deadlines: DeadlineTree::new(bucket_count),
            // An odd multiplier for the hash; the seed's bits spread over the key.
            hash_key: hash_mix(hash_key ^ 0x9e37_79b9_7f4a_7c15) | 1,
            regular_count: 0,
            overflow_count: 0,
            reclaimed_count: 0,
            spare_blocked_until_us: 0,
        }
    }

    /// The bucket of a connection from `remote`.
    pub(super) fn bucket_of(&self, remote: IpEndpoint) -> usize {
        let address_bits = match remote.addr {
            IpAddress::Ipv4(address) => u64::from(address.to_bits()),
            IpAddress::Ipv6(address) => {
                let bits = address.to_bits();
                // Truncation intended: both halves are folded into the hash.
                (bits as u64) ^ ((bits >> 64) as u64).rotate_left(17)
            }
        };
        let hash = hash_mix((address_bits ^ self.hash_key).wrapping_mul(self.hash_key))
            ^ hash_mix(u64::from(remote.port) ^ self.hash_key.rotate_left(32));
        // The bucket count is a power of two.
        usize::try_from(hash).unwrap_or(0) & (self.buckets.len() - 1)
    }

    /// The bucket and slot of the socket of the connection `local` ← `remote`, if any.
    pub(super) fn find(&self, local: IpEndpoint, remote: IpEndpoint) -> Option<(usize, usize)> {
        let index = self.bucket_of(remote);
        self.buckets[index]
            .slots
            .iter()
            .position(|slot| slot.peer == Some(remote) && slot.local == Some(local))
            .map(|slot_index| (index, slot_index))
    }

    /// Marks slot `slot_index` of bucket `index` due and queues the bucket (a frame arrived).
    pub(super) fn mark_due(&mut self, index: usize, slot_index: usize) {
        self.buckets[index].slots[slot_index].due = true;
        self.queue(index);
    }

    /// Puts a socket a connection has taken into its client's bucket and queues the bucket (its
    /// connection is to be serviced). `slot.peer` and `slot.local` must be set. Returns `false`,
    /// dropping the socket, when the heap cannot give the bucket room for it (see [`Bucket`]).
    #[must_use]
    pub(super) fn insert(
        &mut self,
        socket: smoltcp::socket::Socket<'static>,
        mut slot: SocketSlot,
    ) -> bool {
        let index = slot.peer.map_or(0, |peer| self.bucket_of(peer));
        if !self.buckets[index].reserve_one() {
            return false;
        }
        slot.due = true;
        let bucket = &mut self.buckets[index];
        if bucket.slots.len() == bucket.table_length {
            // No free entry: the set appends one (within the reserved room).
            bucket.table_length += 1;
        }
        slot.handle = bucket.sockets.add(socket);
        match slot.role {
            SocketRole::Regular => self.regular_count += 1,
            SocketRole::Overflow => self.overflow_count += 1,
        }
        bucket.slots.push(slot);
        self.queue(index);
        true
    }

    /// Queues bucket `index` for this poll round (a frame arrived for it, or a socket moved in).
    pub(super) fn queue(&mut self, index: usize) {
        let bucket = &mut self.buckets[index];
        if !bucket.queued {
            bucket.queued = true;
            self.queued.push(index);
        }
    }

    /// Queues every bucket whose deadline has come at `now_us`.
    pub(super) fn queue_due(&mut self, now_us: u64) {
        let SocketBuckets {
            deadlines,
            buckets,
            queued,
            ..
        } = self;
        deadlines.visit_due(now_us, |index| {
            let bucket = &mut buckets[index];
            if !bucket.queued {
                bucket.queued = true;
                queued.push(index);
            }
        });
    }

    /// Takes the list of queued buckets (to service them); they are no longer queued.
    pub(super) fn take_queued(&mut self) -> Vec<usize> {
        let spare = core::mem::take(&mut self.spare_queue);
        let queued = core::mem::replace(&mut self.queued, spare);
        for &index in &queued {
            self.buckets[index].queued = false;
        }
        queued
    }

    /// Gives back the (serviced) list from [`Self::take_queued`], keeping its allocation.
    pub(super) fn return_queue(&mut self, mut list: Vec<usize>) {
        list.clear();
        self.spare_queue = list;
    }

    /// Sets bucket `index`'s next deadline.
    pub(super) fn set_deadline(&mut self, index: usize, deadline_us: Option<u64>) {
        self.deadlines
            .set(index, deadline_us.unwrap_or(NO_DEADLINE));
    }

    /// The earliest deadline of all buckets, in microseconds.
    /// Whether a bucket waits to be serviced at `now_us`: queued (a frame, a new socket) or
    /// with a deadline due.
    pub(super) fn has_work(&self, now_us: u64) -> bool {
        !self.queued.is_empty() || self.deadlines.earliest() <= now_us
    }

    pub(super) fn earliest_deadline_us(&self) -> Option<u64> {
        let earliest = self.deadlines.earliest();
        (earliest != NO_DEADLINE).then_some(earliest)
    }

    /// Regular connections counted against the connection limit.
    pub(super) fn active_regular_count(&self) -> usize {
        self.regular_count - self.reclaimed_count
    }

    /// Sockets in all buckets.
    pub(super) fn socket_count(&self) -> usize {
        self.regular_count + self.overflow_count
    }
}

/// The buckets' deadlines in a tournament tree (an implicit binary tree over a power-of-two
/// number of leaves, each inner node the minimum of its two children): the earliest deadline is
/// the root, a change walks up one path, and the due leaves are found by walking down only
/// where a subtree's minimum has come. With 4,096 buckets a poll round that finds nothing due
/// costs one comparison instead of a scan of every bucket or group.
struct DeadlineTree {
    /// Node 1 is the root; node `n`'s children are `2n` and `2n + 1`; leaf `i` is node
    /// `leaf_count + i`. Node 0 is unused.
    nodes: Vec<u64>,
    leaf_count: usize,
}

impl DeadlineTree {
    fn new(leaf_count: usize) -> DeadlineTree {
        let leaf_count = leaf_count.max(1).next_power_of_two();
        DeadlineTree {
            nodes: alloc::vec![NO_DEADLINE; 2 * leaf_count],
            leaf_count,
        }
    }

    fn earliest(&self) -> u64 {
        self.nodes[1]
    }

    fn set(&mut self, leaf: usize, deadline_us: u64) {
        let mut node = self.leaf_count + leaf;
        if self.nodes.get(node) == Some(&deadline_us) {
            return;
        }
        self.nodes[node] = deadline_us;
        while node > 1 {
            node /= 2;
            let minimum = self.nodes[2 * node].min(self.nodes[2 * node + 1]);
            if self.nodes[node] == minimum {
                // Nothing above changes either.
                break;
            }
            self.nodes[node] = minimum;
        }
    }

    /// Calls `visit` with every leaf whose deadline is at or before `now_us`, in leaf order.
    fn visit_due(&self, now_us: u64, mut visit: impl FnMut(usize)) {
        if self.nodes[1] > now_us {
            return;
        }
        // Depth-first, left child first; the stack holds at most one pending right sibling per
        // level (≤ 64 levels for any `usize` leaf count).
        let mut stack = [0usize; usize::BITS as usize];
        let mut depth = 0;
        let mut node = 1;
        loop {
            if node >= self.leaf_count {
                visit(node - self.leaf_count);
            } else {
                let (left, right) = (2 * node, 2 * node + 1);
                let left_due = self.nodes[left] <= now_us;
                let right_due = self.nodes[right] <= now_us;
                if left_due && right_due {
                    stack[depth] = right;
                    depth += 1;
                }
                if left_due {
                    node = left;
                    continue;
                }
                if right_due {
                    node = right;
                    continue;
                }
            }
            if depth == 0 {
                return;
            }
            depth -= 1;
            node = stack[depth];
        }
    }
}

/// A 64-bit finalizer (the one of MurmurHash3, public domain): every input bit affects every
/// output bit.
fn hash_mix(mut value: u64) -> u64 {
    value ^= value >> 33;
    value = value.wrapping_mul(0xff51_afd7_ed55_8ccd);
    value ^= value >> 33;
    value = value.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    value ^ (value >> 33)
}

#[cfg(test)]
mod tests {
    use super::*;
    use smoltcp::wire::Ipv4Address;

    #[test]
    fn deadlines_give_the_earliest_and_queue_the_due_buckets() {
        let mut buckets = SocketBuckets::new(1000, 7);
        assert_eq!(buckets.buckets.len(), 512);
        assert_eq!(buckets.earliest_deadline_us(), None);
        buckets.set_deadline(3, Some(500));
        buckets.set_deadline(40, Some(200));
        buckets.set_deadline(41, Some(900));
        assert_eq!(buckets.earliest_deadline_us(), Some(200));
        // Bucket 40's deadline moves later: the minimum is found again.
        buckets.set_deadline(40, Some(1000));
        assert_eq!(buckets.earliest_deadline_us(), Some(500));
        buckets.set_deadline(3, None);
        assert_eq!(buckets.earliest_deadline_us(), Some(900));
        buckets.queue_due(950);
        assert_eq!(buckets.take_queued(), [41]);
        buckets.queue_due(2000);
        buckets.queue(41);
        assert_eq!(buckets.take_queued(), [40, 41]);
        assert!(buckets.take_queued().is_empty());
    }

    #[test]
    fn the_deadline_tree_agrees_with_a_scan_of_every_bucket() {
        for leaf_count in [1usize, 2, 8, 512] {
            let mut tree = DeadlineTree::new(leaf_count);
            let mut plain = alloc::vec![NO_DEADLINE; leaf_count];
            let mut state = 0x2545_f491_4f6c_dd1du64;
            for _ in 0..2_000 {
                state = hash_mix(state);
                let leaf = (state as usize) % leaf_count;
                let deadline = if state.is_multiple_of(7) {
                    NO_DEADLINE
                } else {
                    (state >> 32) % 1000
                };
                tree.set(leaf, deadline);
                plain[leaf] = deadline;
                assert_eq!(
                    tree.earliest(),
                    plain.iter().copied().min().unwrap_or(NO_DEADLINE)
                );
                let now = (state >> 40) % 1000;
                let mut due = Vec::new();
                tree.visit_due(now, |index| due.push(index));
                let expected: Vec<usize> = (0..leaf_count).filter(|&i| plain[i] <= now).collect();
                assert_eq!(due, expected);
            }
        }
    }

    /// A listening socket for the tests, with small buffers.
    fn socket() -> smoltcp::socket::Socket<'static> {
        let mut socket = smoltcp::socket::tcp::Socket::new(
            smoltcp::socket::tcp::SocketBuffer::new(alloc::vec![0u8; 64]),
            smoltcp::socket::tcp::SocketBuffer::new(alloc::vec![0u8; 64]),
        );
        assert!(socket.listen(80).is_ok());
        smoltcp::socket::Socket::Tcp(socket)
    }

    fn slot(peer: IpEndpoint) -> SocketSlot {
        SocketSlot {
            handle: smoltcp::iface::SocketHandle::default(),
            role: SocketRole::Regular,
            phase: super::super::pump::SocketPhase::Listening,
            peer: Some(peer),
            local: None,
            reclaimed: false,
            due: false,
            deadline_us: u64::MAX,
        }
    }

    /// Sockets beyond the table's room move into a larger table with their slots' handles, and
    /// an emptied bucket gives its table back.
    #[test]
    fn a_bucket_table_grows_with_valid_handles_and_is_freed_when_empty() {
        let mut buckets = SocketBuckets::new(2, 1);
        assert_eq!(buckets.buckets.len(), 1);
        let peers: Vec<IpEndpoint> = (0..9u16)
            .map(|port| IpEndpoint::new(IpAddress::Ipv4(Ipv4Address::new(10, 0, 0, 1)), port))
            .collect();
        for &peer in &peers {
            assert!(buckets.insert(socket(), slot(peer)));
        }
        let bucket = &mut buckets.buckets[0];
        // 4, then 8, then 16 entries: the table doubled twice.
        assert_eq!(bucket.table_capacity, 16);
        assert_eq!(bucket.table_length, 9);
        for slot in &bucket.slots {
            // Every handle names a socket of the set (a stale one would panic here).
            let socket = bucket
                .sockets
                .get::<smoltcp::socket::tcp::Socket>(slot.handle);
            assert_eq!(socket.state(), smoltcp::socket::tcp::State::Listen);
        }
        assert_eq!(bucket.sockets.iter().count(), 9);
        // A freed entry is taken again before the table grows.
        let gone = bucket.slots.swap_remove(0);
        bucket.sockets.remove(gone.handle);
        bucket.release_if_empty();
        assert_eq!(bucket.table_capacity, 16);
        assert!(buckets.insert(socket(), slot(peers[0])));
        assert_eq!(buckets.buckets[0].table_length, 9);

        let bucket = &mut buckets.buckets[0];
        for slot in core::mem::take(&mut bucket.slots) {
            bucket.sockets.remove(slot.handle);
        }
        bucket.release_if_empty();
        assert_eq!((bucket.table_capacity, bucket.table_length), (0, 0));
        assert_eq!(bucket.slots.capacity(), 0);
    }

    #[test]
    fn clients_spread_over_the_buckets() {
        let buckets = SocketBuckets::new(4096, 12345);
        let mut used = alloc::vec![0usize; buckets.buckets.len()];
        // One client address, 4,096 consecutive ports: as a single load generator connects.
        for port in 40_000..44_096u16 {
            let remote = IpEndpoint::new(IpAddress::Ipv4(Ipv4Address::new(10, 0, 2, 2)), port);
            used[buckets.bucket_of(remote)] += 1;
        }
        let fullest = used.iter().copied().max().unwrap_or(0);
        // 1 to 2 per bucket on average; a good hash keeps the fullest bucket small.
        assert!(fullest <= 10, "fullest bucket holds {fullest}");
        // Another key puts the same client elsewhere.
        let other = SocketBuckets::new(4096, 54321);
        let remote = IpEndpoint::new(IpAddress::Ipv4(Ipv4Address::new(10, 0, 2, 2)), 40_000);
        let moved = (40_000..40_064u16)
            .filter(|&port| {
                let remote = IpEndpoint { port, ..remote };
                buckets.bucket_of(remote) != other.bucket_of(remote)
            })
            .count();
        assert!(moved > 48, "only {moved} of 64 moved");
    }
}
