//! Property tests of the offload MSS edits on valid TCP SYN frames (IPv4 and IPv6) with random
//! TCP option lists (RFC 9293 §3.2): MSS present or absent at any position among NOP, window
//! scale, SACK-permitted, timestamps and unknown options, EOL and padding. The MSS value after
//! the edit follows the rule of `raise_peer_mss` / `prepare_transmit`, every other byte but the
//! checksum is unchanged, the length is unchanged, and after a raise the checksum is valid.
#![allow(clippy::unwrap_used)]

use bareserve::net::offload::{prepare_transmit, raise_peer_mss};
use proptest::prelude::*;

/// A standard Ethernet frame without the FCS.
const STANDARD_FRAME_BYTES: usize = 1514;
const RAISED_MSS: u16 = 16_000;

fn ones_complement_sum(mut sum: u32, bytes: &[u8]) -> u32 {
    for word in bytes.chunks(2) {
        let high = u32::from(word[0]) << 8;
        sum += high | word.get(1).map_or(0, |&low| u32::from(low));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum
}

/// One TCP option, as bytes.
fn option() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(vec![1]),
        any::<u8>().prop_map(|shift| vec![3, 3, shift % 15]),
        Just(vec![4, 2]),
        any::<[u8; 8]>().prop_map(|stamps| [&[8u8, 10][..], &stamps].concat()),
        (30u8..=250, prop::collection::vec(any::<u8>(), 0..6)).prop_map(|(kind, value)| [
            &[kind, value.len() as u8 + 2][..],
            &value
        ]
        .concat()),
    ]
}

#[derive(Debug)]
/// A generated SYN frame and where its MSS value is.
struct Syn {
    frame: Vec<u8>,
    tcp_start: usize,
    /// Offset in the frame of the MSS value, if the list has one.
    mss_at: Option<usize>,
    mss: u16,
    ipv6: bool,
}

fn syn() -> impl Strategy<Value = Syn> {
    (
        any::<bool>(),
        prop::collection::vec(option(), 0..6),
        prop::option::of((any::<prop::sample::Index>(), 500u16..=65535)),
        any::<bool>(),
    )
        .prop_filter_map("options fit in 40 bytes", |(ipv6, options, mss, end)| {
            let mut list = Vec::new();
            let mut mss_offset = None;
            let position = mss.map(|(index, _)| index.index(options.len() + 1));
            for (index, item) in options.iter().enumerate() {
                if position == Some(index) {
                    mss_offset = Some(list.len() + 2);
                    list.extend_from_slice(&[2, 4]);
                    list.extend_from_slice(&mss.unwrap().1.to_be_bytes());
                }
                list.extend_from_slice(item);
            }
            if position == Some(options.len()) {
                mss_offset = Some(list.len() + 2);
                list.extend_from_slice(&[2, 4]);
                list.extend_from_slice(&mss.unwrap().1.to_be_bytes());
            }
            if end {
                list.push(0);
            }
            while list.len() % 4 != 0 {
                list.push(0);
            }
            if list.len() > 40 {
                return None;
            }
            Some(build(
                ipv6,
                &list,
                mss_offset,
                mss.map_or(0, |(_, value)| value),
            ))
        })
}

