//! TCP checksums done by the server instead of smoltcp, with a summing routine the caller can
//! replace by a faster one (the kernel's uses NEON).
//!
//! **Why.** Every TCP segment in or out is summed once (RFC 9293 §3.1, the ones' complement sum
//! of RFC 1071). smoltcp's `checksum::data` is portable Rust that, on a target with strict
//! alignment such as `aarch64-unknown-none`, loads every byte on its own: it was the second
//! hottest function of a keep-alive request (3,953 guest instructions of ~31,000 for a 1 KiB
//! GET). NEON sums 64 bytes in a handful of instructions, but needs `unsafe` loads, so the
//! routine is a function pointer ([`ServerConfig::checksum_sum`](super::ServerConfig)): the
//! kernel passes its NEON routine, the host tests the portable [`sum_words`] here.
//!
//! **How it fits smoltcp.** [`ChecksummingDevice`] wraps the card for smoltcp and reports the
//! TCP checksum as done by the device in both directions (`Checksum::None`), so smoltcp neither
//! sums nor verifies TCP. For what the card itself leaves to software (its own capabilities:
//! `tcp.tx()` — it does not checksum sent segments, `tcp.rx()` — it does not check received
//! ones) the wrapper fills the checksum of every sent TCP segment after smoltcp wrote it, and
//! the frame router checks every received one before smoltcp sees it ([`tcp_checksum_valid`]),
//! dropping a segment whose sum is wrong as smoltcp would have. IPv4 header, UDP and ICMP
//! checksums stay with smoltcp (short, or rare).

use smoltcp::phy::{Checksum, Device, DeviceCapabilities, TxToken};
use smoltcp::time::Instant;
use smoltcp::wire::{IpProtocol, checksum};

use super::offload::TCP_CHECKSUM_FIELD_OFFSET;
use super::tcp_frame::locate_tcp;

/// A routine that returns the ones' complement sum (RFC 1071 §1) of `data` taken as big-endian
/// 16-bit words — a last odd byte counts as the high byte of a word — folded to 16 bits and not
/// complemented: what smoltcp's `checksum::data` returns.
pub type SumRoutine = fn(&[u8]) -> u16;

/// The portable [`SumRoutine`]: 16-bit words in native byte order added into a 64-bit
/// accumulator, folded and swapped to network order at the end (RFC 1071 §2 (B): the sum does
/// not depend on the byte order in which it is taken).
pub fn sum_words(data: &[u8]) -> u16 {
    network_order(add_native_words(0, data))
}

/// `total` plus `data` taken as 16-bit words in native byte order (a last odd byte as the
/// word's first byte), unfolded: the scalar part of any [`SumRoutine`].
pub fn add_native_words(mut total: u64, data: &[u8]) -> u64 {
    let mut words = data.chunks_exact(2);
    for word in &mut words {
        total += u64::from(u16::from_ne_bytes([word[0], word[1]]));
    }
    if let [last] = words.remainder() {
        total += u64::from(u16::from_ne_bytes([*last, 0]));
    }
    total
}

/// A sum of native-order words, folded and turned into the network-order sum a
/// [`SumRoutine`] returns (RFC 1071 §2 (B)).
pub fn network_order(native_total: u64) -> u16 {
    u16::from_be_bytes(fold(native_total).to_ne_bytes())
}

/// Folds a 64-bit ones' complement sum to 16 bits (RFC 1071 §2 (C): end-around carries).
pub fn fold(mut sum: u64) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    // The loop leaves at most 16 bits.
    u16::try_from(sum).unwrap_or(0xffff)
}

/// Whether `frame` is not a TCP segment this module checks, or is one with a valid checksum
/// (RFC 9293 §3.1: the sum over the pseudo-header, the header and the data is all ones).
/// A TCP segment cut short by its frame is not valid.
pub fn tcp_checksum_valid(frame: &[u8], sum: SumRoutine) -> bool {
    let Some(tcp) = locate_tcp(frame) else {
        return true;
    };
    let Some(segment) = frame.get(tcp.start..tcp.end) else {
        return false;
    };
    let Ok(length) = u32::try_from(segment.len()) else {
        return false;
    };
    let pseudo_header =
        checksum::pseudo_header(&tcp.source, &tcp.destination, IpProtocol::Tcp, length);
    checksum::combine(&[pseudo_header, sum(segment)]) == 0xffff
}

