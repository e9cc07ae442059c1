//! IPv4 address conflict detection (RFC 5227): the ARP frames the server sends for an address it
//! takes, the probe schedule that comes before a static or fallback address is used, and the
//! test that tells a conflicting ARP packet from an ordinary one.
//!
//! **Probing** (RFC 5227 §2.1.1). Before a static or DHCP-fallback address is put on the
//! interface, the server broadcasts [`PROBE_COUNT`] ARP probes for it (sender protocol address
//! 0.0.0.0, so no neighbour's cache is touched) and listens. Any ARP packet whose sender is that
//! address, or another host's probe for it, is a conflict: the address is not taken, the console
//! says which MAC holds it, and the probe is repeated after [`CONFLICT_RETRY_US`] (the rate
//! limit of §2.1.1, RATE_LIMIT_INTERVAL). The RFC's timing (a random wait of up to 1 s, probes
//! 1–2 s apart, 2 s after the last) takes 4–9 s; the server compresses it into a configurable
//! window (`ipv4_probe_ms`, 1 s by default, 0 = no probe, as Linux's `ip addr add` does), which
//! §2.1.1 allows for links other than the RFC's model. A DHCP lease is not probed: the DHCP
//! server vouches for it, and the lease path is the quick one (RFC 2131 §2.2 leaves the client's
//! check optional).
//!
//! **Announcing** (§2.3) after the address is taken, and **defending** it (§2.4 (c), the choice
//! for a host whose address must stay put: at most one announcement per [`DEFEND_INTERVAL_US`])
//! when another host's ARP packet claims it later.

use smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol,
    EthernetRepr, Ipv4Address,
};

/// ARP probes sent before an address is taken (RFC 5227 §1.1, PROBE_NUM).
pub const PROBE_COUNT: u8 = 3;

/// How long after a conflict the same address is probed again (RFC 5227 §1.1,
/// RATE_LIMIT_INTERVAL: 60 s).
pub const CONFLICT_RETRY_US: u64 = 60_000_000;

/// Least time between two defending announcements, and between two conflict reports on the
/// console for an address in use (RFC 5227 §1.1, DEFEND_INTERVAL: 10 s).
pub const DEFEND_INTERVAL_US: u64 = 10_000_000;

/// The probes for one candidate address and when each is due.
///
/// With a window of `W`: a random wait of up to `W`/5 (so that hosts powered on together do not
/// probe in lockstep, RFC 5227 §2.1.1 PROBE_WAIT), then probes `W`/4 apart, then the address is
/// taken `W`/2 after the last probe (ANNOUNCE_WAIT) if nothing conflicted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressProbe {
    address: Ipv4Address,
    first_probe_us: u64,
    interval_us: u64,
    probes_sent: u8,
}

/// What an [`AddressProbe`] wants now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeStep {
    /// Nothing before this time (microseconds).
    WaitUntil(u64),
    /// Send a probe ([`arp_probe`]), then call [`AddressProbe::probe_sent`].
    SendProbe,
    /// Every probe went out and the wait after them passed without a conflict: take the address.
    Claim,
}

impl AddressProbe {
    /// A probe of `address` starting at `now_us`, over a window of `window_ms` (at least 1),
    /// with the initial wait drawn from `random`.
    pub fn new(address: Ipv4Address, window_ms: u64, random: u64, now_us: u64) -> AddressProbe {
        let window_us = window_ms.max(1).saturating_mul(1000);
        let initial_wait_us = mix(random ^ u64::from(address.to_bits())) % (window_us / 5 + 1);
        AddressProbe {
            address,
            first_probe_us: now_us.saturating_add(initial_wait_us),
            interval_us: window_us / 4,
            probes_sent: 0,
        }
    }

    /// The address being probed.
    pub fn address(&self) -> Ipv4Address {
        self.address
    }

    /// When the next step is due, in microseconds: the next probe, or the claim after the last.
    pub fn due_us(&self) -> u64 {
        // The claim comes two intervals after the last probe: step PROBE_COUNT + 1.
        let step = if self.probes_sent < PROBE_COUNT {
            u64::from(self.probes_sent)
        } else {
            u64::from(PROBE_COUNT) + 1
        };
        self.first_probe_us
            .saturating_add(self.interval_us.saturating_mul(step))
    }

    /// What to do at `now_us`.
    pub fn step(&self, now_us: u64) -> ProbeStep {
        let due_us = self.due_us();
        if now_us < due_us {
            ProbeStep::WaitUntil(due_us)
        } else if self.probes_sent < PROBE_COUNT {
            ProbeStep::SendProbe
        } else {
            ProbeStep::Claim
        }
    }

    /// Records that the due probe went out.
    pub fn probe_sent(&mut self) {
        self.probes_sent = self.probes_sent.saturating_add(1).min(PROBE_COUNT);
    }

    /// Probes sent so far.
    pub fn probes_sent(&self) -> u8 {
        self.probes_sent
    }
}

