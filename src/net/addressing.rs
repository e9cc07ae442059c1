//! IPv4 and IPv6 addressing: the static configurations, the DHCPv4 client (RFC 2131) and its
//! fallback address, the ARP probe before a static or fallback address is used, the
//! announcements after it is taken and its defence when another host claims it (RFC 5227, see
//! [`super::arp`]), and the interface's address and route updates.

use alloc::string::String;

use log::{info, warn};
use smoltcp::iface::Interface;
use smoltcp::phy::{Device, TxToken};
use smoltcp::socket::dhcpv4;
use smoltcp::time::Instant;
use smoltcp::wire::{EthernetAddress, IpCidr, Ipv4Address, Ipv4Cidr, Ipv6Address, Ipv6Cidr};

use super::arp::{
    AddressProbe, ArpConflict, CONFLICT_RETRY_US, DEFEND_INTERVAL_US, ProbeStep, arp_announcement,
    arp_probe, arp_request,
};
#[cfg(doc)]
use super::config::ServerConfig;
use super::server::HttpServer;
use super::syn_gate::ArpWatch;

/// ARP announcements sent for each new IPv4 address, and the time between them (RFC 5227 §1.1,
/// ANNOUNCE_NUM and ANNOUNCE_INTERVAL).
const ARP_ANNOUNCEMENTS: u8 = 2;
const ARP_ANNOUNCEMENT_INTERVAL_US: u64 = 2_000_000;

/// A static IPv4 configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StaticIpv4 {
    /// Address and prefix length (`10.0.2.15/24`).
    pub address: Ipv4Cidr,
    /// Default gateway, if any.
    pub gateway: Option<Ipv4Address>,
}

impl StaticIpv4 {
    /// QEMU user networking's guest address: `10.0.2.15/24` via `10.0.2.2`.
    pub const QEMU_USER_NETWORK: StaticIpv4 = StaticIpv4 {
        address: crate::boot::settings::QEMU_USER_NETWORK_ADDRESS,
        gateway: Some(crate::boot::settings::QEMU_USER_NETWORK_GATEWAY),
    };
}

/// How the IPv4 address is obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ipv4Setup {
    /// DHCPv4 (RFC 2131). If no lease arrives within `fallback_after_ms`, `fallback` (if any) is
    /// applied; DHCP keeps running, and a later lease replaces the fallback.
    Dhcp {
        /// Address to use when no DHCP server answers.
        fallback: Option<StaticIpv4>,
        /// How long to wait for a lease before applying `fallback`.
        fallback_after_ms: u64,
    },
    /// A fixed address (bootargs `ip=` and `gw=`); no DHCP.
    Static(StaticIpv4),
}

/// A static IPv6 configuration, in addition to the link-local address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StaticIpv6 {
    /// Address and prefix length.
    pub address: Ipv6Cidr,
    /// Default gateway, if any.
    pub gateway: Option<Ipv6Address>,
}

/// Where the IPv4 address currently comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ipv4Source {
    /// No IPv4 address yet: waiting for the link, for a DHCP lease, or for the ARP probe of a
    /// static or fallback address to finish (or to be retried after a conflict).
    Unconfigured {
        /// Start of the wait for a lease, in microseconds of the server clock: when the link
        /// came up (the DHCP timeout counts from there), or when a lease was lost.
        since_us: u64,
    },
    /// A DHCP lease.
    Dhcp,
    /// The DHCP fallback address.
    Fallback,
    /// The static configuration.
    Static,
}

/// A static or fallback IPv4 address not yet on the interface (see [`super::arp`]).
#[derive(Debug, Clone, Copy)]
pub(super) enum Ipv4Claim {
    /// ARP probes going out; the address is taken when they draw no conflict.
    Probing {
        candidate: StaticIpv4,
        /// What [`HttpServer::ipv4_source`] becomes once it is taken.
        source: Ipv4Source,
        probe: AddressProbe,
    },
    /// Another host holds the address: probe it again at `retry_us`.
    HeldOff {
        candidate: StaticIpv4,
        source: Ipv4Source,
        retry_us: u64,
    },
}

