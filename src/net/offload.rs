//! TCP checksum and segmentation offload (virtio 1.2 §5.1.6.2): the edits a driver makes to
//! frames so that a NIC with `VIRTIO_NET_F_CSUM` computes the TCP checksums and one with
//! `VIRTIO_NET_F_HOST_TSO4`/`_TSO6` cuts large TCP segments into wire-sized ones. Kept apart
//! from the driver so that the host tests check every byte.
//!
//! **Why.** Under an emulator every instruction of the guest is expensive; per 1,460-byte
//! segment smoltcp copies the payload and sums it for the checksum. A device that checksums
//! (QEMU's virtio-net over tap hands the work to the host kernel) removes the summing; a device
//! that segments lets one pass through smoltcp carry ~44 segments' worth of data.
//!
//! **How segmentation fits smoltcp.** smoltcp has no segmentation offload: it never builds a
//! segment larger than the peer's MSS option allows (RFC 9293 §3.7.1) or its own MTU. When the
//! device segments, the driver therefore (1) gives smoltcp a large MTU, (2) raises the MSS option
//! of a received SYN that allows at least a full standard segment ([`raise_peer_mss`]), so
//! smoltcp builds large segments for that connection (the virtio driver allows 16 KB), (3) lowers the MSS option of
//! the SYN-ACK smoltcp sends back to what the link carries ([`prepare_transmit`]), and (4) sends
//! each large segment with a header asking the device to cut it into segments of at most
//! `standard frame - headers` bytes of payload — no larger than the peer's real MSS, so what
//! reaches the wire is what smoltcp would have sent segment by segment. This is how TSO works
//! in Linux too: the stack builds one large segment, the device cuts it at the real MSS. A peer
//! whose MSS is below a full segment (a tunnel, PPPoE) keeps its own MSS and gets ordinary
//! frames.

use smoltcp::wire::{IpProtocol, TcpPacket, checksum};

use super::tcp_frame::{TcpInFrame, locate_tcp};
/// Bytes of a TCP header without options (RFC 9293 §3.1).
const TCP_HEADER_BYTES: usize = 20;
/// Offset of the checksum field in the TCP header (RFC 9293 §3.1).
pub const TCP_CHECKSUM_FIELD_OFFSET: u16 = 16;
/// TCP option kinds (RFC 9293 §3.2): end of list, no-operation, maximum segment size.
const OPTION_END: u8 = 0;
const OPTION_NO_OPERATION: u8 = 1;
const OPTION_MAXIMUM_SEGMENT_SIZE: u8 = 2;
/// Length of the MSS option, kind and length bytes included (RFC 9293 §3.2).
const MAXIMUM_SEGMENT_SIZE_OPTION_BYTES: usize = 4;

/// Offset, within a TCP header, of the MSS option's 16-bit value, if the header has the
/// option (RFC 9293 §3.2: options are a list of kind, length, value, ended by kind 0).
fn mss_value_offset(tcp_header: &[u8]) -> Option<usize> {
    let mut at = TCP_HEADER_BYTES;
    while let Some(&kind) = tcp_header.get(at) {
        match kind {
            OPTION_END => return None,
            OPTION_NO_OPERATION => at += 1,
            _ => {
                let length = usize::from(*tcp_header.get(at + 1)?);
                if length < 2 {
                    return None; // malformed: the list cannot be walked further
                }
                if kind == OPTION_MAXIMUM_SEGMENT_SIZE {
                    let fits = length == MAXIMUM_SEGMENT_SIZE_OPTION_BYTES
                        && at + MAXIMUM_SEGMENT_SIZE_OPTION_BYTES <= tcp_header.len();
                    return fits.then_some(at + 2);
                }
                at += length;
            }
        }
    }
    None
}

/// The MSS for a frame of `frame_bytes` with this segment's IP header (RFC 6691: the IP
/// packet size less the fixed IP and TCP headers).
fn standard_mss(tcp: &TcpInFrame, frame_bytes: usize) -> usize {
    frame_bytes.saturating_sub(tcp.start + TCP_HEADER_BYTES)
}

