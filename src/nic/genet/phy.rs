//! The Broadcom BCM54213PE gigabit PHY over Clause 22 MDIO: identification, autonegotiation,
//! resolution of the negotiated link, and a link state machine polled about once a second.
//!
//! Register layout: IEEE 802.3 §22.2.4 (BMCR, BMSR, PHYSID, ADVERTISE, LPA) and §40.5
//! (1000BASE-T control/status, registers 9 and 10); resolution: §28.2.3 / Annex 28B (priority
//! resolution) and Annex 28B.3 Table 28B-3 (pause). Board facts: docs/bcm2711.md §6.6.

use super::mdio::{Mdio, MdioError};
use super::{Clock, RegisterAccess};

/// MDIO address of the PHY on the Raspberry Pi 4 (DTB `ethernet-phy@1`).
pub const DEFAULT_PHY_ADDRESS: u8 = 1;
/// PHYSID1 of the BCM54213PE (raspberrypi/linux `include/linux/brcmphy.h`, `PHY_ID_BCM54213PE`
/// 0x600D_84A2; docs/bcm2711.md §6.6).
pub const BCM54213PE_PHYSID1: u16 = 0x600D;
/// PHYSID2 of the BCM54213PE with the revision nibble cleared.
pub const BCM54213PE_PHYSID2: u16 = 0x84A0;
/// PHYSID2 bits that hold the silicon revision (ignored when matching).
pub const PHYSID2_REVISION_MASK: u16 = 0x000F;

/// Basic mode control register (§22.2.4.1).
pub const BMCR: u8 = 0;
/// Basic mode status register (§22.2.4.2).
pub const BMSR: u8 = 1;
/// PHY identifier, high word (§22.2.4.3.1).
pub const PHYSID1: u8 = 2;
/// PHY identifier, low word (§22.2.4.3.1).
pub const PHYSID2: u8 = 3;
/// Autonegotiation advertisement (§28.2.4.1.3).
pub const ADVERTISE: u8 = 4;
/// Link partner ability (§28.2.4.1.4).
pub const LPA: u8 = 5;
/// 1000BASE-T control (§40.5.1.1).
pub const CTRL1000: u8 = 9;
/// 1000BASE-T status (§40.5.1.1).
pub const STAT1000: u8 = 10;

/// BMCR bit 15: reset.
pub const BMCR_RESET: u16 = 1 << 15;
/// BMCR bit 12: autonegotiation enable.
pub const BMCR_AUTONEGOTIATION_ENABLE: u16 = 1 << 12;
/// BMCR bit 9: restart autonegotiation (self-clearing).
pub const BMCR_AUTONEGOTIATION_RESTART: u16 = 1 << 9;
/// BMSR bit 2: link status, latched low until read.
pub const BMSR_LINK_STATUS: u16 = 1 << 2;
/// BMSR bit 5: autonegotiation complete.
pub const BMSR_AUTONEGOTIATION_COMPLETE: u16 = 1 << 5;
/// ADVERTISE/LPA selector field value for IEEE 802.3 (bits 4:0 = 00001).
pub const SELECTOR_IEEE_802_3: u16 = 0x0001;
/// ADVERTISE/LPA bit 5: 10BASE-T half duplex.
pub const ABILITY_10_HALF: u16 = 1 << 5;
/// ADVERTISE/LPA bit 6: 10BASE-T full duplex.
pub const ABILITY_10_FULL: u16 = 1 << 6;
/// ADVERTISE/LPA bit 7: 100BASE-TX half duplex.
pub const ABILITY_100_HALF: u16 = 1 << 7;
/// ADVERTISE/LPA bit 8: 100BASE-TX full duplex.
pub const ABILITY_100_FULL: u16 = 1 << 8;
/// ADVERTISE/LPA bit 10: symmetric PAUSE.
pub const ABILITY_PAUSE: u16 = 1 << 10;
/// ADVERTISE/LPA bit 11: asymmetric PAUSE direction.
pub const ABILITY_ASYMMETRIC_PAUSE: u16 = 1 << 11;
/// CTRL1000 bit 8: advertise 1000BASE-T half duplex.
pub const CTRL1000_ADVERTISE_1000_HALF: u16 = 1 << 8;
/// CTRL1000 bit 9: advertise 1000BASE-T full duplex.
pub const CTRL1000_ADVERTISE_1000_FULL: u16 = 1 << 9;
/// STAT1000 bit 10: the partner can do 1000BASE-T half duplex.
pub const STAT1000_PARTNER_1000_HALF: u16 = 1 << 10;
/// STAT1000 bit 11: the partner can do 1000BASE-T full duplex.
pub const STAT1000_PARTNER_1000_FULL: u16 = 1 << 11;
/// STAT1000 bit 15: master/slave configuration fault.
pub const STAT1000_MASTER_SLAVE_FAULT: u16 = 1 << 15;

