//! The frame router and SYN gate: every frame the NIC receives passes here on its way into
//! smoltcp. A TCP segment to the HTTP port goes to the bucket that holds its connection's socket
//! (see [`super::buckets`]), so that smoltcp looks at that bucket's few sockets only; anything
//! else (ARP, ICMP, DHCP, a SYN for a new connection, a segment for no connection) goes to the
//! small set of the DHCP socket and the listeners. While no socket listens on the HTTP port, an
//! initial SYN to that port is dropped here instead of reaching smoltcp, which would answer it
//! with RST (see "Beyond every limit" in the [module documentation](super)). The router also
//! looks at every ARP packet for a conflict with our IPv4 address, or the one being probed
//! (RFC 5227 §2.1.1, §2.4).

use log::warn;
use smoltcp::iface::PollIngressSingleResult;
use smoltcp::phy::{Device, DeviceCapabilities, PacketMeta, RxToken};
use smoltcp::time::Instant;
use smoltcp::wire::{EthernetAddress, IpAddress, IpEndpoint, Ipv4Address, TcpPacket};

use super::arp;
use super::buckets::SocketBuckets;
use super::server::HttpServer;
use super::tcp_frame::locate_tcp;

impl HttpServer {
    /// Counts SYNs the gate dropped, and tells the operator why (at most once a second: a flood
    /// of retries must not flood the console too).
    pub(super) fn note_syns_dropped(&mut self, count: u64, now_us: u64) {
        self.statistics.syns_dropped_at_limit += count;
        self.syns_dropped_unreported += count;
        if self
            .syn_drop_warned_at_us
            .is_some_and(|warned_us| now_us < warned_us.saturating_add(1_000_000))
        {
            return;
        }
        let connections = self.buckets.regular_count;
        let refusing = self.buckets.overflow_count;
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

    /// Receives one frame from `device` and hands it to smoltcp with the socket set it belongs
    /// to (see the module documentation). `listening` tells whether any socket listens on the
    /// HTTP port. Returns `None` when no frame was waiting, else whether a listener may have
    /// been taken by a SYN (smoltcp reported a socket state change in the listeners' set).
    pub(super) fn receive_frame<D: Device + ?Sized>(
        &mut self,
        now: Instant,
        device: &mut D,
        listening: bool,
        arp_watch: Option<ArpWatch>,
    ) -> Option<bool> {
        let capabilities = device.capabilities();
        let (receive, transmit) = device.receive(now)?;
        let meta = receive.meta();
        let HttpServer {
            config,
            interface,
            sockets,
            buckets,
            local_addresses,
            ..
        } = self;
        let http_port = config.http_port;
        let mut syn_dropped = false;
        let mut arp_conflict = None;
        let listener_event = receive.consume(|frame| {
            if let Some(watch) = arp_watch {
                arp_conflict =
                    arp::arp_conflict(frame, watch.own_mac, watch.address, watch.probing);
            }
            let mut single = SingleFrame {
                frame: Some(frame),
                meta,
                transmit: Some(transmit),
                capabilities,
            };
            match route(frame, http_port, local_addresses, buckets) {
                Route::Bucket(index, slot_index) => {
                    buckets.mark_due(index, slot_index);
                    let set = &mut buckets.buckets[index].sockets;
                    interface.poll_ingress_single(now, &mut single, set);
                    false
                }
                Route::Listeners { initial_syn: true } if !listening => {
                    syn_dropped = true;
                    false
                }
                Route::Listeners { .. } => {
                    interface.poll_ingress_single(now, &mut single, sockets)
                        == PollIngressSingleResult::SocketStateChanged
                }
            }
        });
        if syn_dropped {
            self.note_syns_dropped(1, crate::net::server::instant_us(now));
        }
        if let Some(conflict) = arp_conflict {
            self.note_arp_conflict(conflict, crate::net::server::instant_us(now));
        }
        Some(listener_event)
    }
}

/// What the router checks ARP packets against (see [`arp::arp_conflict`]).
#[derive(Debug, Clone, Copy)]
pub(super) struct ArpWatch {
    pub(super) own_mac: EthernetAddress,
    pub(super) address: Ipv4Address,
    pub(super) probing: bool,
}

/// Where a received frame goes.
enum Route {
    /// To the bucket that holds its connection's socket (bucket, slot).
    Bucket(usize, usize),
    /// To the DHCP socket and the listeners.
    Listeners {
        /// An initial SYN to the HTTP port on one of our addresses.
        initial_syn: bool,
    },
}

/// Where `frame` goes (see [`Route`]).
fn route(frame: &[u8], port: u16, local_addresses: &[IpAddress], buckets: &SocketBuckets) -> Route {
    let Some(segment) = http_segment(frame, port, local_addresses) else {
        return Route::Listeners { initial_syn: false };
    };
    match buckets.find(segment.local, segment.remote) {
        Some((index, slot_index)) => Route::Bucket(index, slot_index),
        None => Route::Listeners {
            initial_syn: segment.initial_syn,
        },
    }
}

/// One already received frame, as the device `Interface::poll_ingress_single` takes: it yields
/// the frame once, with the transmit token the NIC gave along with it (for smoltcp's immediate
/// reply, such as a RST).
struct SingleFrame<'frame, T> {
    frame: Option<&'frame [u8]>,
    meta: PacketMeta,
    transmit: Option<T>,
    capabilities: DeviceCapabilities,
}

