//! SYN cookies (RFC 4987 §3.6): the server answers a SYN without keeping anything, and makes the
//! connection's socket only when the client's ACK comes back carrying proof of the SYN-ACK.
//!
//! The SYN-ACK's initial sequence number is the cookie: a keyed hash of the connection's
//! addresses and ports, the client's initial sequence number and a coarse clock, with the MSS and
//! window scale the client offered encoded beside it. The client's ACK acknowledges cookie + 1,
//! and its sequence number is its initial one + 1, so the gate can check the hash and recover the
//! options from the ACK alone. A SYN flood from forged addresses therefore costs one SYN-ACK per
//! SYN and no memory, no slot and no timer; a real client whose ACK is lost is not hurt either,
//! because its first data segment carries the same acknowledgement.
//!
//! Layout of the 32-bit cookie (as Linux's, `net/ipv4/syncookies.c`, with the options beside the
//! clock instead of in the TCP timestamp):
//!
//! | bits | what |
//! |---|---|
//! | 31–27 | the clock, in 64 s ticks, low 5 bits; a cookie is valid in its tick and the next |
//! | 26–24 | index of the client's MSS in [`MSS_TABLE`] (the largest entry not above it) |
//! | 23–20 | the client's window scale shift (RFC 7323 §2.2), 15 when it sent none |
//! | 19–0 | SipHash-2-4 of the above, the 4-tuple and the client's initial sequence number |
//!
//! A forged ACK passes with a chance of 2 in 2^20 per try; what it gains is one connection that
//! has to send a request head before the head timeout, and that is the first closed when the
//! server runs out of connections (see "At the limit" in the [module documentation](super)).
//! TCP timestamps and SACK (RFC 7323, RFC 2018) are not offered: the cookie has no room for them,
//! and smoltcp gains little from either at this server's windows.
//!
//! smoltcp has no way to open a socket in SYN-RECEIVED with a given initial sequence number. It
//! draws that number from its interface's random generator (sPCG32, `smoltcp::rand`) when a
//! listening socket takes a SYN, so [`interface_seed_for_isn`] runs that generator backwards: an
//! interface made with that seed, whose first draw after its own set-up is the socket's initial
//! sequence number, gives the socket the cookie. The gate makes such an interface for each
//! completed handshake, hands it a SYN rebuilt from the cookie, then gives the client's ACK to
//! the real interface; if smoltcp ever draws differently the ACK does not match, the socket
//! stays in SYN-RECEIVED, and the gate says so on the console (a host test pins it).

use core::hash::Hasher;

use siphasher::sip::SipHasher24;
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    EthernetAddress, EthernetFrame, EthernetProtocol, EthernetRepr, IpAddress, IpEndpoint,
    IpProtocol, Ipv4Packet, Ipv4Repr, Ipv6Packet, Ipv6Repr, TcpControl, TcpPacket, TcpRepr,
    TcpSeqNumber,
};

use super::tcp_frame::ETHERNET_HEADER_BYTES;

/// The MSS values a cookie can carry, smallest first: RFC 9293 §3.7.1's default (536), common
/// tunnel and IPv6 sizes, Ethernet's 1460, jumbo frames, and the MSS the virtio driver raises a
/// full-segment SYN to for segmentation offload (11 × 1460, `nic::virtio::RAISED_MSS`). A
/// client's MSS is rounded down to an entry, so segments never exceed what it allows.
pub(crate) const MSS_TABLE: [u16; 8] = [536, 1220, 1300, 1400, 1440, 1460, 8960, 16060];

/// Seconds per tick of the cookie clock; a cookie is valid for one to two ticks, far longer than
/// any handshake (a client retransmits its SYN for about two minutes at most, RFC 9293 §3.8.1).
const CLOCK_TICK_S: u64 = 64;

/// The window scale code of a client that sent no window scale option.
const NO_WINDOW_SCALE: u32 = 15;

/// The largest window scale shift RFC 7323 §2.3 allows.
const WINDOW_SCALE_MAX: u8 = 14;

/// Bits of the hash in a cookie.
const HASH_BITS: u32 = 20;

/// The key of the cookie hash: derived from the boot seed, so cookies differ per boot.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CookieKey {
    keys: (u64, u64),
}

