//! IEEE 802.3 Clause 22 management frames through the UMAC's MDIO_CMD register
//! (docs/bcm2711.md §6.1).
//!
//! MDIO_CMD: 15:0 data, 20:16 register, 25:21 PHY address, 27:26 operation (0b10 read, 0b01
//! write), 28 READ_FAIL, 29 START_BUSY. Software writes the command, then sets START_BUSY; the
//! hardware clears START_BUSY when the frame is done. U-Boot waits up to 20 ms; Circle polls the
//! bit rather than the MDIO_DONE interrupt, and so does this module.

use super::registers::MDIO_CMD;
use super::{Clock, RegisterAccess};

/// MDIO_CMD bit 29: set by software to start, cleared by the hardware when done.
pub const START_BUSY: u32 = 1 << 29;
/// MDIO_CMD bit 28: the PHY did not answer a read.
pub const READ_FAIL: u32 = 1 << 28;
/// MDIO_CMD operation field value for a read, already shifted to bits 27:26.
pub const OPERATION_READ: u32 = 0b10 << 26;
/// MDIO_CMD operation field value for a write, already shifted to bits 27:26.
pub const OPERATION_WRITE: u32 = 0b01 << 26;
/// Shift of the PHY address field (bits 25:21).
pub const PHY_ADDRESS_SHIFT: u32 = 21;
/// Shift of the register number field (bits 20:16).
pub const REGISTER_SHIFT: u32 = 16;
/// Mask of the data field (bits 15:0).
pub const DATA_MASK: u32 = 0xFFFF;

/// How long one MDIO frame may take before it is reported as a timeout (U-Boot: 20 ms).
pub const DEFAULT_TIMEOUT_US: u64 = 20_000;
/// Pause between two polls of START_BUSY; a Clause 22 frame at 2.5 MHz takes about 26 µs.
const POLL_INTERVAL_US: u32 = 1;

/// Why an MDIO transaction failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MdioError {
    /// START_BUSY was still set after the timeout; `command` is the last MDIO_CMD value read.
    Timeout {
        /// The last value of MDIO_CMD.
        command: u32,
    },
    /// The hardware set READ_FAIL: no PHY answered at this address.
    ReadFailed {
        /// The PHY address read.
        phy_address: u8,
        /// The register read.
        register: u8,
    },
}

/// Builds the MDIO_CMD word (without START_BUSY) for one Clause 22 frame.
pub fn command_word(operation: u32, phy_address: u8, register: u8, data: u16) -> u32 {
    operation
        | (u32::from(phy_address & 0x1F) << PHY_ADDRESS_SHIFT)
        | (u32::from(register & 0x1F) << REGISTER_SHIFT)
        | u32::from(data)
}

/// Clause 22 access to the PHYs on the GENET MDIO bus, with a bounded wait per frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mdio {
    /// Longest wait for START_BUSY to clear, in microseconds.
    pub timeout_us: u64,
}

impl Default for Mdio {
    fn default() -> Self {
        Self {
            timeout_us: DEFAULT_TIMEOUT_US,
        }
    }
}

impl Mdio {
    /// Reads `register` of the PHY at `phy_address`.
    pub fn read<R: RegisterAccess, C: Clock>(
        &self,
        registers: &mut R,
        clock: &mut C,
        phy_address: u8,
        register: u8,
    ) -> Result<u16, MdioError> {
        let command = command_word(OPERATION_READ, phy_address, register, 0);
        let done = self.run(registers, clock, command)?;
        if done & READ_FAIL != 0 {
            return Err(MdioError::ReadFailed {
                phy_address,
                register,
            });
        }
        Ok((done & DATA_MASK) as u16)
    }

    /// Writes `value` into `register` of the PHY at `phy_address`.
    pub fn write<R: RegisterAccess, C: Clock>(
        &self,
        registers: &mut R,
        clock: &mut C,
        phy_address: u8,
        register: u8,
        value: u16,
    ) -> Result<(), MdioError> {
        let command = command_word(OPERATION_WRITE, phy_address, register, value);
        self.run(registers, clock, command).map(|_| ())
    }

    /// Writes the command, sets START_BUSY (U-Boot and Linux write the fields first, then the
    /// start bit) and polls until the hardware clears it. Returns the final MDIO_CMD value.
    fn run<R: RegisterAccess, C: Clock>(
        &self,
        registers: &mut R,
        clock: &mut C,
        command: u32,
    ) -> Result<u32, MdioError> {
        registers.write32(MDIO_CMD, command);
        registers.write32(MDIO_CMD, command | START_BUSY);
        let start_us = clock.now_us();
        loop {
            let value = registers.read32(MDIO_CMD);
            if value & START_BUSY == 0 {
                return Ok(value);
            }
            if clock.now_us().saturating_sub(start_us) >= self.timeout_us {
                return Err(MdioError::Timeout { command: value });
            }
            clock.delay_us(POLL_INTERVAL_US);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_word_places_every_field() {
        // Read of BMSR (1) at PHY 1: 0b10 << 26 | 1 << 21 | 1 << 16.
        assert_eq!(command_word(OPERATION_READ, 1, 1, 0), 0x0821_0000);
        // Write 0x1340 to BMCR (0) at PHY 1.
        assert_eq!(command_word(OPERATION_WRITE, 1, 0, 0x1340), 0x0420_1340);
        // Out-of-range fields are truncated, never spill into neighbours.
        assert_eq!(command_word(OPERATION_READ, 0xFF, 0xFF, 0), 0x0BFF_0000);
    }
}
