//! The one rule for a MAC address the server may use as its own, shared by the `mac=` bootarg,
//! the device tree's `mac-address`/`local-mac-address` and the GENET glue's firmware and register
//! addresses.

/// Whether `mac` is a usable unicast address: not a group address (IEEE 802-2014 §8.2: bit 0 of
/// the first octet set marks multicast and broadcast), and not all zeros, the placeholder a
/// firmware leaves when it has not filled the address in.
pub const fn is_usable_unicast(mac: [u8; 6]) -> bool {
    let all_zero =
        mac[0] == 0 && mac[1] == 0 && mac[2] == 0 && mac[3] == 0 && mac[4] == 0 && mac[5] == 0;
    mac[0] & 1 == 0 && !all_zero
}

#[cfg(test)]
mod tests {
    use super::is_usable_unicast;

    #[test]
    fn unicast_addresses_are_usable() {
        assert!(is_usable_unicast([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]));
        assert!(is_usable_unicast([0xdc, 0xa6, 0x32, 0x01, 0x02, 0x03]));
        // Locally administered (bit 1) is still unicast.
        assert!(is_usable_unicast([0x02, 0, 0, 0, 0, 1]));
        assert!(is_usable_unicast([0, 0, 0, 0, 0, 1]));
    }

    #[test]
    fn zero_group_and_broadcast_addresses_are_not() {
        assert!(!is_usable_unicast([0; 6]));
        assert!(!is_usable_unicast([0xff; 6]));
        assert!(!is_usable_unicast([0x01, 0x00, 0x5e, 0x00, 0x00, 0x01]));
        assert!(!is_usable_unicast([0x33, 0x33, 0, 0, 0, 1]));
    }
}
