//! Fuzz target: the offload frame edits (`raise_peer_mss` on receive, `prepare_transmit` on
//! transmit) on arbitrary Ethernet frames. Checks that nothing panics, that frames that are not
//! TCP come out byte-identical, and that the receive-side MSS rewrite changes only the MSS value
//! and the TCP checksum, leaving a valid TCP checksum (checked by an independent routine here)
//! and a valid IPv4 header checksum. Also the server's own TCP checksums
//! (`bareserve::net::checksum`): the check agrees with the independent routine here, and a
//! filled checksum is valid by it, with nothing but the checksum field changed.
#![no_main]

use bareserve::net::checksum::{fill_tcp_checksum, sum_words, tcp_checksum_valid as checked};
use bareserve::net::offload::{prepare_transmit, raise_peer_mss};
use libfuzzer_sys::fuzz_target;

/// A standard Ethernet frame without the FCS (IEEE 802.3: 1,500-byte payload).
const STANDARD_FRAME_BYTES: usize = 1514;

/// The one's-complement sum of 16-bit big-endian words (RFC 1071), not yet complemented.
fn ones_complement_sum(mut sum: u32, bytes: &[u8]) -> u32 {
    let mut words = bytes.chunks_exact(2);
    for word in &mut words {
        sum += u32::from(u16::from_be_bytes([word[0], word[1]]));
    }
    if let [last] = words.remainder() {
        sum += u32::from(*last) << 8;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum
}

/// Where TCP sits, by an independent parse: (IP header start, TCP start, TCP end, pseudo-header
/// sum without the length), for IPv4 unfragmented or IPv6 with TCP as the first next header.
fn locate(frame: &[u8]) -> Option<(usize, usize, usize, u32)> {
    let ethertype = u16::from_be_bytes([*frame.get(12)?, *frame.get(13)?]);
    let ip = frame.get(14..)?;
    match ethertype {
        0x0800 => {
            let header_bytes = usize::from(ip.first()? & 0x0f) * 4;
            let total_bytes = usize::from(u16::from_be_bytes([*ip.get(2)?, *ip.get(3)?]));
            let fragment = u16::from_be_bytes([*ip.get(6)?, *ip.get(7)?]);
            if ip[0] >> 4 != 4
                || header_bytes < 20
                || total_bytes < header_bytes
                || total_bytes > ip.len()
                || *ip.get(9)? != 6
                || fragment & 0x3fff != 0
            {
                return None;
            }
            let addresses = ones_complement_sum(0, ip.get(12..20)?);
            Some((14, 14 + header_bytes, 14 + total_bytes, addresses + 6))
        }
        0x86dd => {
            let payload_bytes = usize::from(u16::from_be_bytes([*ip.get(4)?, *ip.get(5)?]));
            if ip[0] >> 4 != 6 || *ip.get(6)? != 6 || 40 + payload_bytes > ip.len() {
                return None;
            }
            let addresses = ones_complement_sum(0, ip.get(8..40)?);
            Some((14, 54, 54 + payload_bytes, addresses + 6))
        }
        _ => None,
    }
}

fn tcp_checksum_valid(frame: &[u8], tcp_start: usize, tcp_end: usize, pseudo: u32) -> bool {
    let segment = &frame[tcp_start..tcp_end];
    let length = segment.len() as u32;
    let sum = ones_complement_sum(pseudo + (length >> 16) + (length & 0xffff), segment);
    sum == 0xffff
}

fn ipv4_header_valid(frame: &[u8]) -> bool {
    let header_bytes = usize::from(frame[14] & 0x0f) * 4;
    ones_complement_sum(0, &frame[14..14 + header_bytes]) == 0xffff
}

fuzz_target!(|data: &[u8]| {
    let Some((&raised_low, frame)) = data.split_first() else {
        return;
    };
    let raised_mss = 8192 + u16::from(raised_low) * 32;
    let location = locate(frame);

    let mut received = frame.to_vec();
    let edited = raise_peer_mss(&mut received, STANDARD_FRAME_BYTES, raised_mss);
    assert_eq!(received.len(), frame.len());
    if !edited {
        assert_eq!(
            received, frame,
            "a frame changed although no edit was reported"
        );
    }
    match location {
        None => assert!(
            !edited && received == frame,
            "a frame that is not TCP was changed"
        ),
        Some((_, tcp_start, tcp_end, pseudo)) if edited => {
            // smoltcp skips checksum verification under `cfg(fuzzing)` (which cargo-fuzz sets),
            // so a frame with a bad checksum may be edited here; the invariant is that a valid
            // checksum stays valid.
            if tcp_checksum_valid(frame, tcp_start, tcp_end, pseudo) {
                assert!(tcp_checksum_valid(&received, tcp_start, tcp_end, pseudo));
            }
            if frame[12..14] == [0x08, 0x00] {
                assert_eq!(ipv4_header_valid(&received), ipv4_header_valid(frame));
            }
            // Only the checksum field and one 2-byte MSS value may differ.
            let changed: Vec<usize> = (0..frame.len())
                .filter(|&i| frame[i] != received[i])
                .collect();
            let outside: Vec<usize> = changed
                .iter()
                .copied()
                .filter(|&i| i != tcp_start + 16 && i != tcp_start + 17)
                .collect();
            assert!(outside.len() <= 2, "changed bytes {changed:?}");
            if let Some(&first) = outside.first() {
                let value_at = [first, first - 1].into_iter().find(|&at| {
                    received[at - 2..at] == [2, 4]
                        && received[at..at + 2] == raised_mss.to_be_bytes()
                        && outside.iter().all(|&i| i == at || i == at + 1)
                });
                assert!(
                    value_at.is_some(),
                    "changed bytes {changed:?} are not an MSS value"
                );
            }
        }
        Some(_) => {}
    }

    let mut transmitted = frame.to_vec();
    let _plan = prepare_transmit(&mut transmitted, STANDARD_FRAME_BYTES);
    assert_eq!(transmitted.len(), frame.len());
    if location.is_none() {
        assert_eq!(
            transmitted, frame,
            "a frame that is not TCP was changed on transmit"
        );
    }

    match location {
        Some((_, tcp_start, tcp_end, pseudo)) => {
            assert_eq!(
                checked(frame, sum_words),
                tcp_checksum_valid(frame, tcp_start, tcp_end, pseudo),
                "the server's TCP checksum check disagrees"
            );
            let mut filled = frame.to_vec();
            fill_tcp_checksum(&mut filled, sum_words);
            // A segment too short to hold the checksum field is left alone.
            if tcp_end - tcp_start >= 18 {
                assert!(tcp_checksum_valid(&filled, tcp_start, tcp_end, pseudo));
                assert!(checked(&filled, sum_words));
            }
            assert!(
                (0..frame.len())
                    .all(|i| filled[i] == frame[i] || i == tcp_start + 16 || i == tcp_start + 17),
                "filling the checksum changed more than its field"
            );
        }
        None => {
            let mut filled = frame.to_vec();
            fill_tcp_checksum(&mut filled, sum_words);
            assert_eq!(filled, frame, "a frame that is not TCP got a checksum");
        }
    }
});