/// What a valid cookie says about the client's SYN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CookieOptions {
    /// The cookie: our initial sequence number.
    pub(crate) cookie: u32,
    /// The client's initial sequence number.
    pub(crate) client_isn: TcpSeqNumber,
    /// The MSS to use toward the client (an entry of [`MSS_TABLE`]).
    pub(crate) max_seg_size: u16,
    /// The client's window scale shift, if it offered window scaling.
    pub(crate) window_scale: Option<u8>,
}

impl CookieKey {
    /// The key for a boot whose seed is `seed`.
    pub(crate) fn new(seed: u64) -> CookieKey {
        let derive = |label: u64| {
            let mut hasher = SipHasher24::new_with_keys(seed, 0x636f_6f6b_6965_7321);
            hasher.write_u64(label);
            hasher.finish()
        };
        CookieKey {
            keys: (derive(1), derive(2)),
        }
    }

    /// The cookie for a SYN from `remote` to `local` with initial sequence number `client_isn`,
    /// MSS option `client_mss` (`None`: absent) and window scale `window_scale`, at `now_s`.
    pub(crate) fn cookie(
        &self,
        local: IpEndpoint,
        remote: IpEndpoint,
        client_isn: TcpSeqNumber,
        client_mss: Option<u16>,
        window_scale: Option<u8>,
        now_s: u64,
    ) -> u32 {
        // RFC 9293 §3.7.1: without the option the MSS is 536.
        let mss = client_mss.unwrap_or(536);
        let mss_index = MSS_TABLE
            .iter()
            .rposition(|&entry| entry <= mss)
            .unwrap_or(0);
        let scale_code = window_scale.map_or(NO_WINDOW_SCALE, |shift| {
            u32::from(shift.min(WINDOW_SCALE_MAX))
        });
        let tick = now_s / CLOCK_TICK_S;
        // Truncation intended: the low 5 bits of the tick; the full tick goes into the hash.
        let upper = ((tick as u32 & 0x1f) << 7) | ((mss_index as u32) << 4) | scale_code;
        upper << HASH_BITS | self.hash(local, remote, client_isn, tick, upper)
    }

    /// Checks the ACK of a handshake the gate answered with a cookie: `sequence` and
    /// `acknowledgement` are the segment's numbers. Returns the client's options if the cookie
    /// is one this key made for this 4-tuple in the current or the previous clock tick.
    pub(crate) fn check(
        &self,
        local: IpEndpoint,
        remote: IpEndpoint,
        sequence: TcpSeqNumber,
        acknowledgement: TcpSeqNumber,
        now_s: u64,
    ) -> Option<CookieOptions> {
        let cookie = (acknowledgement - 1).0 as u32;
        let client_isn = sequence - 1;
        let upper = cookie >> HASH_BITS;
        let tick_now = now_s / CLOCK_TICK_S;
        let tick = [tick_now, tick_now.wrapping_sub(1)]
            .into_iter()
            .find(|&tick| (tick as u32 & 0x1f) == upper >> 7)?;
        if self.hash(local, remote, client_isn, tick, upper) != cookie & ((1 << HASH_BITS) - 1) {
            return None;
        }
        let scale_code = upper & 0xf;
        let mss_index = usize::try_from((upper >> 4) & 0x7).unwrap_or(0);
        Some(CookieOptions {
            cookie,
            client_isn,
            max_seg_size: MSS_TABLE[mss_index],
            window_scale: match scale_code {
                NO_WINDOW_SCALE => None,
                // A code 0–14 is a shift; the two remaining values cannot come from `cookie`.
                shift => Some(u8::try_from(shift).ok()?.min(WINDOW_SCALE_MAX)),
            },
        })
    }

    /// The low [`HASH_BITS`] of the keyed hash of everything a cookie vouches for.
    fn hash(
        &self,
        local: IpEndpoint,
        remote: IpEndpoint,
        client_isn: TcpSeqNumber,
        tick: u64,
        upper: u32,
    ) -> u32 {
        let mut hasher = SipHasher24::new_with_keys(self.keys.0, self.keys.1);
        for endpoint in [local, remote] {
            match endpoint.addr {
                IpAddress::Ipv4(address) => hasher.write(&address.octets()),
                IpAddress::Ipv6(address) => hasher.write(&address.octets()),
            }
            hasher.write_u16(endpoint.port);
        }
        hasher.write_u32(client_isn.0 as u32);
        hasher.write_u64(tick);
        hasher.write_u32(upper);
        // Truncation intended: the low bits of the hash.
        (hasher.finish() as u32) & ((1 << HASH_BITS) - 1)
    }
}