impl Ipv4Claim {
    /// When this claim next needs the server, in microseconds.
    fn due_us(&self) -> u64 {
        match self {
            Ipv4Claim::Probing { probe, .. } => probe.due_us(),
            Ipv4Claim::HeldOff { retry_us, .. } => *retry_us,
        }
    }
}

/// ARP announcements (RFC 5227 §2.3) still owed for a newly configured IPv4 address.
///
/// Neighbours learn the address's MAC from them before they need it. Under QEMU's user
/// networking this is what makes the first request quick: slirp resolves the guest's address
/// with ARP when the first connection arrives, and a request it sent while the guest was still
/// booting goes unanswered until slirp asks again on the next connection.
///
/// With the first announcement goes an ARP request for the gateway: the first reply to a client
/// then need not wait for that exchange (smoltcp learns the gateway's MAC from the answer).
#[derive(Debug, Clone, Copy)]
pub(super) struct PendingAnnouncement {
    address: Ipv4Address,
    gateway: Option<Ipv4Address>,
    left: u8,
    next_us: u64,
}

impl PendingAnnouncement {
    fn new(ipv4: StaticIpv4, now_us: u64) -> PendingAnnouncement {
        PendingAnnouncement::of(
            ipv4.address.address(),
            ipv4.gateway,
            ARP_ANNOUNCEMENTS,
            now_us,
        )
    }

    /// The single announcement that defends an address in use (RFC 5227 §2.4 (c)).
    fn defence(address: Ipv4Address, now_us: u64) -> PendingAnnouncement {
        PendingAnnouncement::of(address, None, 1, now_us)
    }

    /// `left` announcements of `address`, the first at `now_us` (with a request for `gateway`).
    fn of(
        address: Ipv4Address,
        gateway: Option<Ipv4Address>,
        left: u8,
        now_us: u64,
    ) -> PendingAnnouncement {
        PendingAnnouncement {
            address,
            gateway,
            left,
            next_us: now_us,
        }
    }
}

impl HttpServer {
    /// Starts addressing at link up: DHCP starts or restarts, a static address not yet taken is
    /// probed, one in use is announced again (see [`HttpServer::set_link_up`]).
    pub(super) fn start_addressing_at_link_up(&mut self, now_us: u64) {
        match self.config.ipv4 {
            Ipv4Setup::Dhcp { .. } => {
                match self.dhcp_handle {
                    None => self.dhcp_handle = Some(self.sockets.add(dhcpv4::Socket::new())),
                    Some(handle) => self.sockets.get_mut::<dhcpv4::Socket>(handle).reset(),
                }
                match self.ipv4_source {
                    Ipv4Source::Unconfigured { .. } => {
                        self.ipv4_source = Ipv4Source::Unconfigured { since_us: now_us };
                    }
                    Ipv4Source::Fallback => self.reannounce(now_us),
                    // The lease is withdrawn by the reset (its Deconfigured event).
                    Ipv4Source::Dhcp | Ipv4Source::Static => {}
                }
            }
            Ipv4Setup::Static(ipv4) => {
                if self.ipv4_source == Ipv4Source::Static {
                    self.reannounce(now_us);
                } else if self.claim.is_none() {
                    self.claim_ipv4(ipv4, Ipv4Source::Static, now_us);
                }
            }
        }
    }

    /// Stops probes and announcements at link down; an unfinished probe starts over at the next
    /// link up.
    pub(super) fn stop_addressing_at_link_down(&mut self) {
        self.announcement = None;
        if matches!(self.claim, Some(Ipv4Claim::Probing { .. })) {
            self.claim = None;
        }
    }

    /// Announces the address in use again (after the link came back).
    fn reannounce(&mut self, now_us: u64) {
        if let Some(address) = self.interface.ipv4_addr() {
            // The gateway's MAC is known by now: it is not asked for again.
            self.announcement = Some(PendingAnnouncement::of(
                address,
                None,
                ARP_ANNOUNCEMENTS,
                now_us,
            ));
        }
    }