/// On a received frame: if it is a SYN whose MSS option allows at least a full segment of a
/// `standard_frame_bytes` frame, rewrites the option to `raised_mss` (and the checksum with it)
/// so that smoltcp builds large segments for the device to cut. Returns whether it did.
///
/// A segment whose checksum is wrong is left alone, for smoltcp to drop.
pub fn raise_peer_mss(frame: &mut [u8], standard_frame_bytes: usize, raised_mss: u16) -> bool {
    let Some(tcp) = locate_tcp(frame) else {
        return false;
    };
    let standard = standard_mss(&tcp, standard_frame_bytes);
    let Some(segment) = frame.get_mut(tcp.start..tcp.end) else {
        return false;
    };
    let (is_syn, header_bytes) = match TcpPacket::new_checked(&*segment) {
        Ok(packet) => (
            packet.syn() && !packet.rst() && packet.verify_checksum(&tcp.source, &tcp.destination),
            usize::from(packet.header_len()),
        ),
        Err(_) => return false,
    };
    if !is_syn {
        return false;
    }
    let Some(value_at) = segment.get(..header_bytes).and_then(mss_value_offset) else {
        return false;
    };
    let Some(value) = segment.get_mut(value_at..value_at + 2) else {
        return false;
    };
    let peer_mss = usize::from(u16::from_be_bytes([value[0], value[1]]));
    if peer_mss < standard || usize::from(raised_mss) <= peer_mss {
        return false;
    }
    value.copy_from_slice(&raised_mss.to_be_bytes());
    TcpPacket::new_unchecked(segment).fill_checksum(&tcp.source, &tcp.destination);
    true
}

/// Segmentation the device is asked for (virtio 1.2 §5.1.6.2, `gso_type`, `hdr_len`,
/// `gso_size`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segmentation {
    /// TCP over IPv6 (`VIRTIO_NET_HDR_GSO_TCPV6`) rather than IPv4 (`_TCPV4`).
    pub ipv6: bool,
    /// Ethernet, IP and TCP headers, options included: what each segment repeats.
    pub header_bytes: u16,
    /// TCP payload bytes per segment (the last one may carry fewer).
    pub segment_payload_bytes: u16,
}

/// What the device must do to a frame before it goes on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransmitPlan {
    /// Not TCP: send as it is (smoltcp checksummed it).
    AsIs,
    /// TCP: the device checksums from `checksum_start` to the end (the checksum field holds
    /// the pseudo-header sum), and segments when asked.
    Offload {
        /// Offset of the TCP header in the frame (`csum_start`).
        checksum_start: u16,
        /// Offset of the checksum field from `checksum_start` (`csum_offset`).
        checksum_offset: u16,
        /// Large segment to be cut, if the frame is longer than a standard one.
        segmentation: Option<Segmentation>,
    },
    /// Longer than a standard frame but not a TCP segment the device can cut: not sendable.
    Oversized,
}

