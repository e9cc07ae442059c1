//! Settings: the bootargs [`Config`] turned into the server's [`ServerConfig`], and the defaults
//! both of them start from, written once here.

use smoltcp::wire::{EthernetAddress, Ipv4Address, Ipv4Cidr};

use super::bootargs::Config;
use crate::net::{Ipv4Setup, ServerConfig, StaticIpv4, StaticIpv6};

/// The HTTP port (RFC 9110 §4.2.1: port 80 is the `http` scheme's default).
pub const DEFAULT_HTTP_PORT: u16 = 80;

/// Most simultaneous HTTP connections by default.
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;

/// How long DHCP may take before the fallback address is used: a LAN DHCP server may take a few
/// seconds after link up; QEMU's answers at once.
pub const DEFAULT_DHCP_TIMEOUT_MS: u64 = 10_000;

/// How long a static or fallback IPv4 address is ARP-probed before use. RFC 5227 §2.1.1's own
/// probing takes 4-9 s; a second holds three probes (see `net::arp`).
pub const DEFAULT_IPV4_PROBE_MS: u64 = 1000;

/// QEMU user networking's guest address (`-netdev user`, slirp): 10.0.2.15/24. The fallback when
/// DHCP does not answer.
pub const QEMU_USER_NETWORK_ADDRESS: Ipv4Cidr = Ipv4Cidr::new(Ipv4Address::new(10, 0, 2, 15), 24);

/// QEMU user networking's gateway: 10.0.2.2.
pub const QEMU_USER_NETWORK_GATEWAY: Ipv4Address = Ipv4Address::new(10, 0, 2, 2);

/// The server's settings from the bootargs `config`, for a NIC whose own address is `mac`
/// (`mac=` overrides it). `random_seed` seeds smoltcp's initial sequence numbers and ports; the
/// kernel passes the timer's tick count. Whatever the bootargs do not set keeps
/// [`ServerConfig::new`]'s value; what the kernel alone knows (link state, clocks, buffer fit)
/// it sets afterwards.
pub fn server_config(config: &Config, mac: [u8; 6], random_seed: u64) -> ServerConfig {
    let mut server = ServerConfig::new(EthernetAddress(config.mac.unwrap_or(mac)));
    server.random_seed = random_seed;
    server.http_port = config.port;
    server.ipv4 = match config.ipv4 {
        Some(address) => Ipv4Setup::Static(StaticIpv4 {
            address,
            gateway: config.gateway,
        }),
        None => Ipv4Setup::Dhcp {
            fallback: Some(StaticIpv4 {
                address: config.fallback_ip,
                gateway: config.fallback_gateway,
            }),
            fallback_after_ms: config.dhcp_timeout_ms,
        },
    };
    server.ipv4_probe_ms = config.ipv4_probe_ms;
    server.ipv6 = config.ipv6.map(|address| StaticIpv6 {
        address,
        gateway: config.ipv6_gateway,
    });
    server.max_connections = config.max_connections;
    server.access_log = config.access_log;
    server.timeouts.request_head_ms = config.header_timeout_ms;
    server.timeouts.keep_alive_idle_ms = config.keepalive_timeout_ms;
    server.timeouts.send_stall_ms = config.send_timeout_ms;
    server.response.cache_control = config.cache_control.clone();
    server
}
