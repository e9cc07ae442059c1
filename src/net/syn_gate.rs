//! The frame router and SYN gate: every frame the NIC receives passes here on its way into
//! smoltcp. A TCP segment to the HTTP port goes to the bucket that holds its connection's socket
//! (see [`super::buckets`]), so that smoltcp looks at that bucket's few sockets only. An initial
//! SYN to the HTTP port is answered here with a SYN cookie, and the ACK that returns the cookie
//! turns a listener into the connection ([`super::syn_cookie`]): no socket exists for a
//! handshake that is not complete. Anything else (ARP, ICMP, DHCP, a segment for no connection)
//! goes to the small set of the DHCP socket and the listeners. While no socket listens on the
//! HTTP port, an initial SYN to that port (or a cookie's ACK) is dropped here instead of reaching
//! smoltcp, which would answer it with RST (see "Beyond every limit" in the [module
//! documentation](super)). The router also
//! looks at every ARP packet for a conflict with our IPv4 address, or the one being probed
//! (RFC 5227 §2.1.1, §2.4).

use alloc::vec;

use log::{error, warn};
use smoltcp::iface::{Config, Interface, PollIngressSingleResult, PollResult, SocketSet};
use smoltcp::phy::{
    ChecksumCapabilities, Device, DeviceCapabilities, Medium, PacketMeta, RxToken, TxToken,
};
use smoltcp::socket::tcp;
use smoltcp::time::Instant;
use smoltcp::wire::{
    EthernetAddress, EthernetFrame, HardwareAddress, IpAddress, IpEndpoint, Ipv4Address,
    TcpControl, TcpPacket, TcpRepr,
};