/// The multiplier of smoltcp's sPCG32 generator (`smoltcp::rand::Rand::rand_u32`).
const PCG_MULTIPLIER: u64 = 0xbb2e_fcec_3c39_611d;

/// The increment of the same generator.
const PCG_INCREMENT: u64 = 0x7590_ef39;

/// The inverse of [`PCG_MULTIPLIER`] modulo 2^64 (it is odd), by Newton's iteration: each
/// step doubles the number of correct low bits, from 3 (an odd number is its own inverse
/// modulo 8).
const PCG_MULTIPLIER_INVERSE: u64 = {
    let mut inverse = PCG_MULTIPLIER;
    let mut step = 0;
    while step < 6 {
        inverse = inverse.wrapping_mul(2u64.wrapping_sub(PCG_MULTIPLIER.wrapping_mul(inverse)));
        step += 1;
    }
    inverse
};

/// The generator's state one draw earlier.
const fn pcg_previous(state: u64) -> u64 {
    state
        .wrapping_sub(PCG_INCREMENT)
        .wrapping_mul(PCG_MULTIPLIER_INVERSE)
}

/// The 32-bit output of the draw that left the generator in `state`.
const fn pcg_output(state: u64) -> u32 {
    let shift = 29 - (state >> 61);
    (state >> shift) as u32
}

/// The `random_seed` for a smoltcp interface whose first TCP initial sequence number is `isn`.
/// `Interface::new` draws once (`rand_u16`, again while it gets 0) for its IPv4 identification;
/// the next draw is the ISN of the first listening socket that takes a SYN.
pub(crate) fn interface_seed_for_isn(isn: u32) -> u64 {
    // A state whose output is `isn`: top 3 bits 0 (shift 29), `isn` in bits 29..61, and any low
    // bits; the first low bits that do not make the identification draw 0 will do.
    let mut low_bits = 0u64;
    loop {
        let isn_state = (u64::from(isn) << 29) | low_bits;
        let identification_state = pcg_previous(isn_state);
        let output = pcg_output(identification_state);
        // Truncation intended: smoltcp's `rand_u16` folds the output so.
        if (output ^ (output >> 16)) as u16 != 0 {
            return pcg_previous(identification_state);
        }
        low_bits += 1;
    }
}

/// What the gate needs to answer a SYN with a cookie.
pub(crate) struct SynAckPlan {
    /// The client's MAC (the SYN's source): the SYN-ACK goes back the way the SYN came.
    pub(crate) client_mac: EthernetAddress,
    pub(crate) local: IpEndpoint,
    pub(crate) remote: IpEndpoint,
    pub(crate) cookie: u32,
    pub(crate) client_isn: TcpSeqNumber,
    /// Our receive window (unscaled, as in any SYN: RFC 7323 §2.2).
    pub(crate) window_len: u16,
    /// Our window scale shift, sent only if the client offered scaling (RFC 7323 §1.3).
    pub(crate) window_scale: Option<u8>,
    /// Our MSS option.
    pub(crate) max_seg_size: u16,
}

impl SynAckPlan {
    /// The TCP part of the SYN-ACK.
    fn tcp(&self) -> TcpRepr<'static> {
        TcpRepr {
            src_port: self.local.port,
            dst_port: self.remote.port,
            control: TcpControl::Syn,
            seq_number: TcpSeqNumber(self.cookie as i32),
            ack_number: Some(self.client_isn + 1),
            window_len: self.window_len,
            window_scale: self.window_scale,
            max_seg_size: Some(self.max_seg_size),
            sack_permitted: false,
            sack_ranges: [None; 3],
            timestamp: None,
            payload: &[],
        }
    }

    /// The frame's length in bytes.
    pub(crate) fn frame_bytes(&self) -> usize {
        ETHERNET_HEADER_BYTES + ip_header_bytes(self.local.addr) + self.tcp().buffer_len()
    }

    /// Writes the SYN-ACK frame from `our_mac` into `frame` ([`Self::frame_bytes`] long), with
    /// checksums as `checksums` asks (the device's: it may fill them itself).
    pub(crate) fn emit(
        &self,
        our_mac: EthernetAddress,
        frame: &mut [u8],
        checksums: &ChecksumCapabilities,
    ) {
        emit_frame(
            our_mac,
            self.client_mac,
            self.local.addr,
            self.remote.addr,
            &self.tcp(),
            frame,
            checksums,
        );
    }
}