/// Writes the checksum of the TCP segment in `frame`, if it holds one (IPv4 unfragmented or
/// IPv6, as smoltcp sends them).
pub fn fill_tcp_checksum(frame: &mut [u8], sum: SumRoutine) {
    let Some(tcp) = locate_tcp(frame) else {
        return;
    };
    let field = tcp.start + usize::from(TCP_CHECKSUM_FIELD_OFFSET);
    let (Some(segment), true) = (frame.get_mut(tcp.start..tcp.end), field + 2 <= tcp.end) else {
        return;
    };
    let Ok(length) = u32::try_from(segment.len()) else {
        return;
    };
    let offset = usize::from(TCP_CHECKSUM_FIELD_OFFSET);
    segment[offset..offset + 2].fill(0);
    let pseudo_header =
        checksum::pseudo_header(&tcp.source, &tcp.destination, IpProtocol::Tcp, length);
    let value = !checksum::combine(&[pseudo_header, sum(segment)]);
    segment[offset..offset + 2].copy_from_slice(&value.to_be_bytes());
}

/// The TCP checksums a card leaves to software, and the capabilities smoltcp and the frame
/// router see, from the card's capabilities: asked once, when the server is made (they do not
/// change, and building them cost about 150 instructions per frame).
#[derive(Debug, Clone)]
pub struct ChecksumDuties {
    /// The card does not checksum sent TCP segments: the wrapper does.
    fill_sent: bool,
    /// The card does not check received TCP segments: the frame router does.
    verify_received: bool,
    /// The card's capabilities with TCP checksums left to the wrapper.
    capabilities: DeviceCapabilities,
}

impl ChecksumDuties {
    /// What `card` leaves to software.
    pub fn of<D: Device + ?Sized>(card: &D) -> ChecksumDuties {
        let mut capabilities = card.capabilities();
        let tcp = capabilities.checksum.tcp;
        capabilities.checksum.tcp = Checksum::None;
        ChecksumDuties {
            fill_sent: tcp.tx(),
            verify_received: tcp.rx(),
            capabilities,
        }
    }
}

/// The card as smoltcp sees it: TCP checksums left to this wrapper (see the module
/// documentation).
pub struct ChecksummingDevice<'card, D: ?Sized> {
    card: &'card mut D,
    sum: SumRoutine,
    fill_sent: bool,
    pub(super) verify_received: bool,
    /// What [`Device::capabilities`] answers (see [`ChecksumDuties`]).
    capabilities: DeviceCapabilities,
}

impl<'card, D: Device + ?Sized> ChecksummingDevice<'card, D> {
    /// Wraps `card`, which leaves `duties` to software; `sum` is the routine for them.
    pub fn new(card: &'card mut D, sum: SumRoutine, duties: &ChecksumDuties) -> Self {
        ChecksummingDevice {
            card,
            sum,
            fill_sent: duties.fill_sent,
            verify_received: duties.verify_received,
            capabilities: duties.capabilities.clone(),
        }
    }

    /// The routine in use.
    pub(super) fn sum(&self) -> SumRoutine {
        self.sum
    }
}

/// A transmit token that fills the TCP checksum after smoltcp has written the frame.
pub struct ChecksummingTransmit<T> {
    token: T,
    sum: Option<SumRoutine>,
}

impl<T: TxToken> TxToken for ChecksummingTransmit<T> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, length: usize, producer: F) -> R {
        let sum = self.sum;
        self.token.consume(length, |frame| {
            let result = producer(frame);
            if let Some(sum) = sum {
                fill_tcp_checksum(frame, sum);
            }
            result
        })
    }

    fn set_meta(&mut self, meta: smoltcp::phy::PacketMeta) {
        self.token.set_meta(meta);
    }
}