    /// Applies the DHCP fallback address once the wait for a lease has run out.
    pub(super) fn apply_ipv4_fallback(&mut self, now_us: u64) {
        let Ipv4Setup::Dhcp {
            fallback: Some(fallback),
            fallback_after_ms,
        } = self.config.ipv4
        else {
            return;
        };
        if let Ipv4Source::Unconfigured { since_us } = self.ipv4_source
            && self.link_up
            && self.claim.is_none()
            && now_us >= since_us.saturating_add(fallback_after_ms.saturating_mul(1000))
        {
            info!(
                "net: no DHCP lease {fallback_after_ms} ms after link up; falling back to {}",
                fallback.address
            );
            self.claim_ipv4(fallback, Ipv4Source::Fallback, now_us);
        }
    }

    /// Starts taking `candidate` as the address from `source` (static or fallback): an ARP probe
    /// first, unless [`ServerConfig::ipv4_probe_ms`] is 0.
    fn claim_ipv4(&mut self, candidate: StaticIpv4, source: Ipv4Source, now_us: u64) {
        if self.config.ipv4_probe_ms == 0 {
            self.take_ipv4(candidate, source, now_us);
            return;
        }
        let probe = AddressProbe::new(
            candidate.address.address(),
            self.config.ipv4_probe_ms,
            self.config.random_seed,
            now_us,
        );
        self.claim = Some(Ipv4Claim::Probing {
            candidate,
            source,
            probe,
        });
    }

    /// Puts `ipv4` on the interface and announces it.
    fn take_ipv4(&mut self, ipv4: StaticIpv4, source: Ipv4Source, now_us: u64) {
        apply_ipv4(&mut self.interface, ipv4);
        self.refresh_local_addresses();
        self.ipv4_source = source;
        self.claim = None;
        self.announcement = Some(PendingAnnouncement::new(ipv4, now_us));
        let kind = if source == Ipv4Source::Static {
            "static"
        } else {
            "fallback"
        };
        let probed = match self.config.ipv4_probe_ms {
            0 => String::from("not probed: ipv4_probe_ms=0"),
            window_ms => alloc::format!("no conflict in {window_ms} ms of ARP probes"),
        };
        info!(
            "net: {kind} IPv4 {} gateway {:?} ({probed})",
            ipv4.address, ipv4.gateway
        );
    }

    /// Sends the ARP probe that is due, takes the address once the probes drew no conflict, and
    /// starts probing again when a conflict's hold-off is over.
    pub(super) fn service_claim<D: Device + ?Sized>(
        &mut self,
        now: Instant,
        now_us: u64,
        device: &mut D,
    ) {
        if !self.link_up {
            return;
        }
        match self.claim {
            Some(Ipv4Claim::HeldOff {
                candidate,
                source,
                retry_us,
            }) if now_us >= retry_us => {
                info!("net: probing {} again", candidate.address.address());
                self.claim = None;
                self.claim_ipv4(candidate, source, now_us);
            }
            None | Some(Ipv4Claim::HeldOff { .. }) => {}
            Some(Ipv4Claim::Probing {
                candidate,
                source,
                mut probe,
            }) => match probe.step(now_us) {
                ProbeStep::WaitUntil(_) => {}
                ProbeStep::Claim => self.take_ipv4(candidate, source, now_us),
                ProbeStep::SendProbe => {
                    // No transmit buffer free: try again at the next poll.
                    if let Some(token) = device.transmit(now) {
                        send_frame(token, &arp_probe(self.config.mac, probe.address()));
                        probe.probe_sent();
                        self.claim = Some(Ipv4Claim::Probing {
                            candidate,
                            source,
                            probe,
                        });
                    }
                }
            },
        }
    }

    /// The address whose ARP conflicts the [`SynGate`](super::syn_gate::SynGate) looks for: the
    /// one being probed, else the one in use.
    pub(super) fn arp_watch(&self) -> Option<ArpWatch> {
        match self.claim {
            Some(Ipv4Claim::Probing { probe, .. }) => Some(ArpWatch {
                own_mac: self.config.mac,
                address: probe.address(),
                probing: true,
            }),
            _ => self.interface.ipv4_addr().map(|address| ArpWatch {
                own_mac: self.config.mac,
                address,
                probing: false,
            }),
        }
    }