use super::arp;
use super::buckets::SocketBuckets;
use super::checksum::{self, ChecksummingDevice};
use super::config::ServerConfig;
use super::pump::{SocketRole, SocketSlot};
use super::server::HttpServer;
use super::syn_cookie::{
    CookieKey, CookieOptions, SynAckPlan, emit_ip_packet, interface_seed_for_isn, ip_header_bytes,
    window_scale_for,
};
use super::tcp_frame::{ETHERNET_HEADER_BYTES, locate_tcp};

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
    /// to (see the module documentation), or answers it here: an initial SYN to the HTTP port
    /// with a SYN cookie, the ACK of such a SYN-ACK by opening the connection from a listener
    /// ([`super::syn_cookie`]). `listening` tells whether any socket listens on the HTTP port.
    /// Returns `None` when no frame was waiting, else whether a listener may have been taken.
    pub(super) fn receive_frame<D: Device + ?Sized>(
        &mut self,
        now: Instant,
        device: &mut ChecksummingDevice<'_, D>,
        listening: bool,
        arp_watch: Option<ArpWatch>,
    ) -> Option<bool> {
        let capabilities = device.capabilities();
        let verify_sum = device.verify_received.then(|| device.sum());
        let (receive, transmit) = device.receive(now)?;
        let meta = receive.meta();
        let now_us = crate::net::server::instant_us(now);
        let now_s = now_us / 1_000_000;
        let HttpServer {
            config,
            interface,
            sockets,
            buckets,
            listeners,
            scratch,
            local_addresses,
            cookie_key,
            statistics,
            short_of_memory,
            ..
        } = self;
        let http_port = config.http_port;
        let mut syn_dropped = false;
        let mut opened = None;
        let mut reclaim_for_memory = false;
        let mut arp_conflict = None;
        let listener_event = receive.consume(|frame| {
            // smoltcp leaves TCP checksums to us (`checksum`): a segment whose sum is wrong is
            // dropped here, as smoltcp would drop it (RFC 9293 §3.1).
            if let Some(sum) = verify_sum
                && !checksum::tcp_checksum_valid(frame, sum)
            {
                statistics.tcp_checksum_errors += 1;
                return false;
            }
            if let Some(watch) = arp_watch {
                arp_conflict =
                    arp::arp_conflict(frame, watch.own_mac, watch.address, watch.probing);
            }
            let mut single = SingleFrame {
                frame: Some(frame),
                meta,
                transmit: Some(transmit),
                capabilities: capabilities.clone(),
            };
            match route(frame, http_port, local_addresses, buckets) {
                Route::Bucket(index, slot_index) => {
                    buckets.mark_due(index, slot_index);
                    let set = &mut buckets.buckets[index].sockets;
                    interface.poll_ingress_single(now, &mut single, set);
                    false
                }
                Route::NewSegment(segment) if segment.initial_syn => {
                    // Short of memory, a cookie costs nothing, and the client's ACK is what
                    // makes room (below); at the connection limit with every 503 slot busy the
                    // SYN waits.
                    if !listening && !*short_of_memory {
                        syn_dropped = true;
                        return false;
                    }
                    let Some(plan) =
                        syn_ack_plan(frame, &segment, config, &capabilities, cookie_key, now_s)
                    else {
                        // Malformed (a bad checksum, say): smoltcp drops it.
                        interface.poll_ingress_single(now, &mut single, sockets);
                        return false;
                    };
                    if let Some(transmit) = single.transmit.take() {
                        transmit.consume(plan.frame_bytes(), |bytes| {
                            plan.emit(config.mac, bytes, &capabilities.checksum)
                        });
                        statistics.syn_cookies_sent += 1;
                    }
                    false
                }
                Route::NewSegment(segment) => {
                    let checked = segment
                        .acknowledges
                        .then(|| cookie_options(frame, &segment, &capabilities, cookie_key, now_s));
                    match checked {
                        Some(Some((options, window_len))) => {
                            let Some(index) = listener_to_take(listeners) else {
                                // A real client's handshake, but nothing listens now: its next
                                // segment (data, or a retransmission) carries the same cookie.
                                // If memory is what is missing, a reusable connection closes
                                // to make room for it, as at the connection limit.
                                syn_dropped = true;
                                reclaim_for_memory = *short_of_memory;
                                return false;
                            };
                            let slot = listeners.swap_remove(index);
                            let socket = sockets.remove(slot.handle);
                            opened = Some(open_from_cookie(
                                OpenFromCookie {
                                    now,
                                    interface,
                                    scratch,
                                    segment: &segment,
                                    options,
                                    window_len,
                                },
                                socket,
                                slot,
                                &mut single,
                            ));
                            true
                        }
                        checked => {
                            if checked.is_some() {
                                statistics.invalid_cookie_acks += 1;
                            }
                            // No connection: smoltcp answers RST (RFC 9293 §3.10.7.1).
                            interface.poll_ingress_single(now, &mut single, sockets)
                                == PollIngressSingleResult::SocketStateChanged
                        }
                    }
                }
                Route::Other => {
                    interface.poll_ingress_single(now, &mut single, sockets)
                        == PollIngressSingleResult::SocketStateChanged
                }
            }
        });
        match opened {
            Some(Some((socket, slot))) => self.accept_connection(socket, slot, now_us),
            Some(None) => self.note_cookie_handshake_failed(now_us),
            None => {}
        }
        // Connections closed to make room for memory are bounded while they close, so that
        // every retransmission of the same waiting client does not close another.
        if reclaim_for_memory && self.buckets.reclaimed_count < MEMORY_RECLAIMS_CLOSING_MAX {
            self.reclaim_one();
        }
        if syn_dropped {
            self.note_syns_dropped(1, now_us);
        }
        if let Some(conflict) = arp_conflict {
            self.note_arp_conflict(conflict, now_us);
        }
        Some(listener_event)
    }

    /// Counts a cookie handshake whose socket did not reach ESTABLISHED: the client's ACK did
    /// not match the socket's initial sequence number, so smoltcp no longer draws it as
    /// [`super::syn_cookie::interface_seed_for_isn`] expects (smoltcp has answered the client
    /// with RST). Tells the operator, at most once a second.
    fn note_cookie_handshake_failed(&mut self, now_us: u64) {
        self.statistics.cookie_handshakes_failed += 1;
        if self
            .cookie_failure_warned_at_us
            .is_some_and(|warned_us| now_us < warned_us.saturating_add(1_000_000))
        {
            return;
        }
        error!(
            "http: a SYN-cookie handshake did not complete ({} so far): smoltcp chose another \
             initial sequence number than the cookie (a smoltcp upgrade?); those clients are reset",
            self.statistics.cookie_handshakes_failed
        );
        self.cookie_failure_warned_at_us = Some(now_us);
    }
}

/// Most connections closing at once because a client's handshake found no memory for a
/// listener (see [`HttpServer::reclaim_one`]).
const MEMORY_RECLAIMS_CLOSING_MAX: usize = 8;

/// The listener a cookie's ACK takes: a regular one if any, else the overflow one (which
/// answers `503`); `None` when none listens.
fn listener_to_take(listeners: &[SocketSlot]) -> Option<usize> {
    listeners
        .iter()
        .position(|slot| slot.role == SocketRole::Regular)
        .or_else(|| {
            listeners
                .iter()
                .position(|slot| slot.role == SocketRole::Overflow)
        })
}