/// What this driver advertises: every 10/100 mode, symmetric and asymmetric pause.
pub const ADVERTISED_ABILITIES: u16 = SELECTOR_IEEE_802_3
    | ABILITY_10_HALF
    | ABILITY_10_FULL
    | ABILITY_100_HALF
    | ABILITY_100_FULL
    | ABILITY_PAUSE
    | ABILITY_ASYMMETRIC_PAUSE;
/// What this driver advertises for gigabit: half and full duplex.
pub const ADVERTISED_GIGABIT: u16 = CTRL1000_ADVERTISE_1000_HALF | CTRL1000_ADVERTISE_1000_FULL;

/// Line speed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Speed {
    /// 10 Mb/s.
    Megabits10,
    /// 100 Mb/s.
    Megabits100,
    /// 1000 Mb/s.
    Megabits1000,
}

impl Speed {
    /// The speed in Mb/s.
    pub fn megabits_per_second(self) -> u32 {
        match self {
            Speed::Megabits10 => 10,
            Speed::Megabits100 => 100,
            Speed::Megabits1000 => 1000,
        }
    }
}

/// Duplex mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Duplex {
    /// Half duplex (CSMA/CD).
    Half,
    /// Full duplex.
    Full,
}

/// The result of autonegotiation: what the MAC must be programmed with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkSettings {
    /// Negotiated speed.
    pub speed: Speed,
    /// Negotiated duplex.
    pub duplex: Duplex,
    /// We may send PAUSE frames (the partner honours them).
    pub transmit_pause: bool,
    /// We honour PAUSE frames from the partner.
    pub receive_pause: bool,
}

/// The state of the link as the driver sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkState {
    /// No link, or autonegotiation not complete.
    Down,
    /// Link up with the negotiated settings.
    Up(LinkSettings),
}

/// Why a PHY operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PhyError {
    /// The MDIO transaction failed.
    Mdio(MdioError),
    /// The PHY at the address is not a BCM54213PE.
    UnexpectedIdentifier {
        /// PHYSID1 as read.
        physid1: u16,
        /// PHYSID2 as read.
        physid2: u16,
    },
}

impl From<MdioError> for PhyError {
    fn from(error: MdioError) -> Self {
        PhyError::Mdio(error)
    }
}