impl<D: Device + ?Sized> Device for ChecksummingDevice<'_, D> {
    type RxToken<'token>
        = D::RxToken<'token>
    where
        Self: 'token;
    type TxToken<'token>
        = ChecksummingTransmit<D::TxToken<'token>>
    where
        Self: 'token;

    fn receive(&mut self, timestamp: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let sum = self.fill_sent.then_some(self.sum);
        let (receive, token) = self.card.receive(timestamp)?;
        Some((receive, ChecksummingTransmit { token, sum }))
    }

    fn transmit(&mut self, timestamp: Instant) -> Option<Self::TxToken<'_>> {
        let sum = self.fill_sent.then_some(self.sum);
        let token = self.card.transmit(timestamp)?;
        Some(ChecksummingTransmit { token, sum })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        self.capabilities.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic bytes for the tests.
    fn bytes(count: usize, seed: u64) -> alloc::vec::Vec<u8> {
        let mut state = seed | 1;
        (0..count)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect()
    }

    #[test]
    fn the_portable_sum_is_smoltcps_for_every_length_and_offset() {
        let data = bytes(3000, 42);
        for start in 0..8 {
            for length in (0..300).chain([1459, 1460, 1461, 2047, 2048, 2992]) {
                let slice = &data[start..start + length];
                assert_eq!(sum_words(slice), checksum::data(slice), "{start} {length}");
            }
        }
        assert_eq!(sum_words(&[0xff; 65_535]), checksum::data(&[0xff; 65_535]));
    }

    #[test]
    fn filled_checksums_are_smoltcps_and_verify_and_a_flipped_bit_does_not() {
        use super::super::offload::tests::{frame, tcp_repr};
        use smoltcp::wire::TcpControl;
        for ipv6 in [false, true] {
            for payload_bytes in [0, 1, 2, 3, 100, 1459, 1460] {
                let payload = bytes(payload_bytes, payload_bytes as u64);
                let repr = tcp_repr(TcpControl::Psh, None, &payload);
                let by_smoltcp = frame(&repr, ipv6, true);
                assert!(tcp_checksum_valid(&by_smoltcp, sum_words));
                let mut ours = frame(&repr, ipv6, false);
                fill_tcp_checksum(&mut ours, sum_words);
                assert_eq!(ours, by_smoltcp, "ipv6 {ipv6}, {payload_bytes} bytes");
                let last = ours.len() - 1;
                ours[last] ^= 0x10;
                assert!(!tcp_checksum_valid(&ours, sum_words));
            }
        }
        // Not TCP: nothing to check, nothing changed.
        let mut arp = alloc::vec![0u8; 42];
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        assert!(tcp_checksum_valid(&arp, sum_words));
        let before = arp.clone();
        fill_tcp_checksum(&mut arp, sum_words);
        assert_eq!(arp, before);
    }

    #[test]
    fn fold_carries_end_around() {
        assert_eq!(fold(0), 0);
        assert_eq!(fold(0xffff), 0xffff);
        assert_eq!(fold(0x1_0000), 1);
        assert_eq!(fold(u64::MAX), 0xffff);
    }

    proptest::proptest! {
        /// A valid TCP frame (IPv4 or IPv6) with bytes overwritten anywhere: never a panic; a
        /// frame still seen as TCP, with room for the checksum field, checks out once filled,
        /// with only that field changed; anything else is left as it is.
        #[test]
        fn damaged_frames_never_panic_and_filled_ones_verify(
            payload in proptest::collection::vec(proptest::num::u8::ANY, 0..1500),
            ipv6 in proptest::bool::ANY,
            damage in proptest::collection::vec((0usize..1600, proptest::num::u8::ANY), 0..4),
        ) {
            use super::super::offload::tests::{frame, tcp_repr};
            let repr = tcp_repr(smoltcp::wire::TcpControl::Psh, None, &payload);
            let mut bytes = frame(&repr, ipv6, true);
            for (at, value) in damage {
                let length = bytes.len();
                bytes[at % length] = value;
            }
            let _ = tcp_checksum_valid(&bytes, sum_words);
            let mut filled = bytes.clone();
            fill_tcp_checksum(&mut filled, sum_words);
            match locate_tcp(&bytes) {
                Some(tcp) if tcp.end <= bytes.len() && tcp.end >= tcp.start + 18 => {
                    proptest::prop_assert!(tcp_checksum_valid(&filled, sum_words));
                    let field = tcp.start + usize::from(TCP_CHECKSUM_FIELD_OFFSET);
                    for index in 0..bytes.len() {
                        if index != field && index != field + 1 {
                            proptest::prop_assert_eq!(filled[index], bytes[index]);
                        }
                    }
                }
                _ => proptest::prop_assert_eq!(&filled, &bytes),
            }
        }
    }
}