    /// Acts on an ARP packet that claims our address: while probing, the address is not taken
    /// and is probed again after [`CONFLICT_RETRY_US`] (RFC 5227 §2.1.1); while in use, it is
    /// defended with one announcement at most every [`DEFEND_INTERVAL_US`] (§2.4 (c)).
    pub(super) fn note_arp_conflict(&mut self, conflict: ArpConflict, now_us: u64) {
        self.statistics.ipv4_address_conflicts += 1;
        let ArpConflict {
            sender_mac,
            address,
            was_probe,
        } = conflict;
        if let Some(Ipv4Claim::Probing {
            candidate, source, ..
        }) = self.claim
        {
            let how = if was_probe {
                "is probing for it too"
            } else {
                "uses it"
            };
            warn!(
                "net: IPv4 address conflict: {address} not taken, the host with MAC {sender_mac} {how} (RFC 5227); probing again in {} s",
                CONFLICT_RETRY_US / 1_000_000
            );
            self.claim = Some(Ipv4Claim::HeldOff {
                candidate,
                source,
                retry_us: now_us.saturating_add(CONFLICT_RETRY_US),
            });
            return;
        }
        let recent = self
            .defended_at_us
            .is_some_and(|at_us| now_us.saturating_sub(at_us) < DEFEND_INTERVAL_US);
        if !recent {
            warn!(
                "net: IPv4 address conflict: the host with MAC {sender_mac} also uses our address {address}; defending it with an ARP announcement (RFC 5227 §2.4)"
            );
            self.defended_at_us = Some(now_us);
            self.announcement = Some(PendingAnnouncement::defence(address, now_us));
        }
    }

    /// Sends the ARP announcement that is due, if any.
    pub(super) fn announce_ipv4<D: Device + ?Sized>(
        &mut self,
        now: Instant,
        now_us: u64,
        device: &mut D,
    ) {
        let Some(pending) = self.announcement.as_mut().filter(|_| self.link_up) else {
            return;
        };
        if now_us < pending.next_us {
            return;
        }
        // No transmit buffer free: try again at the next poll.
        let Some(token) = device.transmit(now) else {
            return;
        };
        send_frame(token, &arp_announcement(self.config.mac, pending.address));
        let first = pending.left == ARP_ANNOUNCEMENTS;
        if let Some(gateway) = pending.gateway.filter(|_| first)
            && let Some(token) = device.transmit(now)
        {
            send_frame(
                token,
                &arp_request(self.config.mac, pending.address, gateway),
            );
        }
        pending.left = pending.left.saturating_sub(1);
        pending.next_us = now_us.saturating_add(ARP_ANNOUNCEMENT_INTERVAL_US);
        if pending.left == 0 {
            self.announcement = None;
        }
    }

    /// Applies DHCP lease changes to the interface, and logs them.
    pub(super) fn service_dhcp(&mut self, now_us: u64) {
        let Some(handle) = self.dhcp_handle else {
            return;
        };
        let event = self.sockets.get_mut::<dhcpv4::Socket>(handle).poll();
        let mut addresses_changed = false;
        match event {
            None => {}
            Some(dhcpv4::Event::Configured(lease)) => {
                let ipv4 = StaticIpv4 {
                    address: lease.address,
                    gateway: lease.router,
                };
                apply_ipv4(&mut self.interface, ipv4);
                addresses_changed = true;
                self.ipv4_source = Ipv4Source::Dhcp;
                // A lease replaces a fallback address being probed or held off.
                self.claim = None;
                self.announcement = Some(PendingAnnouncement::new(ipv4, now_us));
                let mut dns = String::new();
                for (index, server) in lease.dns_servers.iter().enumerate() {
                    if index > 0 {
                        dns.push_str(", ");
                    }
                    let _ = core::fmt::Write::write_fmt(&mut dns, format_args!("{server}"));
                }
                info!(
                    "net: DHCP lease {} gateway {:?} DNS [{}] from {}",
                    lease.address, lease.router, dns, lease.server.address
                );
            }
            // smoltcp also reports Deconfigured when the client starts; only a lease that was in
            // use is withdrawn (a fallback or static address stays).
            Some(dhcpv4::Event::Deconfigured) if self.ipv4_source == Ipv4Source::Dhcp => {
                withdraw_ipv4(&mut self.interface);
                addresses_changed = true;
                self.ipv4_source = Ipv4Source::Unconfigured { since_us: now_us };
                self.announcement = None;
                warn!("net: DHCP lease lost; IPv4 address withdrawn");
            }
            Some(dhcpv4::Event::Deconfigured) => {}
        }
        if addresses_changed {
            self.refresh_local_addresses();
        }
    }