/// Resolves the link from the four autonegotiation registers, or `None` when the two ends share
/// no mode (or a master/slave fault blocks gigabit and nothing else is common).
///
/// IEEE 802.3 Annex 28B.3 priority: 1000BASE-T full, 1000BASE-T half, 100BASE-TX full, 100BASE-T4
/// (not offered here), 100BASE-TX half, 10BASE-T full, 10BASE-T half. STAT1000's partner bits sit
/// two above CTRL1000's advertisement bits, hence `STAT1000 & (CTRL1000 << 2)`
/// (docs/bcm2711.md §6.6).
pub fn resolve_link(
    advertise: u16,
    link_partner: u16,
    ctrl1000: u16,
    stat1000: u16,
) -> Option<LinkSettings> {
    let gigabit_common = if stat1000 & STAT1000_MASTER_SLAVE_FAULT != 0 {
        0
    } else {
        stat1000 & (ctrl1000 << 2)
    };
    let common = advertise & link_partner;
    let (speed, duplex) = if gigabit_common & STAT1000_PARTNER_1000_FULL != 0 {
        (Speed::Megabits1000, Duplex::Full)
    } else if gigabit_common & STAT1000_PARTNER_1000_HALF != 0 {
        (Speed::Megabits1000, Duplex::Half)
    } else if common & ABILITY_100_FULL != 0 {
        (Speed::Megabits100, Duplex::Full)
    } else if common & ABILITY_100_HALF != 0 {
        (Speed::Megabits100, Duplex::Half)
    } else if common & ABILITY_10_FULL != 0 {
        (Speed::Megabits10, Duplex::Full)
    } else if common & ABILITY_10_HALF != 0 {
        (Speed::Megabits10, Duplex::Half)
    } else {
        return None;
    };
    let (transmit_pause, receive_pause) = match duplex {
        // PAUSE is a full-duplex mechanism (IEEE 802.3 Annex 31B).
        Duplex::Half => (false, false),
        Duplex::Full => resolve_pause(advertise, link_partner),
    };
    Some(LinkSettings {
        speed,
        duplex,
        transmit_pause,
        receive_pause,
    })
}

/// IEEE 802.3 Annex 28B.3, Table 28B-3: (transmit, receive) pause from both ends' PAUSE and
/// ASM_DIR bits.
pub fn resolve_pause(advertise: u16, link_partner: u16) -> (bool, bool) {
    let local_pause = advertise & ABILITY_PAUSE != 0;
    let local_asymmetric = advertise & ABILITY_ASYMMETRIC_PAUSE != 0;
    let partner_pause = link_partner & ABILITY_PAUSE != 0;
    let partner_asymmetric = link_partner & ABILITY_ASYMMETRIC_PAUSE != 0;
    if local_pause && partner_pause {
        (true, true)
    } else if local_pause && local_asymmetric && !partner_pause && partner_asymmetric {
        // We may receive PAUSE (the partner sends it) but must not send it.
        (false, true)
    } else if !local_pause && local_asymmetric && partner_pause && partner_asymmetric {
        (true, false)
    } else {
        (false, false)
    }
}

/// The BCM54213PE at one MDIO address, with the link state machine.
#[derive(Clone, Debug)]
pub struct Bcm54213pe {
    mdio: Mdio,
    phy_address: u8,
    state: LinkState,
}

impl Bcm54213pe {
    /// A PHY at `phy_address` reached through `mdio`; the link starts [`LinkState::Down`].
    pub fn new(mdio: Mdio, phy_address: u8) -> Self {
        Self {
            mdio,
            phy_address,
            state: LinkState::Down,
        }
    }

    /// The MDIO address of this PHY.
    pub fn phy_address(&self) -> u8 {
        self.phy_address
    }

    /// The link state after the last [`Bcm54213pe::poll`].
    pub fn state(&self) -> LinkState {
        self.state
    }

    /// Reads one PHY register.
    pub fn read<R: RegisterAccess, C: Clock>(
        &self,
        registers: &mut R,
        clock: &mut C,
        register: u8,
    ) -> Result<u16, MdioError> {
        self.mdio.read(registers, clock, self.phy_address, register)
    }

    /// Writes one PHY register.
    pub fn write<R: RegisterAccess, C: Clock>(
        &self,
        registers: &mut R,
        clock: &mut C,
        register: u8,
        value: u16,
    ) -> Result<(), MdioError> {
        self.mdio
            .write(registers, clock, self.phy_address, register, value)
    }

