//! The SYN gate: the device as smoltcp sees it in [`HttpServer::poll`]. While no socket listens
//! on the HTTP port, an initial SYN to that port is dropped here instead of reaching smoltcp,
//! which would answer it with RST (see "Beyond every limit" in the [module
//! documentation](super)). The gate also looks at every ARP packet for a conflict with our IPv4
//! address, or the one being probed (RFC 5227 §2.1.1, §2.4), since the frames are visible only
//! while smoltcp receives them.

use log::warn;
use smoltcp::phy::{Device, DeviceCapabilities, PacketMeta, RxToken};
use smoltcp::time::Instant;
use smoltcp::wire::{EthernetAddress, IpAddress, Ipv4Address, TcpPacket};

use super::arp::{self, ArpConflict};
use super::pump::{SocketPhase, SocketRole};
use super::server::HttpServer;
use super::tcp_frame::locate_tcp;

impl HttpServer {
    /// Counts SYNs the [`SynGate`] dropped, and tells the operator why (at most once a second:
    /// a flood of retries must not flood the console too).
    pub(super) fn note_syns_dropped(&mut self, count: u64, now_us: u64) {
        self.statistics.syns_dropped_at_limit += count;
        self.syns_dropped_unreported += count;
        if self
            .syn_drop_warned_at_us
            .is_some_and(|warned_us| now_us < warned_us.saturating_add(1_000_000))
        {
            return;
        }
        let (mut connections, mut refusing) = (0usize, 0usize);
        for slot in &self.slots {
            match (slot.role, &slot.phase) {
                (_, SocketPhase::Listening) => {}
                (SocketRole::Regular, _) => connections += 1,
                (SocketRole::Overflow, _) => refusing += 1,
            }
        }
        let reason = if connections >= self.config.max_connections
            && refusing >= self.config.overflow_connections_max
        {
            "connection limit reached and every 503 slot busy"
        } else {
            "too little free memory for another socket"
        };
        warn!(
            "http: {reason} ({connections} connections, {refusing} answering 503): dropped {} \
             new connection attempts (SYN) since the last report; those clients retry in 1 s \
             or more (RFC 6298)",
            self.syns_dropped_unreported
        );
        self.syn_drop_warned_at_us = Some(now_us);
        self.syns_dropped_unreported = 0;
    }
}

/// The device as smoltcp sees it in [`HttpServer::poll`]: the NIC, except that while no socket
/// listens on the HTTP port (`closed_port`), an initial SYN to that port is dropped instead of
/// reaching smoltcp, which would answer it with RST (see "Beyond every limit" in [`crate::net`]).
pub(super) struct SynGate<'device, D: Device + ?Sized> {
    pub(super) device: &'device mut D,
    /// The HTTP port while nothing listens on it; `None` lets every frame through.
    pub(super) closed_port: Option<u16>,
    /// Our addresses: only SYNs to these would be answered by smoltcp.
    pub(super) local_addresses: &'device [IpAddress],
    /// SYNs dropped by this gate.
    pub(super) syns_dropped: u64,
    /// The IPv4 address whose ARP conflicts are looked for, if any.
    pub(super) arp_watch: Option<ArpWatch>,
    /// The conflict seen, if any (one frame passes per gate).
    pub(super) arp_conflict: Option<ArpConflict>,
}

/// What the [`SynGate`] checks ARP packets against (see [`arp_conflict`]).
#[derive(Debug, Clone, Copy)]
pub(super) struct ArpWatch {
    pub(super) own_mac: EthernetAddress,
    pub(super) address: Ipv4Address,
    pub(super) probing: bool,
}

impl<D: Device + ?Sized> Device for SynGate<'_, D> {
    type RxToken<'token>
        = SynGateRxToken<'token, D::RxToken<'token>>
    where
        Self: 'token;
    type TxToken<'token>
        = D::TxToken<'token>
    where
        Self: 'token;

    fn receive(&mut self, timestamp: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let (inner, transmit) = self.device.receive(timestamp)?;
        let receive = SynGateRxToken {
            inner,
            closed_port: self.closed_port,
            local_addresses: self.local_addresses,
            syns_dropped: &mut self.syns_dropped,
            arp_watch: self.arp_watch,
            arp_conflict: &mut self.arp_conflict,
        };
        Some((receive, transmit))
    }

    fn transmit(&mut self, timestamp: Instant) -> Option<Self::TxToken<'_>> {
        self.device.transmit(timestamp)
    }

    fn capabilities(&self) -> DeviceCapabilities {
        self.device.capabilities()
    }
}