/// What the ACK of a SYN cookie finds, for [`open_from_cookie`].
struct OpenFromCookie<'a> {
    now: Instant,
    interface: &'a mut Interface,
    /// An empty socket set the new socket passes through.
    scratch: &'a mut SocketSet<'static>,
    segment: &'a HttpSegment,
    options: CookieOptions,
    /// The ACK's window field (the rebuilt SYN carries it).
    window_len: u16,
}

/// Turns the listening `socket` into the connection whose handshake the cookie in `frame`'s
/// ACK completes (see [`super::syn_cookie`]): a SYN rebuilt from the cookie goes to the socket
/// through an interface seeded so that smoltcp gives it the cookie as its initial sequence
/// number, that interface "sends" the SYN-ACK (into nothing: the client has it already), and
/// then the real interface takes the ACK itself, with any request bytes it carries. Returns the
/// socket and its slot, or `None` if the socket did not reach ESTABLISHED.
fn open_from_cookie<T: TxToken>(
    open: OpenFromCookie,
    socket: smoltcp::socket::Socket<'static>,
    mut slot: SocketSlot,
    ack: &mut SingleFrame<T>,
) -> Option<(tcp::Socket<'static>, SocketSlot)> {
    let OpenFromCookie {
        now,
        interface,
        scratch,
        segment,
        options,
        window_len,
    } = open;
    let syn = TcpRepr {
        src_port: segment.remote.port,
        dst_port: segment.local.port,
        control: TcpControl::Syn,
        seq_number: options.client_isn,
        ack_number: None,
        window_len,
        window_scale: options.window_scale,
        max_seg_size: Some(options.max_seg_size),
        sack_permitted: false,
        sack_ranges: [None; 3],
        timestamp: None,
        payload: &[],
    };
    let mut rebuilt = [0u8; REBUILT_SYN_BYTES_MAX];
    let rebuilt = emit_ip_packet(
        segment.remote.addr,
        segment.local.addr,
        &syn,
        &mut rebuilt,
        &ChecksumCapabilities::ignored(),
    )?;
    // The seeded interface works on IP packets: it needs no neighbour for the SYN-ACK it sends
    // into nothing, and so no ARP.
    let mut capabilities = DeviceCapabilities::default();
    capabilities.medium = Medium::Ip;
    capabilities.max_transmission_unit = ack.capabilities.max_transmission_unit;
    capabilities.checksum = ChecksumCapabilities::ignored();
    let mut device = SingleFrame {
        frame: Some(&*rebuilt),
        meta: PacketMeta::default(),
        transmit: Some(DiscardTransmit),
        capabilities,
    };
    let mut config = Config::new(HardwareAddress::Ip);
    config.random_seed = interface_seed_for_isn(options.cookie);
    let mut seeded = Interface::new(config, &mut device, now);
    seeded.update_ip_addrs(|addresses| {
        for address in interface.ip_addrs() {
            // Both interfaces have room for the same number of addresses.
            let _ = addresses.push(*address);
        }
    });
    // A route for every destination, so that smoltcp lets the SYN-ACK out.
    match segment.local.addr {
        IpAddress::Ipv4(address) => {
            let _ = seeded.routes_mut().add_default_ipv4_route(address);
        }
        IpAddress::Ipv6(address) => {
            let _ = seeded.routes_mut().add_default_ipv6_route(address);
        }
    }
    let handle = scratch.add(socket);
    seeded.poll_ingress_single(now, &mut device, scratch);
    device.transmit = Some(DiscardTransmit);
    while seeded.poll_egress(now, &mut device, scratch) == PollResult::SocketStateChanged {
        device.transmit = Some(DiscardTransmit);
    }
    interface.poll_ingress_single(now, ack, scratch);
    let socket = match scratch.remove(handle) {
        smoltcp::socket::Socket::Tcp(socket) => socket,
        _ => return None,
    };
    if matches!(
        socket.state(),
        tcp::State::Listen | tcp::State::SynReceived | tcp::State::Closed
    ) {
        return None;
    }
    slot.peer = socket.remote_endpoint();
    slot.local = socket.local_endpoint();
    Some((socket, slot))
}

/// The TCP packet of an Ethernet frame, if it has one.
fn locate_tcp_packet(frame: &[u8]) -> Option<TcpPacket<&[u8]>> {
    let location = locate_tcp(frame)?;
    TcpPacket::new_checked(frame.get(location.start..location.end)?).ok()
}