impl<'frame, T: smoltcp::phy::TxToken> Device for SingleFrame<'frame, T> {
    type RxToken<'token>
        = FrameToken<'token>
    where
        Self: 'token;
    type TxToken<'token>
        = T
    where
        Self: 'token;

    fn receive(&mut self, _timestamp: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let frame = self.frame.take()?;
        let transmit = self.transmit.take()?;
        Some((
            FrameToken {
                frame,
                meta: self.meta,
            },
            transmit,
        ))
    }

    fn transmit(&mut self, _timestamp: Instant) -> Option<Self::TxToken<'_>> {
        self.transmit.take()
    }

    fn capabilities(&self) -> DeviceCapabilities {
        self.capabilities.clone()
    }
}

/// The receive token of a [`SingleFrame`].
struct FrameToken<'frame> {
    frame: &'frame [u8],
    meta: PacketMeta,
}

impl RxToken for FrameToken<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(self.frame)
    }

    fn meta(&self) -> PacketMeta {
        self.meta
    }
}

/// A TCP segment to the HTTP port on one of our addresses.
struct HttpSegment {
    /// Our end: the destination address and the HTTP port.
    local: IpEndpoint,
    /// The client's end.
    remote: IpEndpoint,
    /// SYN without ACK or RST (RFC 9293 §3.5).
    initial_syn: bool,
}

/// The TCP segment of `frame` if it is an Ethernet frame with a TCP segment to `port` on one of
/// `local_addresses`, over IPv4 or IPv6. Anything else — malformed, fragmented, behind IPv6
/// extension headers (RFC 8200 §4) — is not.
fn http_segment(frame: &[u8], port: u16, local_addresses: &[IpAddress]) -> Option<HttpSegment> {
    let location = locate_tcp(frame)?;
    let tcp = TcpPacket::new_checked(frame.get(location.start..location.end)?).ok()?;
    if tcp.dst_port() != port || !local_addresses.contains(&location.destination) {
        return None;
    }
    Some(HttpSegment {
        local: IpEndpoint::new(location.destination, port),
        remote: IpEndpoint::new(location.source, tcp.src_port()),
        initial_syn: tcp.syn() && !tcp.ack() && !tcp.rst(),
    })
}

/// Whether `frame` is an Ethernet frame with an initial SYN (SYN without ACK or RST, RFC 9293
/// §3.5) to `port` on one of `local_addresses` (see [`http_segment`]). A retransmitted SYN of a
/// connection whose socket is in SYN-RECEIVED never gets this far: the router finds its bucket
/// first.
#[cfg(test)]
fn is_initial_syn(frame: &[u8], port: u16, local_addresses: &[IpAddress]) -> bool {
    http_segment(frame, port, local_addresses).is_some_and(|segment| segment.initial_syn)
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