    /// Checks that the PHY is a BCM54213PE. A dummy BMSR read comes first: Circle `mii_probe`
    /// does one because the first MDIO frame after reset may fail on this PHY.
    pub fn identify<R: RegisterAccess, C: Clock>(
        &self,
        registers: &mut R,
        clock: &mut C,
    ) -> Result<(u16, u16), PhyError> {
        // The value is irrelevant; the read only wakes the management interface up.
        let _ = self.read(registers, clock, BMSR);
        let physid1 = self.read(registers, clock, PHYSID1)?;
        let physid2 = self.read(registers, clock, PHYSID2)?;
        if physid1 != BCM54213PE_PHYSID1 || physid2 & !PHYSID2_REVISION_MASK != BCM54213PE_PHYSID2 {
            return Err(PhyError::UnexpectedIdentifier { physid1, physid2 });
        }
        Ok((physid1, physid2))
    }

    /// Advertises every 10/100/1000 mode with pause and restarts autonegotiation (U-Boot's
    /// generic PHY code; Circle relies on the power-up defaults instead). Completion takes about
    /// 3 s on a cable; [`Bcm54213pe::poll`] notices it.
    pub fn start_autonegotiation<R: RegisterAccess, C: Clock>(
        &mut self,
        registers: &mut R,
        clock: &mut C,
    ) -> Result<(), PhyError> {
        self.write(registers, clock, ADVERTISE, ADVERTISED_ABILITIES)?;
        let ctrl1000 = self.read(registers, clock, CTRL1000)?;
        self.write(registers, clock, CTRL1000, ctrl1000 | ADVERTISED_GIGABIT)?;
        let bmcr = self.read(registers, clock, BMCR)?;
        self.write(
            registers,
            clock,
            BMCR,
            (bmcr & !BMCR_RESET) | BMCR_AUTONEGOTIATION_ENABLE | BMCR_AUTONEGOTIATION_RESTART,
        )?;
        self.state = LinkState::Down;
        Ok(())
    }

    /// One step of the link state machine; call about once a second (link interrupts do not
    /// fire on the Pi 4, docs/bcm2711.md §6.5). Returns the new state when it changed.
    ///
    /// BMSR's link bit is latched low (§22.2.4.2.13): the first read reports whether the link
    /// dropped since the last poll, the second the current state. A drop while up is reported as
    /// `Down` even if the link is back, because the renegotiated settings may differ; the next
    /// poll then brings it `Up` again with fresh settings.
    pub fn poll<R: RegisterAccess, C: Clock>(
        &mut self,
        registers: &mut R,
        clock: &mut C,
    ) -> Result<Option<LinkState>, PhyError> {
        let latched = self.read(registers, clock, BMSR)?;
        let current = self.read(registers, clock, BMSR)?;
        let link_lost_since_last_poll = latched & BMSR_LINK_STATUS == 0;
        let link_up =
            current & BMSR_LINK_STATUS != 0 && current & BMSR_AUTONEGOTIATION_COMPLETE != 0;
        let next = match self.state {
            LinkState::Up(_) if link_lost_since_last_poll || !link_up => LinkState::Down,
            LinkState::Up(settings) => LinkState::Up(settings),
            LinkState::Down if link_up => match self.read_resolution(registers, clock)? {
                Some(settings) => LinkState::Up(settings),
                None => LinkState::Down,
            },
            LinkState::Down => LinkState::Down,
        };
        if next == self.state {
            return Ok(None);
        }
        self.state = next;
        Ok(Some(next))
    }

