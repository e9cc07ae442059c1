//! [`HttpServer`]: the interface and socket set, creation, the poll loop that receives frames,
//! services addressing and sockets and transmits, the link state, and the public accessors.

use alloc::vec::Vec;

use log::{info, warn};
use smoltcp::iface::{Config, Interface, PollResult, SocketHandle, SocketSet};
use smoltcp::phy::Device;
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr, Ipv4Address, Ipv6Cidr};

use super::addressing::{
    Ipv4Claim, Ipv4Source, PendingAnnouncement, add_address, link_local_address,
};
use super::buckets::SocketBuckets;
use super::checksum::{ChecksumDuties, ChecksummingDevice};
use super::config::{ServerConfig, ServerStatistics};
use super::pump::SocketSlot;
use super::syn_cookie::CookieKey;
use crate::http::PreparedHeads;
use crate::site::Site;

/// Most rounds of "receive frames, service every socket, transmit" in one [`HttpServer::poll`];
/// rounds repeat while anything moves (smoltcp PR #991: handle every pending frame per poll).
/// The bound keeps one call's work finite when a peer keeps sending.
const POLL_ROUNDS_MAX: usize = 32;

/// Most frames received in one round before the sockets are serviced.
const INGRESS_FRAMES_PER_ROUND_MAX: usize = 256;

/// The HTTP server: interface, sockets, connections and site (see the [`crate::net`] module
/// documentation).
pub struct HttpServer {
    pub(super) config: ServerConfig,
    pub(super) site: Site,
    /// The heads of whole-file responses, made once for `site` (`crate::http::prepared`).
    pub(super) prepared_heads: PreparedHeads,
    pub(super) interface: Interface,
    /// The DHCP socket and the listeners: the socket set for every frame that is not for a
    /// connection (see [`super::buckets`]).
    pub(super) sockets: SocketSet<'static>,
    pub(super) dhcp_handle: Option<SocketHandle>,
    pub(super) ipv4_source: Ipv4Source,
    /// The listening sockets (in `sockets`).
    pub(super) listeners: Vec<SocketSlot>,
    /// Closed connections' sockets kept for the next listeners (see `listeners`
    /// "Recycling"), at most [`super::listeners::RECYCLED_SOCKETS_MAX`].
    pub(super) recycled_sockets: Vec<smoltcp::socket::tcp::Socket<'static>>,
    /// An empty socket set a listener passes through while the gate turns it into a
    /// connection (see `syn_gate::open_from_cookie`).
    pub(super) scratch: SocketSet<'static>,
    /// Every socket a connection has taken, in buckets.
    pub(super) buckets: SocketBuckets,
    /// Connections the last search found reclaimable, the best last (`pump::reclaim_one`).
    pub(super) reclaim_candidates: Vec<super::pump::ReclaimCandidate>,
    pub(super) statistics: ServerStatistics,
    /// The interface's addresses, copied for the frame router whenever they change (the
    /// interface itself is borrowed while frames are received).
    pub(super) local_addresses: Vec<IpAddress>,
    /// When the last "dropping SYNs" warning was logged, in microseconds.
    pub(super) syn_drop_warned_at_us: Option<u64>,
    /// SYNs dropped since that warning.
    pub(super) syns_dropped_unreported: u64,
    /// The last replenishment of the listeners found too little memory (or heap in holes too
    /// small) for a regular listener: new clients' SYNs still get cookies, a connection the
    /// spare listener takes closes an idle or unstarted one (`accept_connection`), and a client
    /// whose ACK finds no listener makes the server close one, so that its retransmission finds
    /// room (see `syn_gate`).
    pub(super) short_of_memory: bool,
    /// The inputs and answer of the last listener decision (`listeners`).
    pub(super) last_listener_inputs: Option<(super::listeners::ListenerInputs, bool)>,
    /// The TCP checksums the card leaves to software (`checksum`).
    checksum_duties: ChecksumDuties,
    /// The key of the SYN cookies (from the boot seed).
    pub(super) cookie_key: CookieKey,
    /// When a failed cookie handshake was last reported, in microseconds.
    pub(super) cookie_failure_warned_at_us: Option<u64>,
    /// When the last warning about an allocation refused for want of memory was logged, in
    /// microseconds.
    pub(super) memory_warned_at_us: Option<u64>,
    /// Such refusals since that warning.
    pub(super) memory_refusals_unreported: u64,
    /// ARP announcements still to send for the current IPv4 address.
    pub(super) announcement: Option<PendingAnnouncement>,
    /// Whether the link is up (see [`ServerConfig::link_up_at_start`]).
    pub(super) link_up: bool,
    /// A static or fallback address on its way to the interface: probed, or waiting to be
    /// probed again after a conflict.
    pub(super) claim: Option<Ipv4Claim>,
    /// When a conflict for the address in use was last reported and defended, in microseconds.
    pub(super) defended_at_us: Option<u64>,
}

