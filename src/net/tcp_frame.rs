//! Where the TCP segment sits in an Ethernet frame: the one parse shared by the code that looks
//! into frames before smoltcp does (the server's SYN gate) or after it (checksum and segmentation
//! offload).

use smoltcp::wire::{
    EthernetFrame, EthernetProtocol, IpAddress, IpProtocol, Ipv4Packet, Ipv6Packet,
};

/// Bytes of an Ethernet II header (IEEE 802.3 §3.1.1), where the IP header starts.
pub(crate) const ETHERNET_HEADER_BYTES: usize = 14;

/// Where a TCP segment sits in an Ethernet frame.
pub(crate) struct TcpInFrame {
    /// Offset of the TCP header.
    pub start: usize,
    /// Offset just past the TCP payload (the end of the IP packet).
    pub end: usize,
    /// The IP source address.
    pub source: IpAddress,
    /// The IP destination address.
    pub destination: IpAddress,
    /// Carried over IPv6 rather than IPv4.
    pub ipv6: bool,
}

/// Finds the TCP segment of an Ethernet frame carrying IPv4 (unfragmented) or IPv6 (TCP as
/// the first Next Header). Anything else, malformed frames included, is `None`.
pub(crate) fn locate_tcp(frame: &[u8]) -> Option<TcpInFrame> {
    let ethernet = EthernetFrame::new_checked(frame).ok()?;
    match ethernet.ethertype() {
        EthernetProtocol::Ipv4 => {
            let ip = Ipv4Packet::new_checked(ethernet.payload()).ok()?;
            // RFC 791 §3.1: the version field must say 4. smoltcp's length check does not look
            // at it (its IP layer drops such a packet later), so an edit here would touch a
            // packet that is not IPv4 at all; the `frames` fuzz target found this.
            if ip.version() != 4 {
                return None;
            }
            // Only a whole datagram holds a whole TCP header (smoltcp sends none fragmented).
            if ip.next_header() != IpProtocol::Tcp || ip.more_frags() || ip.frag_offset() != 0 {
                return None;
            }
            Some(TcpInFrame {
                start: ETHERNET_HEADER_BYTES + usize::from(ip.header_len()),
                end: ETHERNET_HEADER_BYTES + usize::from(ip.total_len()),
                source: ip.src_addr().into(),
                destination: ip.dst_addr().into(),
                ipv6: false,
            })
        }
        EthernetProtocol::Ipv6 => {
            let ip = Ipv6Packet::new_checked(ethernet.payload()).ok()?;
            // RFC 8200 §3: the version field must say 6 (as for IPv4 above).
            if ip.version() != 6 {
                return None;
            }
            if ip.next_header() != IpProtocol::Tcp {
                return None;
            }
            let start = ETHERNET_HEADER_BYTES + ip.header_len();
            Some(TcpInFrame {
                start,
                end: start + usize::from(ip.payload_len()),
                source: ip.src_addr().into(),
                destination: ip.dst_addr().into(),
                ipv6: true,
            })
        }
        _ => None,
    }
}