/// SplitMix64's finaliser: spreads a timer-derived seed over all bits before the modulo.
fn mix(mut value: u64) -> u64 {
    value = (value ^ (value >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    value = (value ^ (value >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    value ^ (value >> 31)
}

/// What an ARP packet said that conflicts with an address we probe or use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArpConflict {
    /// The other host's MAC (the ARP sender hardware address).
    pub sender_mac: EthernetAddress,
    /// The address in question.
    pub address: Ipv4Address,
    /// Whether the packet was another host's probe for the address (sender 0.0.0.0) rather than
    /// a packet from a host that uses it.
    pub was_probe: bool,
}

/// Whether `frame` is an ARP packet that conflicts with `address` (RFC 5227 §2.1.1 while
/// `probing`, §2.4 while the address is in use): its sender protocol address is `address`, or —
/// while probing only — it is another host's probe for `address`. Our own frames (`own_mac`)
/// never conflict. A frame that is not a well-formed Ethernet/IPv4 ARP packet is not a conflict.
pub fn arp_conflict(
    frame: &[u8],
    own_mac: EthernetAddress,
    address: Ipv4Address,
    probing: bool,
) -> Option<ArpConflict> {
    let ethernet = EthernetFrame::new_checked(frame).ok()?;
    if ethernet.ethertype() != EthernetProtocol::Arp {
        return None;
    }
    let packet = ArpPacket::new_checked(ethernet.payload()).ok()?;
    let ArpRepr::EthernetIpv4 {
        source_hardware_addr,
        source_protocol_addr,
        target_protocol_addr,
        operation,
        ..
    } = ArpRepr::parse(&packet).ok()?
    else {
        return None;
    };
    if source_hardware_addr == own_mac || ethernet.src_addr() == own_mac {
        return None;
    }
    let uses_it = source_protocol_addr == address;
    let probes_it = probing
        && operation == ArpOperation::Request
        && source_protocol_addr == Ipv4Address::UNSPECIFIED
        && target_protocol_addr == address;
    (uses_it || probes_it).then_some(ArpConflict {
        sender_mac: source_hardware_addr,
        address,
        was_probe: probes_it,
    })
}

/// An ARP probe (RFC 5227 §2.1.1): a broadcast ARP request for `address` with sender protocol
/// address 0.0.0.0 and target hardware address zero.
pub fn arp_probe(mac: EthernetAddress, address: Ipv4Address) -> [u8; 42] {
    arp_request(mac, Ipv4Address::UNSPECIFIED, address)
}

/// An ARP announcement (RFC 5227 §2.3): a broadcast ARP request whose sender and target
/// protocol addresses are both `address`, target hardware address zero.
pub fn arp_announcement(mac: EthernetAddress, address: Ipv4Address) -> [u8; 42] {
    arp_request(mac, address, address)
}

/// A broadcast ARP request from `mac` at `address` for `target` (RFC 826).
pub fn arp_request(mac: EthernetAddress, address: Ipv4Address, target: Ipv4Address) -> [u8; 42] {
    arp_frame(
        mac,
        EthernetAddress::BROADCAST,
        ArpRepr::EthernetIpv4 {
            operation: ArpOperation::Request,
            source_hardware_addr: mac,
            source_protocol_addr: address,
            target_hardware_addr: EthernetAddress([0; 6]),
            target_protocol_addr: target,
        },
    )
}

/// A unicast ARP reply from `mac` at `address` to `target_mac` at `target` (RFC 826); what a
/// host that holds `address` answers to a probe. For tests and tools.
pub fn arp_reply(
    mac: EthernetAddress,
    address: Ipv4Address,
    target_mac: EthernetAddress,
    target: Ipv4Address,
) -> [u8; 42] {
    arp_frame(
        mac,
        target_mac,
        ArpRepr::EthernetIpv4 {
            operation: ArpOperation::Reply,
            source_hardware_addr: mac,
            source_protocol_addr: address,
            target_hardware_addr: target_mac,
            target_protocol_addr: target,
        },
    )
}

/// `arp` in an Ethernet frame from `source` to `destination`.
fn arp_frame(source: EthernetAddress, destination: EthernetAddress, arp: ArpRepr) -> [u8; 42] {
    let mut frame = [0u8; 42];
    let mut ethernet = EthernetFrame::new_unchecked(&mut frame[..]);
    EthernetRepr {
        src_addr: source,
        dst_addr: destination,
        ethertype: EthernetProtocol::Arp,
    }
    .emit(&mut ethernet);
    arp.emit(&mut ArpPacket::new_unchecked(ethernet.payload_mut()));
    frame
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.
mod tests {
    use super::*;

    const OURS: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 1]);
    const THEIRS: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 2]);
    const ADDRESS: Ipv4Address = Ipv4Address::new(192, 0, 2, 10);
    const OTHER: Ipv4Address = Ipv4Address::new(192, 0, 2, 20);

    #[test]
    fn the_probe_schedule_fits_the_window() {
        for random in [0, 1, 12_345, u64::MAX] {
            let mut probe = AddressProbe::new(ADDRESS, 1000, random, 5_000_000);
            let mut probe_times = Vec::new();
            let mut now_us = 5_000_000;
            loop {
                match probe.step(now_us) {
                    ProbeStep::WaitUntil(due_us) => {
                        assert!(due_us > now_us);
                        now_us = due_us;
                    }
                    ProbeStep::SendProbe => {
                        probe_times.push(now_us);
                        probe.probe_sent();
                    }
                    ProbeStep::Claim => break,
                }
            }
            assert_eq!(probe_times.len(), usize::from(PROBE_COUNT));
            let first = probe_times[0];
            assert!((5_000_000..=5_200_000).contains(&first), "{first}");
            assert_eq!(probe_times[1] - first, 250_000);
            assert_eq!(probe_times[2] - first, 500_000);
            // Taken half a window after the last probe, at most 1.2 windows after the start.
            assert_eq!(now_us - probe_times[2], 500_000);
            assert!(now_us <= 6_200_000);
        }
    }

    #[test]
    fn different_seeds_spread_the_first_probe() {
        let firsts: std::collections::BTreeSet<u64> = (0..32)
            .map(|seed| AddressProbe::new(ADDRESS, 1000, seed, 0).due_us())
            .collect();
        assert!(firsts.len() > 16, "{firsts:?}");
    }

    #[test]
    fn probe_and_announcement_frames_are_as_rfc_5227_says() {
        let probe = arp_probe(OURS, ADDRESS);
        let ethernet = EthernetFrame::new_checked(&probe[..]).unwrap();
        assert_eq!(ethernet.dst_addr(), EthernetAddress::BROADCAST);
        let arp = ArpRepr::parse(&ArpPacket::new_checked(ethernet.payload()).unwrap()).unwrap();
        assert_eq!(
            arp,
            ArpRepr::EthernetIpv4 {
                operation: ArpOperation::Request,
                source_hardware_addr: OURS,
                source_protocol_addr: Ipv4Address::UNSPECIFIED,
                target_hardware_addr: EthernetAddress([0; 6]),
                target_protocol_addr: ADDRESS,
            }
        );
        let announcement = arp_announcement(OURS, ADDRESS);
        let ethernet = EthernetFrame::new_checked(&announcement[..]).unwrap();
        let arp = ArpRepr::parse(&ArpPacket::new_checked(ethernet.payload()).unwrap()).unwrap();
        assert!(matches!(
            arp,
            ArpRepr::EthernetIpv4 {
                source_protocol_addr: ADDRESS,
                target_protocol_addr: ADDRESS,
                ..
            }
        ));
    }

    #[test]
    fn conflicts_are_told_from_ordinary_arp() {
        let reply = arp_reply(THEIRS, ADDRESS, OURS, Ipv4Address::UNSPECIFIED);
        let expected = Some(ArpConflict {
            sender_mac: THEIRS,
            address: ADDRESS,
            was_probe: false,
        });
        // A host that answers for the address, or asks from it, uses it.
        assert_eq!(arp_conflict(&reply, OURS, ADDRESS, true), expected);
        assert_eq!(arp_conflict(&reply, OURS, ADDRESS, false), expected);
        let request = arp_request(THEIRS, ADDRESS, OTHER);
        assert_eq!(arp_conflict(&request, OURS, ADDRESS, false), expected);
        assert_eq!(
            arp_conflict(&arp_announcement(THEIRS, ADDRESS), OURS, ADDRESS, false),
            expected
        );
        // Another host probing for it conflicts only while we probe too (RFC 5227 §2.1.1); once
        // the address is ours, smoltcp answers the probe and the prober backs off.
        let their_probe = arp_probe(THEIRS, ADDRESS);
        assert_eq!(
            arp_conflict(&their_probe, OURS, ADDRESS, true),
            Some(ArpConflict {
                sender_mac: THEIRS,
                address: ADDRESS,
                was_probe: true
            })
        );
        assert_eq!(arp_conflict(&their_probe, OURS, ADDRESS, false), None);
        // Not conflicts: a host asking for our address, other addresses, our own frames,
        // non-ARP and truncated frames.
        assert_eq!(
            arp_conflict(&arp_request(THEIRS, OTHER, ADDRESS), OURS, ADDRESS, true),
            None
        );
        assert_eq!(
            arp_conflict(&arp_probe(THEIRS, OTHER), OURS, ADDRESS, true),
            None
        );
        assert_eq!(
            arp_conflict(&arp_probe(OURS, ADDRESS), OURS, ADDRESS, true),
            None
        );
        assert_eq!(
            arp_conflict(&arp_announcement(OURS, ADDRESS), OURS, ADDRESS, false),
            None
        );
        let mut not_arp = request;
        not_arp[12..14].copy_from_slice(&[0x08, 0x00]);
        assert_eq!(arp_conflict(&not_arp, OURS, ADDRESS, true), None);
        for length in 0..request.len() {
            assert_eq!(arp_conflict(&request[..length], OURS, ADDRESS, false), None);
        }
    }
}