/// A received frame, looked at in place (never copied) before smoltcp sees it.
pub(super) struct SynGateRxToken<'token, T> {
    inner: T,
    closed_port: Option<u16>,
    local_addresses: &'token [IpAddress],
    syns_dropped: &'token mut u64,
    arp_watch: Option<ArpWatch>,
    arp_conflict: &'token mut Option<ArpConflict>,
}

impl<T: RxToken> RxToken for SynGateRxToken<'_, T> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        let SynGateRxToken {
            inner,
            closed_port,
            local_addresses,
            syns_dropped,
            arp_watch,
            arp_conflict,
        } = self;
        inner.consume(|frame| {
            if let Some(watch) = arp_watch {
                *arp_conflict =
                    arp::arp_conflict(frame, watch.own_mac, watch.address, watch.probing);
            }
            match closed_port {
                Some(port) if is_initial_syn(frame, port, local_addresses) => {
                    *syns_dropped += 1;
                    // The token API has no "discard": the frame is only visible inside `consume`,
                    // after smoltcp has taken the token. smoltcp 0.14 (`Interface::socket_ingress`)
                    // skips an empty frame before parsing it, so it sends nothing in reply.
                    f(&[])
                }
                _ => f(frame),
            }
        })
    }

    fn meta(&self) -> PacketMeta {
        self.inner.meta()
    }
}

/// Whether `frame` is an Ethernet frame with an initial SYN (SYN without ACK or RST, RFC 9293
/// §3.5) to `port` on one of `local_addresses`, over IPv4 or IPv6. Anything else — malformed,
/// fragmented, behind IPv6 extension headers (RFC 8200 §4) — is not, and passes the gate.
///
/// A SYN that belongs to an existing connection's 4-tuple (a client retransmitting its SYN while
/// our socket is in SYN-RECEIVED) is dropped as well: that socket retransmits its SYN-ACK on its
/// own timer (RFC 9293 §3.8.1), which completes the handshake, so the duplicate SYN adds nothing
/// (on a synchronized connection it would only draw a challenge ACK, RFC 5961 §4, which the
/// client's next retry gets once a socket listens again). Telling these apart would need the
/// socket set, which smoltcp holds while frames are received.
fn is_initial_syn(frame: &[u8], port: u16, local_addresses: &[IpAddress]) -> bool {
    let Some(location) = locate_tcp(frame) else {
        return false;
    };
    let Some(Ok(tcp)) = frame
        .get(location.start..location.end)
        .map(TcpPacket::new_checked)
    else {
        return false;
    };
    tcp.syn()
        && !tcp.ack()
        && !tcp.rst()
        && tcp.dst_port() == port
        && local_addresses.contains(&location.destination)
}

#[cfg(test)]
mod tests {
    use super::*;
    use smoltcp::phy::ChecksumCapabilities;
    use smoltcp::wire::{
        EthernetFrame, EthernetProtocol, EthernetRepr, IpProtocol, Ipv4Packet, Ipv4Repr,
        Ipv6Address, Ipv6Packet, Ipv6Repr, TcpControl, TcpRepr, TcpSeqNumber,
    };