/// Writes an Ethernet frame with the TCP segment `tcp` from `source` to `destination` (the same
/// IP version) into `frame`, which must be exactly long enough.
pub(crate) fn emit_frame(
    source_mac: EthernetAddress,
    destination_mac: EthernetAddress,
    source: IpAddress,
    destination: IpAddress,
    tcp: &TcpRepr,
    frame: &mut [u8],
    checksums: &ChecksumCapabilities,
) {
    let ethertype = match destination {
        IpAddress::Ipv4(_) => EthernetProtocol::Ipv4,
        IpAddress::Ipv6(_) => EthernetProtocol::Ipv6,
    };
    let mut ethernet = EthernetFrame::new_unchecked(&mut *frame);
    EthernetRepr {
        src_addr: source_mac,
        dst_addr: destination_mac,
        ethertype,
    }
    .emit(&mut ethernet);
    emit_ip_packet(source, destination, tcp, ethernet.payload_mut(), checksums);
}

/// Writes the IP packet with `tcp` from `source` to `destination` into the start of `buffer`;
/// returns it (`None`: mixed IP versions — a segment's two addresses are of one version, the
/// gate parsed them from one packet — or too long for `buffer`).
pub(crate) fn emit_ip_packet<'buffer>(
    source: IpAddress,
    destination: IpAddress,
    tcp: &TcpRepr,
    buffer: &'buffer mut [u8],
    checksums: &ChecksumCapabilities,
) -> Option<&'buffer mut [u8]> {
    let tcp_start = ip_header_bytes(source);
    let packet = buffer.get_mut(..tcp_start + tcp.buffer_len())?;
    match (source, destination) {
        (IpAddress::Ipv4(src_addr), IpAddress::Ipv4(dst_addr)) => {
            Ipv4Repr {
                src_addr,
                dst_addr,
                next_header: IpProtocol::Tcp,
                payload_len: tcp.buffer_len(),
                hop_limit: 64,
            }
            .emit(&mut Ipv4Packet::new_unchecked(&mut *packet), checksums);
        }
        (IpAddress::Ipv6(src_addr), IpAddress::Ipv6(dst_addr)) => {
            Ipv6Repr {
                src_addr,
                dst_addr,
                next_header: IpProtocol::Tcp,
                payload_len: tcp.buffer_len(),
                hop_limit: 64,
            }
            .emit(&mut Ipv6Packet::new_unchecked(&mut *packet));
        }
        _ => return None,
    }
    tcp.emit(
        &mut TcpPacket::new_unchecked(&mut packet[tcp_start..]),
        &source,
        &destination,
        checksums,
    );
    Some(packet)
}

/// Bytes of the IP header of a packet to or from `address`: IPv4 without options (RFC 791 §3.1),
/// or IPv6 without extension headers (RFC 8200 §3), as smoltcp sends them.
pub(crate) fn ip_header_bytes(address: IpAddress) -> usize {
    match address {
        IpAddress::Ipv4(_) => 20,
        IpAddress::Ipv6(_) => 40,
    }
}