fn build(ipv6: bool, options: &[u8], mss_offset: Option<usize>, mss: u16) -> Syn {
    let tcp_bytes = 20 + options.len();
    let mut tcp = vec![0u8; tcp_bytes];
    tcp[0..2].copy_from_slice(&40000u16.to_be_bytes());
    tcp[2..4].copy_from_slice(&80u16.to_be_bytes());
    tcp[4..8].copy_from_slice(&1u32.to_be_bytes());
    tcp[12] = ((tcp_bytes / 4) as u8) << 4;
    tcp[13] = 0x02; // SYN
    tcp[14..16].copy_from_slice(&65535u16.to_be_bytes());
    tcp[20..].copy_from_slice(options);
    let mut frame = vec![2, 2, 2, 2, 2, 2, 4, 4, 4, 4, 4, 4];
    let (ip, pseudo) = if ipv6 {
        frame.extend_from_slice(&[0x86, 0xdd]);
        let mut ip = vec![0x60, 0, 0, 0];
        ip.extend_from_slice(&(tcp_bytes as u16).to_be_bytes());
        ip.extend_from_slice(&[6, 64]);
        ip.extend_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        ip.extend_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        let pseudo = ones_complement_sum(0, &ip[8..40]);
        (ip, pseudo)
    } else {
        frame.extend_from_slice(&[0x08, 0x00]);
        let mut ip = vec![0x45, 0];
        ip.extend_from_slice(&((20 + tcp_bytes) as u16).to_be_bytes());
        ip.extend_from_slice(&[0, 0, 0x40, 0, 64, 6, 0, 0, 10, 0, 2, 2, 10, 0, 2, 15]);
        let header = !(ones_complement_sum(0, &ip) as u16);
        ip[10..12].copy_from_slice(&header.to_be_bytes());
        let pseudo = ones_complement_sum(0, &ip[12..20]);
        (ip, pseudo)
    };
    let sum = ones_complement_sum(pseudo + 6 + tcp_bytes as u32, &tcp);
    tcp[16..18].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    frame.extend_from_slice(&ip);
    let tcp_start = frame.len();
    frame.extend_from_slice(&tcp);
    Syn {
        mss_at: mss_offset.map(|offset| tcp_start + 20 + offset),
        frame,
        tcp_start,
        mss,
        ipv6,
    }
}

fn tcp_checksum_valid(syn: &Syn, frame: &[u8]) -> bool {
    let ip_start = 14;
    let pseudo = if syn.ipv6 {
        ones_complement_sum(0, &frame[ip_start + 8..ip_start + 40])
    } else {
        ones_complement_sum(0, &frame[ip_start + 12..ip_start + 20])
    };
    let segment = &frame[syn.tcp_start..];
    ones_complement_sum(pseudo + 6 + segment.len() as u32, segment) == 0xffff
}

/// Asserts that `edited` differs from the original only in the checksum field and the MSS value.
fn only_mss_and_checksum_changed(syn: &Syn, edited: &[u8]) -> Result<(), TestCaseError> {
    prop_assert_eq!(edited.len(), syn.frame.len());
    for (index, (&before, &after)) in syn.frame.iter().zip(edited).enumerate() {
        let in_checksum = index == syn.tcp_start + 16 || index == syn.tcp_start + 17;
        let in_mss = syn.mss_at.is_some_and(|at| index == at || index == at + 1);
        if !in_checksum && !in_mss {
            prop_assert_eq!(before, after, "byte {} changed", index);
        }
    }
    Ok(())
}

fn mss_of(syn: &Syn, frame: &[u8]) -> Option<u16> {
    syn.mss_at
        .map(|at| u16::from_be_bytes([frame[at], frame[at + 1]]))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn raise_peer_mss_follows_its_rule(syn in syn()) {
        prop_assert!(tcp_checksum_valid(&syn, &syn.frame));
        let standard = (STANDARD_FRAME_BYTES - syn.tcp_start - 20) as u16;
        let mut frame = syn.frame.clone();
        let edited = raise_peer_mss(&mut frame, STANDARD_FRAME_BYTES, RAISED_MSS);
        let expect_edit = syn.mss_at.is_some() && syn.mss >= standard && RAISED_MSS > syn.mss;
        prop_assert_eq!(edited, expect_edit);
        only_mss_and_checksum_changed(&syn, &frame)?;
        if expect_edit {
            prop_assert_eq!(mss_of(&syn, &frame), Some(RAISED_MSS));
        } else {
            prop_assert_eq!(&frame, &syn.frame);
        }
        prop_assert!(tcp_checksum_valid(&syn, &frame));
    }

    #[test]
    fn prepare_transmit_clamps_the_mss_to_a_standard_frame(syn in syn()) {
        let standard = (STANDARD_FRAME_BYTES - syn.tcp_start - 20) as u16;
        let mut frame = syn.frame.clone();
        let _plan = prepare_transmit(&mut frame, STANDARD_FRAME_BYTES);
        only_mss_and_checksum_changed(&syn, &frame)?;
        prop_assert_eq!(mss_of(&syn, &frame), syn.mss_at.map(|_| syn.mss.min(standard)));
    }
}