impl HttpServer {
    /// Creates the interface on `device` at time `now`, with the EUI-64 link-local IPv6 address,
    /// the static addresses of `config`, a DHCP client if configured, and the listening sockets.
    ///
    /// smoltcp answers ARP and ICMP echo (IPv4 and IPv6) in the interface itself.
    pub fn new<D: Device + ?Sized>(
        config: ServerConfig,
        site: Site,
        device: &mut D,
        now: Instant,
    ) -> HttpServer {
        let mut interface_config = Config::new(HardwareAddress::Ethernet(config.mac));
        interface_config.random_seed = config.random_seed;
        // smoltcp keeps the capabilities it is created with: TCP checksums are the wrapper's.
        let checksum_duties = ChecksumDuties::of(&*device);
        let mut device = ChecksummingDevice::new(device, config.checksum_sum, &checksum_duties);
        let mut interface = Interface::new(interface_config, &mut device, now);
        let sockets = SocketSet::new(Vec::new());

        let link_local = IpCidr::Ipv6(Ipv6Cidr::new(link_local_address(config.mac), 64));
        add_address(&mut interface, link_local);
        if let Some(ipv6) = config.ipv6 {
            add_address(&mut interface, IpCidr::Ipv6(ipv6.address));
            if let Some(gateway) = ipv6.gateway
                && interface
                    .routes_mut()
                    .add_default_ipv6_route(gateway)
                    .is_err()
            {
                warn!("net: no room for the IPv6 default route via {gateway}");
            }
        }

        let now_us = instant_us(now);
        info!("net: MAC {} link-local {}", config.mac, link_local);
        let buckets = SocketBuckets::new(
            config
                .max_connections
                .saturating_add(config.overflow_connections_max)
                .saturating_add(config.listen_backlog),
            config.random_seed,
        );

        let cookie_key = CookieKey::new(config.random_seed);
        let prepared_heads = PreparedHeads::new(&site, &config.response);
        let mut server = HttpServer {
            config,
            site,
            prepared_heads,
            reclaim_candidates: Vec::with_capacity(super::pump::RECLAIM_CANDIDATES_MAX + 1),
            interface,
            sockets,
            dhcp_handle: None,
            ipv4_source: Ipv4Source::Unconfigured { since_us: now_us },
            listeners: Vec::new(),
            recycled_sockets: Vec::with_capacity(super::listeners::RECYCLED_SOCKETS_MAX),
            // Room for its one socket now, so that no handshake has to allocate it.
            scratch: SocketSet::new(Vec::with_capacity(1)),
            buckets,
            statistics: ServerStatistics::default(),
            local_addresses: Vec::new(),
            syn_drop_warned_at_us: None,
            syns_dropped_unreported: 0,
            short_of_memory: false,
            last_listener_inputs: None,
            checksum_duties,
            cookie_key,
            cookie_failure_warned_at_us: None,
            memory_warned_at_us: None,
            memory_refusals_unreported: 0,
            announcement: None,
            link_up: false,
            claim: None,
            defended_at_us: None,
        };
        if server.config.link_up_at_start {
            server.set_link_up(true, now);
        } else {
            info!("net: waiting for the link before DHCP and ARP");
        }
        server.refresh_local_addresses();
        server.replenish_listeners(now_us);
        server
    }

    /// Tells the server whether the link is up; call it whenever the NIC may have changed (each
    /// loop round is fine: only changes act).
    ///
    /// At link up DHCP starts (or restarts, RFC 2131 §3.7: the host may be on another network
    /// now) and the DHCP timeout counts from then; a static address not yet taken is probed
    /// (RFC 5227 §2.1: also "when a link-state change signals that an Ethernet cable has been
    /// connected"), one in use is announced again (§2.3) and kept, so that connections survive a
    /// brief drop. At link down probes and announcements stop; an unfinished probe starts over at
    /// the next link up.
    pub fn set_link_up(&mut self, up: bool, now: Instant) {
        if up == self.link_up {
            return;
        }
        self.link_up = up;
        if up {
            self.start_addressing_at_link_up(instant_us(now));
        } else {
            self.stop_addressing_at_link_down();
        }
    }