/// On a frame smoltcp built (with the TCP checksum left to the device): puts the pseudo-header
/// sum in the checksum field, lowers the MSS option of a SYN to what a `standard_frame_bytes`
/// frame carries (smoltcp derives it from the large MTU it was given), and says what the device
/// must do.
pub fn prepare_transmit(frame: &mut [u8], standard_frame_bytes: usize) -> TransmitPlan {
    let frame_bytes = frame.len();
    let Some(tcp) = locate_tcp(frame) else {
        return if frame_bytes > standard_frame_bytes {
            TransmitPlan::Oversized
        } else {
            TransmitPlan::AsIs
        };
    };
    let standard = standard_mss(&tcp, standard_frame_bytes);
    let Some(segment) = frame.get_mut(tcp.start..tcp.end) else {
        return TransmitPlan::Oversized;
    };
    let tcp_bytes = segment.len();
    let (is_syn, header_bytes) = match TcpPacket::new_checked(&*segment) {
        Ok(packet) => (packet.syn(), usize::from(packet.header_len())),
        Err(_) => return TransmitPlan::Oversized,
    };
    if is_syn {
        let value_at = segment.get(..header_bytes).and_then(mss_value_offset);
        if let Some(value) = value_at.and_then(|at| segment.get_mut(at..at + 2)) {
            let mss = usize::from(u16::from_be_bytes([value[0], value[1]]));
            if mss > standard {
                let clamped = u16::try_from(standard).unwrap_or(u16::MAX);
                value.copy_from_slice(&clamped.to_be_bytes());
            }
        }
    }
    // virtio 1.2 §5.1.6.2: "The TCP checksum field in the packet is set to the sum of the TCP
    // pseudo header, so that replacing it by the ones' complement checksum of the TCP header
    // and body will give the correct result." The length is the whole segment's, as Linux
    // does for TSO (the device corrects it per cut segment).
    let pseudo_header_sum = checksum::pseudo_header(
        &tcp.source,
        &tcp.destination,
        IpProtocol::Tcp,
        u32::try_from(tcp_bytes).unwrap_or(u32::MAX),
    );
    TcpPacket::new_unchecked(segment).set_checksum(pseudo_header_sum);

    let segmentation = if frame_bytes > standard_frame_bytes {
        let headers = tcp.start + header_bytes;
        let payload_per_segment = standard_frame_bytes.saturating_sub(headers);
        match (u16::try_from(headers), u16::try_from(payload_per_segment)) {
            (Ok(header_bytes), Ok(segment_payload_bytes)) if segment_payload_bytes > 0 => {
                Some(Segmentation {
                    ipv6: tcp.ipv6,
                    header_bytes,
                    segment_payload_bytes,
                })
            }
            _ => return TransmitPlan::Oversized,
        }
    } else {
        None
    };
    match u16::try_from(tcp.start) {
        Ok(checksum_start) => TransmitPlan::Offload {
            checksum_start,
            checksum_offset: TCP_CHECKSUM_FIELD_OFFSET,
            segmentation,
        },
        Err(_) => TransmitPlan::Oversized,
    }
}

/// `flags` bit: the device must checksum (virtio 1.2 §5.1.6, `VIRTIO_NET_HDR_F_NEEDS_CSUM`).
const HEADER_NEEDS_CHECKSUM: u8 = 1;
/// `gso_type` values (virtio 1.2 §5.1.6): none, TCP over IPv4, TCP over IPv6.
const GSO_NONE: u8 = 0;
const GSO_TCP_IPV4: u8 = 1;
const GSO_TCP_IPV6: u8 = 4;

/// Bytes of the virtio-net header fields this module fills (virtio 1.2 §5.1.6: `flags`,
/// `gso_type`, `hdr_len`, `gso_size`, `csum_start`, `csum_offset`); the `num_buffers` field of
/// the modern header follows and is zero on transmit.
pub const VIRTIO_NET_HEADER_FIELDS_BYTES: usize = 10;