/// Room for a rebuilt SYN: an IPv6 header and a TCP header with the MSS and window scale
/// options.
const REBUILT_SYN_BYTES_MAX: usize = 80;

/// The transmit token of the seeded interface: what it sends (the SYN-ACK the client already
/// has) is dropped.
struct DiscardTransmit;

impl TxToken for DiscardTransmit {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, length: usize, f: F) -> R {
        let mut buffer = [0u8; DISCARD_BUFFER_BYTES];
        match buffer.get_mut(..length) {
            Some(bytes) => f(bytes),
            None => f(&mut vec![0u8; length]),
        }
    }
}

/// Bytes of the stack buffer a discarded packet is written into (a SYN-ACK: about 60).
const DISCARD_BUFFER_BYTES: usize = 128;

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
    /// A TCP segment to the HTTP port on one of our addresses that no connection has: a SYN,
    /// the ACK of a SYN cookie, or a stray segment.
    NewSegment(HttpSegment),
    /// Anything else (ARP, ICMP, DHCP, other ports): to the DHCP socket and the listeners.
    Other,
}

/// Where `frame` goes (see [`Route`]).
fn route(frame: &[u8], port: u16, local_addresses: &[IpAddress], buckets: &SocketBuckets) -> Route {
    let Some(segment) = http_segment(frame, port, local_addresses) else {
        return Route::Other;
    };
    match buckets.find(segment.local, segment.remote) {
        Some((index, slot_index)) => Route::Bucket(index, slot_index),
        None => Route::NewSegment(segment),
    }
}

/// The TCP header of `frame`, parsed and its checksum checked as the device asks (`None`:
/// malformed).
fn parse_tcp<'frame>(
    frame: &'frame [u8],
    segment: &HttpSegment,
    capabilities: &DeviceCapabilities,
) -> Option<TcpRepr<'frame>> {
    TcpRepr::parse(
        &locate_tcp_packet(frame)?,
        &segment.remote.addr,
        &segment.local.addr,
        &capabilities.checksum,
    )
    .ok()
}

/// The SYN-ACK that answers the SYN in `frame` with a cookie, as smoltcp would answer it but for
/// the sequence number and the options a cookie cannot carry (timestamps, SACK).
fn syn_ack_plan(
    frame: &[u8],
    segment: &HttpSegment,
    config: &ServerConfig,
    capabilities: &DeviceCapabilities,
    key: &CookieKey,
    now_s: u64,
) -> Option<SynAckPlan> {
    let syn = parse_tcp(frame, segment, capabilities)?;
    let client_mac = EthernetFrame::new_checked(frame).ok()?.src_addr();
    let cookie = key.cookie(
        segment.local,
        segment.remote,
        syn.seq_number,
        syn.max_seg_size,
        syn.window_scale,
        now_s,
    );
    // smoltcp's own MSS option (RFC 6691): the IP MTU less the IP and TCP headers.
    let max_seg_size = capabilities
        .max_transmission_unit
        .saturating_sub(ETHERNET_HEADER_BYTES + ip_header_bytes(segment.local.addr) + 20);
    Some(SynAckPlan {
        client_mac,
        local: segment.local,
        remote: segment.remote,
        cookie,
        client_isn: syn.seq_number,
        window_len: u16::try_from(config.tcp_rx_buffer_bytes).unwrap_or(u16::MAX),
        window_scale: syn
            .window_scale
            .map(|_| window_scale_for(config.tcp_rx_buffer_bytes)),
        max_seg_size: u16::try_from(max_seg_size).unwrap_or(u16::MAX),
    })
}

/// The client's options and the segment's window if the segment in `frame` acknowledges a
/// valid SYN cookie.
fn cookie_options(
    frame: &[u8],
    segment: &HttpSegment,
    capabilities: &DeviceCapabilities,
    key: &CookieKey,
    now_s: u64,
) -> Option<(CookieOptions, u16)> {
    let tcp = parse_tcp(frame, segment, capabilities)?;
    let options = key.check(
        segment.local,
        segment.remote,
        tcp.seq_number,
        tcp.ack_number?,
        now_s,
    )?;
    Some((options, tcp.window_len))
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
    /// ACK without SYN or RST: maybe the last step of a handshake answered with a cookie.
    acknowledges: bool,
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
        acknowledges: tcp.ack() && !tcp.syn() && !tcp.rst(),
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