    const SERVER_IPV4: Ipv4Address = Ipv4Address::new(10, 0, 2, 15);
    const SERVER_IPV6: Ipv6Address = Ipv6Address::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);

    /// An Ethernet frame with a TCP segment from a client to `destination`, port `port`.
    fn tcp_frame(destination: IpAddress, port: u16, control: TcpControl, ack: bool) -> Vec<u8> {
        let tcp = TcpRepr {
            src_port: 40_000,
            dst_port: port,
            control,
            seq_number: TcpSeqNumber(1000),
            ack_number: ack.then_some(TcpSeqNumber(2000)),
            window_len: 1024,
            window_scale: None,
            max_seg_size: Some(1460),
            sack_permitted: false,
            sack_ranges: [None; 3],
            timestamp: None,
            payload: &[],
        };
        let (ethertype, ip_header_bytes, source) = match destination {
            IpAddress::Ipv4(_) => (
                EthernetProtocol::Ipv4,
                20,
                IpAddress::Ipv4(Ipv4Address::new(10, 0, 2, 100)),
            ),
            IpAddress::Ipv6(_) => (
                EthernetProtocol::Ipv6,
                40,
                IpAddress::Ipv6(Ipv6Address::new(0xfe80, 0, 0, 0, 0, 0, 0, 2)),
            ),
        };
        let mut frame = vec![0u8; 14 + ip_header_bytes + tcp.buffer_len()];
        EthernetRepr {
            src_addr: EthernetAddress([0x02, 0, 0, 0, 0, 2]),
            dst_addr: EthernetAddress([0x02, 0, 0, 0, 0, 1]),
            ethertype,
        }
        .emit(&mut EthernetFrame::new_unchecked(&mut frame));
        let checksums = ChecksumCapabilities::default();
        let ip = &mut frame[14..];
        match (source, destination) {
            (IpAddress::Ipv4(src_addr), IpAddress::Ipv4(dst_addr)) => Ipv4Repr {
                src_addr,
                dst_addr,
                next_header: IpProtocol::Tcp,
                payload_len: tcp.buffer_len(),
                hop_limit: 64,
            }
            .emit(&mut Ipv4Packet::new_unchecked(&mut *ip), &checksums),
            (IpAddress::Ipv6(src_addr), IpAddress::Ipv6(dst_addr)) => Ipv6Repr {
                src_addr,
                dst_addr,
                next_header: IpProtocol::Tcp,
                payload_len: tcp.buffer_len(),
                hop_limit: 64,
            }
            .emit(&mut Ipv6Packet::new_unchecked(&mut *ip)),
            _ => unreachable!("same family"),
        }
        let mut segment = TcpPacket::new_unchecked(&mut ip[ip_header_bytes..]);
        tcp.emit(&mut segment, &source, &destination, &checksums);
        frame
    }

    /// `frame` with byte `offset` replaced by `value`.
    fn with_byte(mut frame: Vec<u8>, offset: usize, value: u8) -> Vec<u8> {
        frame[offset] = value;
        frame
    }

    #[test]
    fn the_syn_gate_recognizes_only_initial_syns_to_our_port_and_addresses() {
        let ours = [IpAddress::Ipv4(SERVER_IPV4), IpAddress::Ipv6(SERVER_IPV6)];
        let ipv4 = IpAddress::Ipv4(SERVER_IPV4);
        let ipv6 = IpAddress::Ipv6(SERVER_IPV6);
        let syn_v4 = tcp_frame(ipv4, 80, TcpControl::Syn, false);
        let syn_v6 = tcp_frame(ipv6, 80, TcpControl::Syn, false);
        let mut padded_v4 = syn_v4.clone();
        padded_v4.extend_from_slice(&[0; 6]);
        let cases: [(&str, Vec<u8>, bool); 13] = [
            ("IPv4 SYN", syn_v4.clone(), true),
            ("IPv4 SYN with Ethernet padding", padded_v4, true),
            ("IPv6 SYN", syn_v6.clone(), true),
            (
                "SYN to another port",
                tcp_frame(ipv4, 81, TcpControl::Syn, false),
                false,
            ),
            (
                "SYN to another address",
                tcp_frame(IpAddress::v4(10, 0, 2, 16), 80, TcpControl::Syn, false),
                false,
            ),
            (
                "IPv6 SYN to another address",
                tcp_frame(
                    IpAddress::v6(0xfe80, 0, 0, 0, 0, 0, 0, 9),
                    80,
                    TcpControl::Syn,
                    false,
                ),
                false,
            ),
            ("SYN-ACK", tcp_frame(ipv4, 80, TcpControl::Syn, true), false),
            ("ACK", tcp_frame(ipv4, 80, TcpControl::None, true), false),
            ("RST", tcp_frame(ipv4, 80, TcpControl::Rst, false), false),
            // IPv4 flags and fragment offset at byte 6 of the header: More Fragments.
            (
                "IPv4 fragment",
                with_byte(syn_v4.clone(), 14 + 6, 0x20),
                false,
            ),
            // IPv6 Next Header (byte 6): Hop-by-Hop Options before the TCP header.
            (
                "IPv6 extension header",
                with_byte(syn_v6.clone(), 14 + 6, 0),
                false,
            ),
            // EtherType 0x0806 (ARP).
            ("not IP", with_byte(syn_v4.clone(), 13, 0x06), false),
            ("empty", Vec::new(), false),
        ];
        for (name, frame, expected) in cases {
            assert_eq!(is_initial_syn(&frame, 80, &ours), expected, "{name}");
        }
        // Truncated frames are never mistaken for a SYN, and never panic.
        for frame in [&syn_v4, &syn_v6] {
            for length in 0..frame.len() {
                assert!(!is_initial_syn(&frame[..length], 80, &ours), "{length}");
            }
        }
    }
}