/// The leading fields of the virtio-net header for a transmit plan, little-endian (virtio 1.2
/// §5.1.6; the legacy header on a little-endian guest has the same layout).
pub fn virtio_net_header(plan: TransmitPlan) -> [u8; VIRTIO_NET_HEADER_FIELDS_BYTES] {
    let mut header = [0u8; VIRTIO_NET_HEADER_FIELDS_BYTES];
    if let TransmitPlan::Offload {
        checksum_start,
        checksum_offset,
        segmentation,
    } = plan
    {
        header[0] = HEADER_NEEDS_CHECKSUM;
        if let Some(segmentation) = segmentation {
            header[1] = if segmentation.ipv6 {
                GSO_TCP_IPV6
            } else {
                GSO_TCP_IPV4
            };
            header[2..4].copy_from_slice(&segmentation.header_bytes.to_le_bytes());
            header[4..6].copy_from_slice(&segmentation.segment_payload_bytes.to_le_bytes());
        } else {
            header[1] = GSO_NONE;
        }
        header[6..8].copy_from_slice(&checksum_start.to_le_bytes());
        header[8..10].copy_from_slice(&checksum_offset.to_le_bytes());
    }
    header
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(super) mod tests {
    use super::*;
    use crate::net::tcp_frame::ETHERNET_HEADER_BYTES;
    use smoltcp::phy::{Checksum, ChecksumCapabilities};
    use smoltcp::wire::{
        EthernetAddress, EthernetFrame, EthernetProtocol, EthernetRepr, IpAddress, Ipv4Address,
        Ipv4Packet, Ipv4Repr, Ipv6Address, Ipv6Packet, Ipv6Repr, TcpControl, TcpRepr, TcpSeqNumber,
    };

    const STANDARD_FRAME: usize = 1514;
    const CLIENT_V4: Ipv4Address = Ipv4Address::new(10, 0, 3, 1);
    const SERVER_V4: Ipv4Address = Ipv4Address::new(10, 0, 3, 15);
    const CLIENT_V6: Ipv6Address = Ipv6Address::new(0xfd00, 0, 0, 0, 0, 0, 0, 1);
    const SERVER_V6: Ipv6Address = Ipv6Address::new(0xfd00, 0, 0, 0, 0, 0, 0, 15);

    pub(crate) fn tcp_repr<'a>(
        control: TcpControl,
        mss: Option<u16>,
        payload: &'a [u8],
    ) -> TcpRepr<'a> {
        TcpRepr {
            src_port: 80,
            dst_port: 40000,
            control,
            seq_number: TcpSeqNumber(1000),
            ack_number: Some(TcpSeqNumber(5000)),
            window_len: 64240,
            // Options as a SYN has them; other segments carry none (smoltcp: no timestamps).
            window_scale: (control == TcpControl::Syn).then_some(7),
            max_seg_size: mss,
            sack_permitted: control == TcpControl::Syn,
            sack_ranges: [None; 3],
            timestamp: None,
            payload,
        }
    }

    /// An Ethernet frame with `tcp` over IPv4 or IPv6; the TCP checksum is filled when
    /// `checksum` is true, else left zero (what smoltcp does with `Checksum::Rx`).
    pub(crate) fn frame(tcp: &TcpRepr, ipv6: bool, checksum: bool) -> Vec<u8> {
        let (ethertype, ip_bytes) = if ipv6 {
            (EthernetProtocol::Ipv6, 40)
        } else {
            (EthernetProtocol::Ipv4, 20)
        };
        let mut bytes = vec![0u8; ETHERNET_HEADER_BYTES + ip_bytes + tcp.buffer_len()];
        let mut ethernet = EthernetFrame::new_unchecked(&mut bytes[..]);
        EthernetRepr {
            src_addr: EthernetAddress([2, 0, 0, 0, 0, 1]),
            dst_addr: EthernetAddress([2, 0, 0, 0, 0, 2]),
            ethertype,
        }
        .emit(&mut ethernet);
        let mut caps = ChecksumCapabilities::default();
        if !checksum {
            caps.tcp = Checksum::Rx;
        }
        let (source, destination): (IpAddress, IpAddress) = if ipv6 {
            let mut ip = Ipv6Packet::new_unchecked(ethernet.payload_mut());
            Ipv6Repr {
                src_addr: SERVER_V6,
                dst_addr: CLIENT_V6,
                next_header: IpProtocol::Tcp,
                payload_len: tcp.buffer_len(),
                hop_limit: 64,
            }
            .emit(&mut ip);
            (SERVER_V6.into(), CLIENT_V6.into())
        } else {
            let mut ip = Ipv4Packet::new_unchecked(ethernet.payload_mut());
            Ipv4Repr {
                src_addr: SERVER_V4,
                dst_addr: CLIENT_V4,
                next_header: IpProtocol::Tcp,
                payload_len: tcp.buffer_len(),
                hop_limit: 64,
            }
            .emit(&mut ip, &ChecksumCapabilities::default());
            (SERVER_V4.into(), CLIENT_V4.into())
        };
        let start = ETHERNET_HEADER_BYTES + ip_bytes;
        let mut packet = TcpPacket::new_unchecked(&mut bytes[start..]);
        tcp.emit(&mut packet, &source, &destination, &caps);
        bytes
    }

    fn addresses(ipv6: bool) -> (IpAddress, IpAddress) {
        if ipv6 {
            (SERVER_V6.into(), CLIENT_V6.into())
        } else {
            (SERVER_V4.into(), CLIENT_V4.into())
        }
    }

    fn tcp_of(frame: &[u8], ipv6: bool) -> TcpPacket<&[u8]> {
        let start = ETHERNET_HEADER_BYTES + if ipv6 { 40 } else { 20 };
        TcpPacket::new_checked(&frame[start..]).unwrap()
    }

    fn parsed_mss(frame: &[u8], ipv6: bool) -> Option<u16> {
        let (source, destination) = addresses(ipv6);
        let packet = tcp_of(frame, ipv6);
        TcpRepr::parse(
            &packet,
            &source,
            &destination,
            &ChecksumCapabilities::default(),
        )
        .unwrap()
        .max_seg_size
    }

    /// What the device does with `NEEDS_CSUM` (virtio 1.2 §5.1.6.2): the ones' complement of
    /// the sum from `checksum_start` to the end, stored at `checksum_start + checksum_offset`.
    fn device_checksum(frame: &mut [u8], checksum_start: u16, checksum_offset: u16) {
        let start = usize::from(checksum_start);
        let sum = !checksum::data(&frame[start..]);
        let at = start + usize::from(checksum_offset);
        frame[at..at + 2].copy_from_slice(&sum.to_be_bytes());
    }

    /// What a device with TSO does: cuts the payload into segments of `segment_payload_bytes`,
    /// each with the headers repeated, sequence number advanced, lengths and checksums fixed,
    /// FIN and PSH only on the last (RFC 9293 §3.1; Linux `tcp_gso_segment`).
    fn device_segment(frame: &[u8], plan: TransmitPlan) -> Vec<Vec<u8>> {
        let TransmitPlan::Offload {
            checksum_start,
            segmentation: Some(segmentation),
            ..
        } = plan
        else {
            panic!("no segmentation in {plan:?}");
        };
        let headers = usize::from(segmentation.header_bytes);
        let tcp_start = usize::from(checksum_start);
        let (source, destination) = addresses(segmentation.ipv6);
        let original = TcpPacket::new_checked(&frame[tcp_start..]).unwrap();
        let (first_sequence, fin, psh) = (original.seq_number(), original.fin(), original.psh());
        let chunks: Vec<&[u8]> = frame[headers..]
            .chunks(usize::from(segmentation.segment_payload_bytes))
            .collect();
        let count = chunks.len();
        let mut offset = 0;
        chunks
            .into_iter()
            .enumerate()
            .map(|(index, chunk)| {
                let mut piece = frame[..headers].to_vec();
                piece.extend_from_slice(chunk);
                let tcp_bytes = piece.len() - tcp_start;
                if segmentation.ipv6 {
                    let mut ip = Ipv6Packet::new_unchecked(&mut piece[ETHERNET_HEADER_BYTES..]);
                    ip.set_payload_len(u16::try_from(tcp_bytes).unwrap());
                } else {
                    let total = u16::try_from(piece.len() - ETHERNET_HEADER_BYTES).unwrap();
                    let mut ip = Ipv4Packet::new_unchecked(&mut piece[ETHERNET_HEADER_BYTES..]);
                    ip.set_total_len(total);
                    ip.fill_checksum();
                }
                let mut tcp = TcpPacket::new_unchecked(&mut piece[tcp_start..]);
                tcp.set_seq_number(first_sequence + offset);
                let last = index + 1 == count;
                tcp.set_fin(fin && last);
                tcp.set_psh(psh && last);
                tcp.fill_checksum(&source, &destination);
                offset += chunk.len();
                piece
            })
            .collect()
    }

    #[test]
    fn a_syn_allowing_a_full_segment_gets_the_raised_mss_and_a_valid_checksum() {
        for (ipv6, mss) in [(false, 1460), (false, 9000), (true, 1440)] {
            let mut bytes = frame(&tcp_repr(TcpControl::Syn, Some(mss), &[]), ipv6, true);
            assert!(
                raise_peer_mss(&mut bytes, STANDARD_FRAME, 64000),
                "{ipv6} {mss}"
            );
            assert_eq!(parsed_mss(&bytes, ipv6), Some(64000));
            let (source, destination) = addresses(ipv6);
            assert!(tcp_of(&bytes, ipv6).verify_checksum(&source, &destination));
        }
    }

    #[test]
    fn syns_that_must_keep_their_mss_are_left_byte_for_byte() {
        let below_a_full_segment = frame(&tcp_repr(TcpControl::Syn, Some(1400), &[]), false, true);
        let v6_below = frame(&tcp_repr(TcpControl::Syn, Some(1439), &[]), true, true);
        let no_option = frame(&tcp_repr(TcpControl::Syn, None, &[]), false, true);
        let not_a_syn = frame(
            &tcp_repr(TcpControl::None, Some(1460), b"data"),
            false,
            true,
        );
        let mut bad_checksum = frame(&tcp_repr(TcpControl::Syn, Some(1460), &[]), false, true);
        let last = bad_checksum.len() - 1;
        bad_checksum[last] ^= 0xff;
        let already_larger = frame(&tcp_repr(TcpControl::Syn, Some(65000), &[]), false, true);
        // Found by the `frames` fuzz target: an IP version field that does not match the
        // EtherType (here 12 in an IPv4 frame, 4 in an IPv6 one) is not that protocol's packet.
        let mut wrong_ipv4_version =
            frame(&tcp_repr(TcpControl::Syn, Some(1460), &[]), false, true);
        wrong_ipv4_version[ETHERNET_HEADER_BYTES] = 0xc5;
        let mut wrong_ipv6_version = frame(&tcp_repr(TcpControl::Syn, Some(1440), &[]), true, true);
        wrong_ipv6_version[ETHERNET_HEADER_BYTES] = 0x40;
        for original in [
            wrong_ipv4_version,
            wrong_ipv6_version,
            below_a_full_segment,
            v6_below,
            no_option,
            not_a_syn,
            bad_checksum,
            already_larger,
        ] {
            let mut bytes = original.clone();
            assert!(!raise_peer_mss(&mut bytes, STANDARD_FRAME, 64000));
            assert_eq!(bytes, original);
        }
    }

    #[test]
    fn a_segment_checksummed_by_the_device_is_valid() {
        for ipv6 in [false, true] {
            let payload: Vec<u8> = (0..1001u32).map(|i| (i * 7) as u8).collect();
            let mut bytes = frame(&tcp_repr(TcpControl::Psh, None, &payload), ipv6, false);
            let plan = prepare_transmit(&mut bytes, STANDARD_FRAME);
            let TransmitPlan::Offload {
                checksum_start,
                checksum_offset,
                segmentation: None,
            } = plan
            else {
                panic!("{plan:?}");
            };
            assert_eq!(usize::from(checksum_start), if ipv6 { 54 } else { 34 });
            assert_eq!(checksum_offset, 16);
            device_checksum(&mut bytes, checksum_start, checksum_offset);
            let (source, destination) = addresses(ipv6);
            assert!(tcp_of(&bytes, ipv6).verify_checksum(&source, &destination));
            // The same bytes smoltcp would have sent with a software checksum.
            assert_eq!(
                bytes,
                frame(&tcp_repr(TcpControl::Psh, None, &payload), ipv6, true)
            );
        }
    }

    #[test]
    fn a_large_segment_is_cut_into_standard_frames_carrying_the_same_bytes() {
        for ipv6 in [false, true] {
            let payload: Vec<u8> = (0..40_000u32).map(|i| (i % 251) as u8).collect();
            let mut bytes = frame(&tcp_repr(TcpControl::Fin, None, &payload), ipv6, false);
            let plan = prepare_transmit(&mut bytes, STANDARD_FRAME);
            let per_segment = if ipv6 { 1440 } else { 1460 };
            assert_eq!(
                plan,
                TransmitPlan::Offload {
                    checksum_start: if ipv6 { 54 } else { 34 },
                    checksum_offset: 16,
                    segmentation: Some(Segmentation {
                        ipv6,
                        header_bytes: if ipv6 { 74 } else { 54 },
                        segment_payload_bytes: per_segment,
                    }),
                }
            );
            let pieces = device_segment(&bytes, plan);
            assert_eq!(
                pieces.len(),
                payload.len().div_ceil(usize::from(per_segment))
            );
            let (source, destination) = addresses(ipv6);
            let mut carried = Vec::new();
            let mut expected_sequence = TcpSeqNumber(1000);
            for (index, piece) in pieces.iter().enumerate() {
                assert!(piece.len() <= STANDARD_FRAME);
                let tcp = tcp_of(piece, ipv6);
                assert!(tcp.verify_checksum(&source, &destination));
                assert_eq!(tcp.seq_number(), expected_sequence);
                assert_eq!(tcp.fin(), index + 1 == pieces.len());
                carried.extend_from_slice(tcp.payload());
                expected_sequence += tcp.payload().len();
            }
            assert_eq!(carried, payload);
        }
    }

    #[test]
    fn our_syn_ack_advertises_what_the_link_carries_not_the_large_mtu() {
        for (ipv6, expected) in [(false, 1460), (true, 1440)] {
            let mut bytes = frame(&tcp_repr(TcpControl::Syn, Some(65470), &[]), ipv6, false);
            let plan = prepare_transmit(&mut bytes, STANDARD_FRAME);
            assert!(matches!(
                plan,
                TransmitPlan::Offload {
                    segmentation: None,
                    ..
                }
            ));
            let TransmitPlan::Offload {
                checksum_start,
                checksum_offset,
                ..
            } = plan
            else {
                unreachable!()
            };
            device_checksum(&mut bytes, checksum_start, checksum_offset);
            assert_eq!(parsed_mss(&bytes, ipv6), Some(expected));
        }
        // An MSS already within the link is kept.
        let mut bytes = frame(&tcp_repr(TcpControl::Syn, Some(1200), &[]), false, false);
        let plan = prepare_transmit(&mut bytes, STANDARD_FRAME);
        let TransmitPlan::Offload {
            checksum_start,
            checksum_offset,
            ..
        } = plan
        else {
            panic!("{plan:?}");
        };
        device_checksum(&mut bytes, checksum_start, checksum_offset);
        assert_eq!(parsed_mss(&bytes, false), Some(1200));
    }

    #[test]
    fn frames_that_are_not_tcp_go_as_they_are_or_not_at_all() {
        let mut arp_sized = vec![0u8; 60];
        arp_sized[12..14].copy_from_slice(&[0x08, 0x06]);
        assert_eq!(
            prepare_transmit(&mut arp_sized, STANDARD_FRAME),
            TransmitPlan::AsIs
        );
        let mut too_long = vec![0u8; STANDARD_FRAME + 1];
        too_long[12..14].copy_from_slice(&[0x08, 0x06]);
        assert_eq!(
            prepare_transmit(&mut too_long, STANDARD_FRAME),
            TransmitPlan::Oversized
        );
        assert!(!raise_peer_mss(&mut arp_sized, STANDARD_FRAME, 64000));
    }

    #[test]
    fn the_virtio_header_carries_the_plan_little_endian() {
        let plan = TransmitPlan::Offload {
            checksum_start: 34,
            checksum_offset: 16,
            segmentation: Some(Segmentation {
                ipv6: false,
                header_bytes: 54,
                segment_payload_bytes: 1460,
            }),
        };
        assert_eq!(
            virtio_net_header(plan),
            [1, 1, 54, 0, 0xb4, 0x05, 34, 0, 16, 0]
        );
        let v6_checksum_only = TransmitPlan::Offload {
            checksum_start: 54,
            checksum_offset: 16,
            segmentation: None,
        };
        assert_eq!(
            virtio_net_header(v6_checksum_only),
            [1, 0, 0, 0, 0, 0, 54, 0, 16, 0]
        );
        assert_eq!(virtio_net_header(TransmitPlan::AsIs), [0; 10]);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_frames_never_panic(mut bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..2000), tcp_v4 in proptest::bool::ANY) {
            if tcp_v4 && bytes.len() > 34 {
                // Often a plausible IPv4/TCP frame, so the TCP paths are reached.
                bytes[12] = 0x08;
                bytes[13] = 0x00;
                bytes[14] = 0x45;
                bytes[23] = 6;
            }
            let mut copy = bytes.clone();
            let _ = raise_peer_mss(&mut bytes, STANDARD_FRAME, 64000);
            let _ = prepare_transmit(&mut copy, STANDARD_FRAME);
        }
    }
}
