//! The value kinds the bootargs keys accept, each parsed (`None`: not acceptable) and shown as
//! messages show it.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::str::FromStr;

use smoltcp::wire::{EthernetAddress, Ipv4Address, Ipv4Cidr, Ipv6Address, Ipv6Cidr};

use super::{CACHE_CONTROL_MAX_LEN, TIMEOUT_MAX_MS, TIMEOUT_MIN_MS};
use crate::boot::mac;

/// A decimal number in `minimum..=maximum` (no sign, no separators).
pub(super) fn number_in(value: &str, minimum: u64, maximum: u64) -> Option<u64> {
    if value.is_empty() || !value.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    value
        .parse::<u64>()
        .ok()
        .filter(|number| (minimum..=maximum).contains(number))
}

/// `on`/`off` and the usual synonyms; a bare flag means on.
pub(super) fn switch(value: &str) -> Option<bool> {
    match value {
        "on" | "yes" | "true" | "1" => Some(true),
        "off" | "no" | "false" | "0" => Some(false),
        _ => None,
    }
}

pub(super) fn show_switch(value: &bool) -> String {
    String::from(if *value { "on" } else { "off" })
}

pub(super) fn show_optional<T: fmt::Display>(value: &Option<T>) -> String {
    value
        .as_ref()
        .map_or_else(|| String::from("none"), |value| format!("{value}"))
}

/// An IPv4 address usable as a host or gateway address: not unspecified, broadcast, multicast,
/// or loopback (RFC 1122 §3.2.1.3).
pub(super) fn usable_ipv4(address: &Ipv4Address) -> bool {
    !(address.is_unspecified()
        || address.is_broadcast()
        || address.is_multicast()
        || address.is_loopback())
}

/// `A.B.C.D/prefix` with a usable address and a prefix of 1 to 32.
pub(super) fn ipv4_cidr(value: &str) -> Option<Ipv4Cidr> {
    let cidr = Ipv4Cidr::from_str(value).ok()?;
    (usable_ipv4(&cidr.address()) && cidr.prefix_len() >= 1).then_some(cidr)
}

/// A usable IPv4 gateway address.
pub(super) fn ipv4_gateway(value: &str) -> Option<Ipv4Address> {
    Ipv4Address::from_str(value).ok().filter(usable_ipv4)
}

/// `none`, or a gateway as [`ipv4_gateway`] accepts it (`gw=` and `fallback_gw=`).
pub(super) fn optional_ipv4_gateway(value: &str) -> Option<Option<Ipv4Address>> {
    if value == "none" {
        Some(None)
    } else {
        ipv4_gateway(value).map(Some)
    }
}

/// An IPv6 address usable as a host or gateway address: not unspecified, loopback or multicast
/// (RFC 4291 §2.5.2, §2.5.3, §2.7).
pub(super) fn usable_ipv6(address: &Ipv6Address) -> bool {
    !(address.is_unspecified() || address.is_loopback() || address.is_multicast())
}

/// `ADDRESS/prefix` with a usable address and a prefix of 1 to 128.
pub(super) fn ipv6_cidr(value: &str) -> Option<Ipv6Cidr> {
    let cidr = Ipv6Cidr::from_str(value).ok()?;
    (usable_ipv6(&cidr.address()) && cidr.prefix_len() >= 1).then_some(cidr)
}

/// Decodes `%XX` escapes (RFC 3986 §2.1) and checks the result is a field value (RFC 9110 §5.5:
/// visible ASCII, space, horizontal tab) of at most [`CACHE_CONTROL_MAX_LEN`] bytes.
pub(super) fn cache_control(value: &str) -> Option<Option<String>> {
    if value.is_empty() || value == "none" {
        return Some(None);
    }
    let mut decoded = Vec::with_capacity(value.len());
    let mut bytes = value.bytes();
    while let Some(byte) = bytes.next() {
        if byte == b'%' {
            let high = char::from(bytes.next()?).to_digit(16)?;
            let low = char::from(bytes.next()?).to_digit(16)?;
            decoded.push(u8::try_from(high * 16 + low).ok()?);
        } else {
            decoded.push(byte);
        }
    }
    let valid = decoded.len() <= CACHE_CONTROL_MAX_LEN
        && decoded
            .first()
            .is_some_and(|&byte| byte != b' ' && byte != b'\t')
        && decoded
            .iter()
            .all(|&byte| byte == b'\t' || (0x20..=0x7E).contains(&byte));
    if !valid {
        return None;
    }
    String::from_utf8(decoded).ok().map(Some)
}

/// A usable unicast MAC address (`aa:bb:cc:dd:ee:ff` or `aa-bb-…`), by [`mac::is_usable_unicast`].
pub(super) fn unicast_mac(value: &str) -> Option<[u8; 6]> {
    let address = EthernetAddress::from_str(value).ok()?;
    mac::is_usable_unicast(address.0).then_some(address.0)
}

pub(super) fn show_mac(value: &Option<[u8; 6]>) -> String {
    value.map_or_else(
        || String::from("none"),
        |octets| format!("{}", EthernetAddress(octets)),
    )
}
/// A `*_timeout_ms` value.
pub(super) fn timeout(value: &str) -> Option<u64> {
    number_in(value, TIMEOUT_MIN_MS, TIMEOUT_MAX_MS)
}