    /// Does all pending network work at time `now`: every queued frame, DHCP, every connection
    /// (receive, answer, send, time limits), closing and replacing sockets. Returns how long the
    /// caller may sleep before the next call if no frame arrives (`None`: until a frame arrives).
    pub fn poll<D: Device + ?Sized>(&mut self, now: Instant, card: &mut D) -> Option<Duration> {
        let device =
            &mut ChecksummingDevice::new(card, self.config.checksum_sum, &self.checksum_duties);
        let now_us = instant_us(now);
        self.apply_ipv4_fallback(now_us);
        // Memory may have come back since the last poll.
        let mut listening = self.replenish_listeners(now_us);
        for round in 0..POLL_ROUNDS_MAX {
            self.interface.poll_maintenance(now);
            let arp_watch = self.arp_watch();
            let mut frames_handled = false;
            // Frame by frame, so that a listener a handshake took is replaced before the next
            // frame is looked at: with smoltcp's one-connection-per-listener model this is what
            // lets a burst of handshakes larger than the backlog be accepted (up to
            // `max_connections`). For the same reason the gate is re-evaluated after each frame.
            for _ in 0..INGRESS_FRAMES_PER_ROUND_MAX {
                match self.receive_frame(now, device, listening, arp_watch) {
                    None => break,
                    Some(listener_event) => {
                        frames_handled = true;
                        if listener_event {
                            self.drop_stale_listeners();
                            listening = self.replenish_listeners(now_us);
                        }
                    }
                }
            }
            // A later round is for what arrived or fell due while the last one worked; with
            // neither, the rest of the round (DHCP, addressing, listeners, the control set's
            // transmit pass: about 1,000 instructions) has nothing new to do.
            if round > 0 && !frames_handled && !self.buckets.has_work(now_us) {
                break;
            }
            self.service_dhcp(now_us);
            self.service_claim(now, now_us, device);
            self.announce_ipv4(now, now_us, device);
            let progressed = self.service_buckets(now, device);
            listening = self.replenish_listeners(now_us);
            // Transmit what DHCP queued. (Asking smoltcp's poll_at first whether anything is due
            // was measured dearer than the pass itself: +400 instructions per request.)
            while self.interface.poll_egress(now, device, &mut self.sockets)
                == PollResult::SocketStateChanged
            {}
            if !frames_handled && !progressed {
                break;
            }
        }
        self.next_poll_delay(now, now_us)
    }

    /// Copies the interface's addresses for the frame router: after every change of them (only
    /// `new` and `addressing` change them).
    pub(super) fn refresh_local_addresses(&mut self) {
        self.local_addresses.clear();
        let addresses = self.interface.ip_addrs().iter().map(IpCidr::address);
        self.local_addresses.extend(addresses);
    }

    /// The counters so far.
    pub fn statistics(&self) -> ServerStatistics {
        self.statistics
    }

    /// Where the IPv4 address comes from now.
    pub fn ipv4_source(&self) -> Ipv4Source {
        self.ipv4_source
    }

    /// The interface's IPv4 address, if it has one.
    pub fn ipv4_address(&self) -> Option<Ipv4Address> {
        self.interface.ipv4_addr()
    }

    /// The interface's addresses (IPv4 and IPv6).
    pub fn ip_addresses(&self) -> &[IpCidr] {
        self.interface.ip_addrs()
    }

    /// Sockets: the DHCP socket, listeners, connections and closing ones.
    pub fn socket_count(&self) -> usize {
        self.sockets.iter().count() + self.buckets.socket_count()
    }

    /// Connections being served or closed (listening sockets not counted).
    pub fn connection_count(&self) -> usize {
        self.buckets.socket_count()
    }

    /// The site being served.
    pub fn site(&self) -> &Site {
        &self.site
    }

    /// The delay until the earliest of smoltcp's next timer, the connections' deadlines, closing
    /// sockets' linger limits and the addressing timers.
    fn next_poll_delay(&mut self, now: Instant, now_us: u64) -> Option<Duration> {
        let ours = self
            .addressing_deadlines_us()
            .into_iter()
            .chain([self.buckets.earliest_deadline_us()])
            .flatten()
            .min()
            .map(|deadline| Duration::from_micros(deadline.saturating_sub(now_us)));
        let smoltcp = self.interface.poll_delay(now, &self.sockets);
        match (ours, smoltcp) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// Microseconds since clock zero; times before zero count as zero.
pub(super) fn instant_us(now: Instant) -> u64 {
    u64::try_from(now.total_micros()).unwrap_or(0)
}
