//! Settings (`boot::settings::server_config`): every bootarg reaches the server's config, and the
//! defaults of bootargs and `ServerConfig::new` are the same ones.
#![allow(clippy::unwrap_used)]

use bareserve::boot::bootargs::{self, Config};
use bareserve::boot::settings::{
    DEFAULT_DHCP_TIMEOUT_MS, DEFAULT_HTTP_PORT, DEFAULT_IPV4_PROBE_MS, DEFAULT_MAX_CONNECTIONS,
    QEMU_USER_NETWORK_ADDRESS, QEMU_USER_NETWORK_GATEWAY, server_config,
};
use bareserve::net::{Ipv4Setup, ServerConfig, StaticIpv4, StaticIpv6};
use smoltcp::wire::{EthernetAddress, Ipv4Address, Ipv4Cidr, Ipv6Address, Ipv6Cidr};

const NIC_MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];

/// The fields of a `ServerConfig` that bootargs can set, plus the MAC and seed (it holds function
/// pointers, so it has no `PartialEq` of its own).
fn comparable(server: &ServerConfig) -> String {
    format!(
        "{:?} {} {} {:?} {} {:?} {} {} {:?} {:?}",
        server.mac,
        server.random_seed,
        server.http_port,
        server.ipv4,
        server.ipv4_probe_ms,
        server.ipv6,
        server.max_connections,
        server.access_log,
        server.timeouts,
        server.response.cache_control,
    )
}

#[test]
fn default_bootargs_give_the_server_defaults() {
    let server = server_config(&Config::default(), NIC_MAC, 0);
    assert_eq!(
        comparable(&server),
        comparable(&ServerConfig::new(EthernetAddress(NIC_MAC)))
    );
    assert_eq!(server.http_port, DEFAULT_HTTP_PORT);
    assert_eq!(server.max_connections, DEFAULT_MAX_CONNECTIONS);
    assert_eq!(server.ipv4_probe_ms, DEFAULT_IPV4_PROBE_MS);
    assert_eq!(
        server.ipv4,
        Ipv4Setup::Dhcp {
            fallback: Some(StaticIpv4::QEMU_USER_NETWORK),
            fallback_after_ms: DEFAULT_DHCP_TIMEOUT_MS,
        }
    );
}

#[test]
fn one_set_of_defaults() {
    assert_eq!(DEFAULT_HTTP_PORT, 80);
    assert_eq!(DEFAULT_MAX_CONNECTIONS, 4096);
    assert_eq!(DEFAULT_DHCP_TIMEOUT_MS, 10_000);
    assert_eq!(DEFAULT_IPV4_PROBE_MS, 1000);
    assert_eq!(
        StaticIpv4::QEMU_USER_NETWORK,
        StaticIpv4 {
            address: Ipv4Cidr::new(Ipv4Address::new(10, 0, 2, 15), 24),
            gateway: Some(Ipv4Address::new(10, 0, 2, 2)),
        }
    );
    let config = Config::default();
    assert_eq!(config.port, DEFAULT_HTTP_PORT);
    assert_eq!(config.max_connections, DEFAULT_MAX_CONNECTIONS);
    assert_eq!(config.dhcp_timeout_ms, DEFAULT_DHCP_TIMEOUT_MS);
    assert_eq!(config.ipv4_probe_ms, DEFAULT_IPV4_PROBE_MS);
    assert_eq!(config.fallback_ip, QEMU_USER_NETWORK_ADDRESS);
    assert_eq!(config.fallback_gateway, Some(QEMU_USER_NETWORK_GATEWAY));
}

#[test]
fn the_seed_is_passed_through() {
    let server = server_config(&Config::default(), NIC_MAC, 0x1234_5678_9abc);
    assert_eq!(server.random_seed, 0x1234_5678_9abc);
}

#[test]
fn every_bootarg_reaches_the_server() {
    let (config, messages) = bootargs::parse(
        "port=8080 max_connections=7 access_log=off ipv4_probe_ms=0 \
         keepalive_timeout_ms=1000 header_timeout_ms=2000 send_timeout_ms=3000 \
         cache_control=\"public, max-age=60\" mac=02:00:00:00:00:01 \
         ip6=2001:db8::5/64 gw6=2001:db8::1 dhcp_timeout_ms=500 fallback_ip=192.168.1.9/24 \
         fallback_gw=none",
    );
    assert_eq!(messages, vec![]);
    let server = server_config(&config, NIC_MAC, 9);
    assert_eq!(server.mac, EthernetAddress([0x02, 0, 0, 0, 0, 1]));
    assert_eq!(server.http_port, 8080);
    assert_eq!(server.max_connections, 7);
    assert!(!server.access_log);
    assert_eq!(server.ipv4_probe_ms, 0);
    assert_eq!(server.timeouts.keep_alive_idle_ms, 1000);
    assert_eq!(server.timeouts.request_head_ms, 2000);
    assert_eq!(server.timeouts.send_stall_ms, 3000);
    assert_eq!(
        server.response.cache_control.as_deref(),
        Some("public, max-age=60")
    );
    assert_eq!(
        server.ipv6,
        Some(StaticIpv6 {
            address: Ipv6Cidr::new(Ipv6Address::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 5), 64),
            gateway: Some(Ipv6Address::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
        })
    );
    assert_eq!(
        server.ipv4,
        Ipv4Setup::Dhcp {
            fallback: Some(StaticIpv4 {
                address: Ipv4Cidr::new(Ipv4Address::new(192, 168, 1, 9), 24),
                gateway: None,
            }),
            fallback_after_ms: 500,
        }
    );
}

#[test]
fn a_static_address_replaces_dhcp() {
    let (config, messages) = bootargs::parse("ip=192.168.1.20/24 gw=192.168.1.1");
    assert_eq!(messages, vec![]);
    let server = server_config(&config, NIC_MAC, 0);
    assert_eq!(server.mac, EthernetAddress(NIC_MAC));
    assert_eq!(
        server.ipv4,
        Ipv4Setup::Static(StaticIpv4 {
            address: Ipv4Cidr::new(Ipv4Address::new(192, 168, 1, 20), 24),
            gateway: Some(Ipv4Address::new(192, 168, 1, 1)),
        })
    );
    assert_eq!(server.ipv6, None);
}