    /// When addressing next needs a poll, in microseconds: the DHCP fallback, the next ARP
    /// announcement, the next probe or the end of a conflict's hold-off.
    pub(super) fn addressing_deadlines_us(&self) -> [Option<u64>; 3] {
        let fallback_us = match (self.ipv4_source, self.config.ipv4) {
            (
                Ipv4Source::Unconfigured { since_us },
                Ipv4Setup::Dhcp {
                    fallback: Some(_),
                    fallback_after_ms,
                },
            ) if self.link_up && self.claim.is_none() => {
                Some(since_us.saturating_add(fallback_after_ms.saturating_mul(1000)))
            }
            _ => None,
        };
        if !self.link_up {
            return [fallback_us, None, None];
        }
        [
            fallback_us,
            self.announcement.map(|pending| pending.next_us),
            self.claim.map(|claim| claim.due_us()),
        ]
    }
}

/// The link-local IPv6 address of a MAC: `fe80::` plus the modified EUI-64 interface identifier
/// (RFC 4291 §2.5.1 and Appendix A: insert `ff:fe` in the middle, invert the U/L bit).
pub fn link_local_address(mac: EthernetAddress) -> Ipv6Address {
    let [m0, m1, m2, m3, m4, m5] = mac.0;
    Ipv6Address::new(
        0xfe80,
        0,
        0,
        0,
        u16::from_be_bytes([m0 ^ 0x02, m1]),
        u16::from_be_bytes([m2, 0xff]),
        u16::from_be_bytes([0xfe, m3]),
        u16::from_be_bytes([m4, m5]),
    )
}

/// Adds an address to the interface, or warns that smoltcp has no room for it.
pub(super) fn add_address(interface: &mut Interface, address: IpCidr) {
    interface.update_ip_addrs(|addresses| {
        if addresses.push(address).is_err() {
            warn!("net: no room for address {address} (smoltcp iface-max-addr-count)");
        }
    });
}

/// Sends `frame` as it is.
fn send_frame<T: TxToken>(token: T, frame: &[u8]) {
    token.consume(frame.len(), |buffer| {
        if let Some(bytes) = buffer.get_mut(..frame.len()) {
            bytes.copy_from_slice(frame);
        }
    });
}

/// Replaces the IPv4 address and default route.
fn apply_ipv4(interface: &mut Interface, ipv4: StaticIpv4) {
    interface.update_ip_addrs(|addresses| {
        addresses.retain(|address| !matches!(address, IpCidr::Ipv4(_)));
        if addresses.push(IpCidr::Ipv4(ipv4.address)).is_err() {
            warn!(
                "net: no room for address {} (smoltcp iface-max-addr-count)",
                ipv4.address
            );
        }
    });
    interface.routes_mut().remove_default_ipv4_route();
    if let Some(gateway) = ipv4.gateway
        && interface
            .routes_mut()
            .add_default_ipv4_route(gateway)
            .is_err()
    {
        warn!("net: no room for the IPv4 default route via {gateway}");
    }
}

/// Removes the IPv4 address and default route (lease lost). smoltcp resets sockets that used it.
fn withdraw_ipv4(interface: &mut Interface) {
    interface.update_ip_addrs(|addresses| {
        addresses.retain(|address| !matches!(address, IpCidr::Ipv4(_)));
    });
    interface.routes_mut().remove_default_ipv4_route();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_local_address_is_modified_eui64() {
        // RFC 4291 Appendix A example shape: 52:54:00:12:34:56 → fe80::5054:ff:fe12:3456.
        let mac = EthernetAddress([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
        assert_eq!(
            link_local_address(mac),
            Ipv6Address::new(0xfe80, 0, 0, 0, 0x5054, 0x00ff, 0xfe12, 0x3456)
        );
    }
}