/// smoltcp's window scale shift for a receive buffer of `rx_buffer_bytes` (`tcp::Socket::new`:
/// enough that the buffer fits in a scaled 16-bit window).
pub(crate) fn window_scale_for(rx_buffer_bytes: usize) -> u8 {
    let bits = usize::BITS - rx_buffer_bytes.leading_zeros();
    u8::try_from(bits.saturating_sub(16)).unwrap_or(WINDOW_SCALE_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use smoltcp::wire::{Ipv4Address, Ipv6Address};

    fn endpoints() -> (IpEndpoint, IpEndpoint) {
        (
            IpEndpoint::new(IpAddress::Ipv4(Ipv4Address::new(10, 0, 2, 15)), 80),
            IpEndpoint::new(IpAddress::Ipv4(Ipv4Address::new(10, 0, 2, 2)), 40_000),
        )
    }

    #[test]
    fn a_cookie_checks_out_with_its_options_for_two_ticks_and_no_longer() {
        let key = CookieKey::new(42);
        let (local, remote) = endpoints();
        let isn = TcpSeqNumber(-5);
        let now_s = 1_000_000;
        for (mss, scale, expected_mss, expected_scale) in [
            (Some(1460), Some(7), 1460, Some(7)),
            (Some(16_060), None, 16_060, None),
            (Some(1452), Some(14), 1440, Some(14)),
            (None, Some(0), 536, Some(0)),
            (Some(100), None, 536, None),
            (Some(u16::MAX), Some(200), 16_060, Some(14)),
        ] {
            let cookie = key.cookie(local, remote, isn, mss, scale, now_s);
            let ack = TcpSeqNumber(cookie as i32) + 1;
            for later_s in [0, CLOCK_TICK_S - 1, CLOCK_TICK_S] {
                let tick_start_s = now_s - now_s % CLOCK_TICK_S;
                let options = key.check(local, remote, isn + 1, ack, tick_start_s + later_s);
                assert_eq!(
                    options,
                    Some(CookieOptions {
                        cookie,
                        client_isn: isn,
                        max_seg_size: expected_mss,
                        window_scale: expected_scale,
                    }),
                    "{mss:?} {scale:?} {later_s}"
                );
            }
            let too_late_s = now_s - now_s % CLOCK_TICK_S + 2 * CLOCK_TICK_S;
            assert_eq!(key.check(local, remote, isn + 1, ack, too_late_s), None);
        }
    }

    #[test]
    fn a_cookie_is_bound_to_its_key_tuple_and_sequence_number() {
        let key = CookieKey::new(42);
        let (local, remote) = endpoints();
        let isn = TcpSeqNumber(77);
        let now_s = 500;
        let cookie = key.cookie(local, remote, isn, Some(1460), Some(7), now_s);
        let ack = TcpSeqNumber(cookie as i32) + 1;
        assert!(key.check(local, remote, isn + 1, ack, now_s).is_some());
        let other_port = IpEndpoint::new(remote.addr, remote.port + 1);
        let other_address = IpEndpoint::new(
            IpAddress::Ipv6(Ipv6Address::new(0xfe80, 0, 0, 0, 0, 0, 0, 2)),
            remote.port,
        );
        assert_eq!(key.check(local, other_port, isn + 1, ack, now_s), None);
        assert_eq!(key.check(local, other_address, isn + 1, ack, now_s), None);
        assert_eq!(key.check(local, remote, isn + 2, ack, now_s), None);
        assert_eq!(key.check(local, remote, isn + 1, ack + 1, now_s), None);
        assert_eq!(
            CookieKey::new(43).check(local, remote, isn + 1, ack, now_s),
            None
        );
        // Arbitrary acknowledgements almost never pass: 2 in 2^20 per try.
        let passed = (0..100_000u32)
            .filter(|&guess| {
                let ack = TcpSeqNumber(guess.wrapping_mul(2_654_435_761) as i32);
                key.check(local, remote, isn + 1, ack, now_s).is_some()
            })
            .count();
        assert!(passed <= 3, "{passed} forged ACKs passed");
    }

    /// smoltcp's sPCG32 draw, as `smoltcp::rand::Rand::rand_u32` makes it.
    fn draw(state: &mut u64) -> u32 {
        *state = state
            .wrapping_mul(PCG_MULTIPLIER)
            .wrapping_add(PCG_INCREMENT);
        pcg_output(*state)
    }

    #[test]
    fn the_seed_makes_the_second_draw_the_wanted_number() {
        assert_eq!(PCG_MULTIPLIER.wrapping_mul(PCG_MULTIPLIER_INVERSE), 1);
        for isn in [0, 1, 0x8000_0000, u32::MAX, 0x1234_5678] {
            let mut state = interface_seed_for_isn(isn);
            let identification = draw(&mut state);
            assert_ne!((identification ^ (identification >> 16)) as u16, 0);
            assert_eq!(draw(&mut state), isn, "{isn:#x}");
        }
    }

    #[test]
    fn window_scale_follows_smoltcp() {
        assert_eq!(window_scale_for(4096), 0);
        assert_eq!(window_scale_for(65_535), 0);
        assert_eq!(window_scale_for(65_536), 1);
        assert_eq!(window_scale_for(1 << 20), 5);
    }
}