    /// Reads ADVERTISE, LPA, CTRL1000 and STAT1000 and resolves them.
    fn read_resolution<R: RegisterAccess, C: Clock>(
        &self,
        registers: &mut R,
        clock: &mut C,
    ) -> Result<Option<LinkSettings>, PhyError> {
        let advertise = self.read(registers, clock, ADVERTISE)?;
        let link_partner = self.read(registers, clock, LPA)?;
        let ctrl1000 = self.read(registers, clock, CTRL1000)?;
        let stat1000 = self.read(registers, clock, STAT1000)?;
        Ok(resolve_link(advertise, link_partner, ctrl1000, stat1000))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL_10_100: u16 = ABILITY_10_HALF | ABILITY_10_FULL | ABILITY_100_HALF | ABILITY_100_FULL;

    #[test]
    fn resolution_follows_the_annex_28b_priority() {
        let settings = |speed, duplex, transmit_pause, receive_pause| {
            Some(LinkSettings {
                speed,
                duplex,
                transmit_pause,
                receive_pause,
            })
        };
        use Duplex::*;
        use Speed::*;
        // (advertise, link partner, ctrl1000, stat1000, expected)
        let table: [(u16, u16, u16, u16, Option<LinkSettings>); 9] = [
            (
                ADVERTISED_ABILITIES,
                ALL_10_100 | ABILITY_PAUSE,
                ADVERTISED_GIGABIT,
                STAT1000_PARTNER_1000_FULL,
                settings(Megabits1000, Full, true, true),
            ),
            (
                ADVERTISED_ABILITIES,
                ALL_10_100,
                ADVERTISED_GIGABIT,
                STAT1000_PARTNER_1000_HALF,
                settings(Megabits1000, Half, false, false),
            ),
            // Partner offers gigabit but we did not advertise it.
            (
                ADVERTISED_ABILITIES,
                ALL_10_100,
                0,
                STAT1000_PARTNER_1000_FULL,
                settings(Megabits100, Full, false, false),
            ),
            // Master/slave fault: gigabit unusable.
            (
                ADVERTISED_ABILITIES,
                ABILITY_100_HALF,
                ADVERTISED_GIGABIT,
                STAT1000_PARTNER_1000_FULL | STAT1000_MASTER_SLAVE_FAULT,
                settings(Megabits100, Half, false, false),
            ),
            (
                ADVERTISED_ABILITIES,
                ABILITY_100_HALF | ABILITY_10_FULL,
                ADVERTISED_GIGABIT,
                0,
                settings(Megabits100, Half, false, false),
            ),
            (
                ADVERTISED_ABILITIES,
                ABILITY_10_FULL | ABILITY_10_HALF | ABILITY_ASYMMETRIC_PAUSE,
                ADVERTISED_GIGABIT,
                0,
                settings(Megabits10, Full, false, true),
            ),
            (
                ADVERTISED_ABILITIES,
                ABILITY_10_HALF | ABILITY_PAUSE,
                0,
                0,
                settings(Megabits10, Half, false, false),
            ),
            (ABILITY_100_FULL, ABILITY_10_FULL, 0, 0, None),
            (ADVERTISED_ABILITIES, 0, ADVERTISED_GIGABIT, 0, None),
        ];
        for (row, (advertise, partner, ctrl1000, stat1000, expected)) in
            table.into_iter().enumerate()
        {
            assert_eq!(
                resolve_link(advertise, partner, ctrl1000, stat1000),
                expected,
                "row {row}"
            );
        }
    }

    #[test]
    fn pause_resolution_matches_table_28b_3() {
        let (p, a) = (ABILITY_PAUSE, ABILITY_ASYMMETRIC_PAUSE);
        // (local, partner, (transmit, receive))
        let table = [
            (0, 0, (false, false)),
            (p, p, (true, true)),
            (p, p | a, (true, true)),
            (p | a, p, (true, true)),
            (p | a, a, (false, true)),
            (a, p | a, (true, false)),
            (a, p, (false, false)),
            (a, a, (false, false)),
            (p, a, (false, false)),
        ];
        for (local, partner, expected) in table {
            assert_eq!(
                resolve_pause(local, partner),
                expected,
                "local {local:#x} partner {partner:#x}"
            );
        }
    }
}
