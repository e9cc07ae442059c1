//! Bootargs parsing: every key's valid and invalid values, foreign and unknown keys, quoting.
#![allow(clippy::unwrap_used)]

use bareserve::boot::bootargs::{Config, ConfigMessage, PanicAction, Severity, TestHook, parse};
use log::LevelFilter;
use proptest::prelude::*;
use smoltcp::wire::{Ipv4Address, Ipv4Cidr, Ipv6Address, Ipv6Cidr};

fn ipv4_cidr(a: u8, b: u8, c: u8, d: u8, prefix: u8) -> Ipv4Cidr {
    Ipv4Cidr::new(Ipv4Address::new(a, b, c, d), prefix)
}

/// Parses `bootargs`, which must produce no message, and returns the config.
fn quiet_parse(bootargs: &str) -> Config {
    let (config, messages) = parse(bootargs);
    assert_eq!(messages, vec![], "{bootargs}");
    config
}

#[test]
fn empty_and_blank_bootargs_give_the_defaults() {
    let expected = Config {
        log_level: LevelFilter::Info,
        panic: PanicAction::Reset,
        ipv4: None,
        gateway: None,
        dhcp_timeout_ms: 10_000,
        fallback_ip: ipv4_cidr(10, 0, 2, 15, 24),
        fallback_gateway: Some(Ipv4Address::new(10, 0, 2, 2)),
        ipv4_probe_ms: 1000,
        ipv6: None,
        ipv6_gateway: None,
        port: 80,
        max_connections: 4096,
        access_log: true,
        keepalive_timeout_ms: 75_000,
        header_timeout_ms: 10_000,
        send_timeout_ms: 30_000,
        cache_control: None,
        mac: None,
        test_hook: None,
        heap_report: false,
    };
    assert_eq!(Config::default(), expected);
    for bootargs in ["", " ", "\t\n  ", "\"\""] {
        assert_eq!(quiet_parse(bootargs), expected, "{bootargs:?}");
    }
}

#[test]
fn valid_values_set_their_field() {
    let default = Config::default;
    let cases: Vec<(&str, Config)> = vec![
        (
            "log=error",
            Config {
                log_level: LevelFilter::Error,
                ..default()
            },
        ),
        (
            "log=warn",
            Config {
                log_level: LevelFilter::Warn,
                ..default()
            },
        ),
        (
            "log=info",
            Config {
                log_level: LevelFilter::Info,
                ..default()
            },
        ),
        (
            "log=debug",
            Config {
                log_level: LevelFilter::Debug,
                ..default()
            },
        ),
        (
            "log=trace",
            Config {
                log_level: LevelFilter::Trace,
                ..default()
            },
        ),
        (
            "panic=halt",
            Config {
                panic: PanicAction::Halt,
                ..default()
            },
        ),
        (
            "panic=reset",
            Config {
                panic: PanicAction::Reset,
                ..default()
            },
        ),
        ("ip=dhcp", default()),
        (
            "ip=192.0.2.50/24",
            Config {
                ipv4: Some(ipv4_cidr(192, 0, 2, 50, 24)),
                ..default()
            },
        ),
        (
            "ip=10.0.2.15/32",
            Config {
                ipv4: Some(ipv4_cidr(10, 0, 2, 15, 32)),
                ..default()
            },
        ),
        ("ip=192.0.2.50/24 ip=dhcp", default()),
        (
            "gw=192.0.2.1",
            Config {
                gateway: Some(Ipv4Address::new(192, 0, 2, 1)),
                ..default()
            },
        ),
        ("gw=192.0.2.1 gw=none", default()),
        (
            "dhcp_timeout_ms=100",
            Config {
                dhcp_timeout_ms: 100,
                ..default()
            },
        ),
        (
            "dhcp_timeout_ms=3600000",
            Config {
                dhcp_timeout_ms: 3_600_000,
                ..default()
            },
        ),
        (
            "ipv4_probe_ms=0",
            Config {
                ipv4_probe_ms: 0,
                ..default()
            },
        ),
        (
            "ipv4_probe_ms=10000",
            Config {
                ipv4_probe_ms: 10_000,
                ..default()
            },
        ),
        (
            "fallback_ip=198.51.100.7/25",
            Config {
                fallback_ip: ipv4_cidr(198, 51, 100, 7, 25),
                ..default()
            },
        ),
        (
            "fallback_gw=none",
            Config {
                fallback_gateway: None,
                ..default()
            },
        ),
        (
            "fallback_gw=198.51.100.1",
            Config {
                fallback_gateway: Some(Ipv4Address::new(198, 51, 100, 1)),
                ..default()
            },
        ),
        (
            "ip6=2001:db8::5/64",
            Config {
                ipv6: Some(Ipv6Cidr::new(
                    Ipv6Address::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 5),
                    64,
                )),
                ..default()
            },
        ),
        ("ip6=fd00::1/48 ip6=none", default()),
        (
            "gw6=fe80::1",
            Config {
                ipv6_gateway: Some(Ipv6Address::new(0xfe80, 0, 0, 0, 0, 0, 0, 1)),
                ..default()
            },
        ),
        (
            "port=1",
            Config {
                port: 1,
                ..default()
            },
        ),
        (
            "port=8080",
            Config {
                port: 8080,
                ..default()
            },
        ),
        (
            "port=65535",
            Config {
                port: 65535,
                ..default()
            },
        ),
        (
            "max_connections=1",
            Config {
                max_connections: 1,
                ..default()
            },
        ),
        (
            "max_connections=16384",
            Config {
                max_connections: 16384,
                ..default()
            },
        ),
        (
            "access_log=off",
            Config {
                access_log: false,
                ..default()
            },
        ),
        (
            "access_log=no",
            Config {
                access_log: false,
                ..default()
            },
        ),
        (
            "access_log=0",
            Config {
                access_log: false,
                ..default()
            },
        ),
        (
            "access_log=false",
            Config {
                access_log: false,
                ..default()
            },
        ),
        ("access_log=off access_log", default()),
        ("access_log=off access_log=on", default()),
        (
            "keepalive_timeout_ms=5000",
            Config {
                keepalive_timeout_ms: 5000,
                ..default()
            },
        ),
        (
            "header_timeout_ms=2500",
            Config {
                header_timeout_ms: 2500,
                ..default()
            },
        ),
        (
            "send_timeout_ms=60000",
            Config {
                send_timeout_ms: 60_000,
                ..default()
            },
        ),
        (
            "cache_control=no-cache",
            Config {
                cache_control: Some("no-cache".into()),
                ..default()
            },
        ),
        (
            "cache_control=public,%20max-age=60",
            Config {
                cache_control: Some("public, max-age=60".into()),
                ..default()
            },
        ),
        (
            "cache_control=\"public, max-age=3600\"",
            Config {
                cache_control: Some("public, max-age=3600".into()),
                ..default()
            },
        ),
        (
            "\"cache_control=max-age=1, immutable\"",
            Config {
                cache_control: Some("max-age=1, immutable".into()),
                ..default()
            },
        ),
        ("cache_control=no-store cache_control=none", default()),
        ("cache_control=no-store cache_control=", default()),
        (
            "mac=dc:a6:32:01:02:03",
            Config {
                mac: Some([0xDC, 0xA6, 0x32, 0x01, 0x02, 0x03]),
                ..default()
            },
        ),
        (
            "mac=52-54-00-12-34-56",
            Config {
                mac: Some([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]),
                ..default()
            },
        ),
        (
            "test=fault",
            Config {
                test_hook: Some(TestHook::Fault),
                ..default()
            },
        ),
        (
            "test=panic",
            Config {
                test_hook: Some(TestHook::Panic),
                ..default()
            },
        ),
        (
            "test=timer",
            Config {
                test_hook: Some(TestHook::Timer),
                ..default()
            },
        ),
        (
            "heap_report",
            Config {
                heap_report: true,
                ..default()
            },
        ),
        (
            "heap_report=on",
            Config {
                heap_report: true,
                ..default()
            },
        ),
        ("heap_report=yes heap_report=off", default()),
        // Last one wins, as on Linux.
        (
            "port=81 port=82",
            Config {
                port: 82,
                ..default()
            },
        ),
        // Any whitespace separates.
        (
            "port=81\tlog=debug\nmax_connections=7",
            Config {
                port: 81,
                log_level: LevelFilter::Debug,
                max_connections: 7,
                ..default()
            },
        ),
    ];
    for (bootargs, expected) in cases {
        assert_eq!(quiet_parse(bootargs), expected, "{bootargs}");
    }
}

#[test]
fn bad_values_keep_the_previous_value_with_an_exact_message() {
    let cases: [(&str, &str); 46] = [
        (
            "log=verbose",
            "log=verbose is not one of error, warn, info, debug, trace; keeping info",
        ),
        (
            "log=INFO",
            "log=INFO is not one of error, warn, info, debug, trace; keeping info",
        ),
        (
            "log",
            "log needs a value (one of error, warn, info, debug, trace); keeping info",
        ),
        ("panic=10", "panic=10 is not reset or halt; keeping reset"),
        (
            "ip=10.0.2.15",
            "ip=10.0.2.15 is not dhcp or an IPv4 address with prefix length (A.B.C.D/N); \
             keeping dhcp",
        ),
        (
            "ip=300.1.1.1/24",
            "ip=300.1.1.1/24 is not dhcp or an IPv4 address with prefix length (A.B.C.D/N); \
             keeping dhcp",
        ),
        (
            "ip=10.0.2.15/33",
            "ip=10.0.2.15/33 is not dhcp or an IPv4 address with prefix length (A.B.C.D/N); \
             keeping dhcp",
        ),
        (
            "ip=10.0.2.15/0",
            "ip=10.0.2.15/0 is not dhcp or an IPv4 address with prefix length (A.B.C.D/N); \
             keeping dhcp",
        ),
        (
            "ip=0.0.0.0/8",
            "ip=0.0.0.0/8 is not dhcp or an IPv4 address with prefix length (A.B.C.D/N); \
             keeping dhcp",
        ),
        (
            "ip=224.0.0.1/4",
            "ip=224.0.0.1/4 is not dhcp or an IPv4 address with prefix length (A.B.C.D/N); \
             keeping dhcp",
        ),
        (
            "ip=127.0.0.1/8",
            "ip=127.0.0.1/8 is not dhcp or an IPv4 address with prefix length (A.B.C.D/N); \
             keeping dhcp",
        ),
        (
            "ip=192.0.2.50/24 ip=bogus",
            "ip=bogus is not dhcp or an IPv4 address with prefix length (A.B.C.D/N); \
             keeping 192.0.2.50/24",
        ),
        (
            // Linux's own ip= syntax is not ours.
            "ip=192.0.2.50::192.0.2.1:255.255.255.0::eth0:off",
            "ip=192.0.2.50::192.0.2.1:255.255.255.0::eth0:off is not dhcp or an IPv4 address \
             with prefix length (A.B.C.D/N); keeping dhcp",
        ),
        (
            "gw=255.255.255.255",
            "gw=255.255.255.255 is not a usable IPv4 address (A.B.C.D) or none; keeping none",
        ),
        (
            "gw=192.0.2.1/24",
            "gw=192.0.2.1/24 is not a usable IPv4 address (A.B.C.D) or none; keeping none",
        ),
        (
            "dhcp_timeout_ms=99",
            "dhcp_timeout_ms=99 is not a time in milliseconds (100-3600000); keeping 10000",
        ),
        (
            "dhcp_timeout_ms=3600001",
            "dhcp_timeout_ms=3600001 is not a time in milliseconds (100-3600000); keeping 10000",
        ),
        (
            "dhcp_timeout_ms=5s",
            "dhcp_timeout_ms=5s is not a time in milliseconds (100-3600000); keeping 10000",
        ),
        (
            "dhcp_timeout_ms=",
            "dhcp_timeout_ms= is not a time in milliseconds (100-3600000); keeping 10000",
        ),
        (
            "ipv4_probe_ms=10001",
            "ipv4_probe_ms=10001 is not a time in milliseconds (0-10000; 0 = no ARP probe); keeping 1000",
        ),
        (
            "ipv4_probe_ms=-1",
            "ipv4_probe_ms=-1 is not a time in milliseconds (0-10000; 0 = no ARP probe); keeping 1000",
        ),
        (
            "fallback_ip=dhcp",
            "fallback_ip=dhcp is not an IPv4 address with prefix length (A.B.C.D/N); \
             keeping 10.0.2.15/24",
        ),
        (
            "fallback_gw=10.0.2",
            "fallback_gw=10.0.2 is not a usable IPv4 address (A.B.C.D) or none; keeping 10.0.2.2",
        ),
        (
            "ip6=2001:db8::5",
            "ip6=2001:db8::5 is not an IPv6 address with prefix length (ADDRESS/N) or none; \
             keeping none",
        ),
        (
            "ip6=ff02::1/64",
            "ip6=ff02::1/64 is not an IPv6 address with prefix length (ADDRESS/N) or none; \
             keeping none",
        ),
        (
            "gw6=::",
            "gw6=:: is not a usable IPv6 address or none; keeping none",
        ),
        (
            "port=0",
            "port=0 is not a port number (1-65535); keeping 80",
        ),
        (
            "port=99999",
            "port=99999 is not a port number (1-65535); keeping 80",
        ),
        (
            "port=-1",
            "port=-1 is not a port number (1-65535); keeping 80",
        ),
        (
            "port=+80",
            "port=+80 is not a port number (1-65535); keeping 80",
        ),
        (
            "port=0x50",
            "port=0x50 is not a port number (1-65535); keeping 80",
        ),
        (
            "port=99999999999999999999999",
            "port=99999999999999999999999 is not a port number (1-65535); keeping 80",
        ),
        (
            "port=8080 port=http",
            "port=http is not a port number (1-65535); keeping 8080",
        ),
        (
            "port",
            "port needs a value (a port number (1-65535)); keeping 80",
        ),
        (
            "max_connections=0",
            "max_connections=0 is not a connection count (1-16384); keeping 4096",
        ),
        (
            "max_connections=16385",
            "max_connections=16385 is not a connection count (1-16384); keeping 4096",
        ),
        (
            "access_log=maybe",
            "access_log=maybe is not on or off; keeping on",
        ),
        (
            "keepalive_timeout_ms=0",
            "keepalive_timeout_ms=0 is not a time in milliseconds (100-3600000); keeping 75000",
        ),
        (
            "header_timeout_ms=1e4",
            "header_timeout_ms=1e4 is not a time in milliseconds (100-3600000); keeping 10000",
        ),
        (
            "send_timeout_ms=30_000",
            "send_timeout_ms=30_000 is not a time in milliseconds (100-3600000); keeping 30000",
        ),
        (
            // An encoded CR LF would split the response header (RFC 9112 §2.2).
            "cache_control=no-cache%0D%0ASet-Cookie:%20a=b",
            "cache_control=no-cache%0D%0ASet-Cookie:%20a=b is not a Cache-Control value \
             (visible ASCII, spaces as %20 or in quotes, at most 256 bytes); keeping none",
        ),
        (
            "cache_control=max-age=60 cache_control=%zz",
            "cache_control=%zz is not a Cache-Control value (visible ASCII, spaces as %20 or in \
             quotes, at most 256 bytes); keeping \"max-age=60\"",
        ),
        (
            "cache_control=%",
            "cache_control=% is not a Cache-Control value (visible ASCII, spaces as %20 or in \
             quotes, at most 256 bytes); keeping none",
        ),
        (
            "mac=ff:ff:ff:ff:ff:ff",
            "mac=ff:ff:ff:ff:ff:ff is not a unicast MAC address (aa:bb:cc:dd:ee:ff); keeping none",
        ),
        (
            "mac=00:00:00:00:00:00",
            "mac=00:00:00:00:00:00 is not a unicast MAC address (aa:bb:cc:dd:ee:ff); keeping none",
        ),
        (
            "test=reboot",
            "test=reboot is not one of fault, panic, timer; keeping none",
        ),
    ];
    for (bootargs, text) in cases {
        let (config, messages) = parse(bootargs);
        assert_eq!(messages.len(), 1, "{bootargs}");
        let message = &messages[0];
        assert_eq!(message.text, format!("bootargs: {text}"), "{bootargs}");
        assert_eq!(message.severity, Severity::Warning, "{bootargs}");
        assert_eq!(message.level(), log::Level::Warn);
        assert_eq!(format!("{message}"), message.text);
        let key = bootargs
            .split_whitespace()
            .last()
            .unwrap()
            .split('=')
            .next()
            .unwrap();
        assert_eq!(message.key, key, "{bootargs}");
        // The previous value is kept: the same as parsing only the earlier, valid tokens.
        let earlier: Vec<&str> = bootargs.split_whitespace().collect();
        let earlier = earlier[..earlier.len() - 1].join(" ");
        assert_eq!(config, quiet_parse(&earlier), "{bootargs}");
    }
}

#[test]
fn long_values_are_cut_in_messages() {
    let value = "9".repeat(100);
    let (config, messages) = parse(&format!("port={value}"));
    assert_eq!(config.port, 80);
    assert_eq!(
        messages[0].text,
        format!(
            "bootargs: port={}… is not a port number (1-65535); keeping 80",
            "9".repeat(64)
        )
    );
    let long_cache_control = format!("cache_control={}", "a".repeat(257));
    assert_eq!(parse(&long_cache_control).0.cache_control, None);
    let longest = format!("cache_control={}", "a".repeat(256));
    assert_eq!(quiet_parse(&longest).cache_control, Some("a".repeat(256)));
}

#[test]
fn linux_and_firmware_keys_are_debug_messages() {
    let cases: [(&str, &str); 9] = [
        ("console=ttyAMA0,115200", "console=ttyAMA0,115200"),
        ("earlycon", "earlycon"),
        ("root=/dev/mmcblk0p2", "root=/dev/mmcblk0p2"),
        ("rootwait", "rootwait"),
        ("quiet", "quiet"),
        ("coherent_pool=1M", "coherent_pool=1M"),
        ("8250.nr_uarts=1", "8250.nr_uarts=1"),
        ("bcm2708_fb.fbwidth=1920", "bcm2708_fb.fbwidth=1920"),
        (
            "smsc95xx.macaddr=DC:A6:32:01:02:03",
            "smsc95xx.macaddr=DC:A6:32:01:02:03",
        ),
    ];
    for (bootargs, echoed) in cases {
        let (config, messages) = parse(bootargs);
        assert_eq!(config, Config::default(), "{bootargs}");
        assert_eq!(
            messages,
            vec![ConfigMessage {
                severity: Severity::Debug,
                key: bootargs.split('=').next().unwrap().into(),
                text: format!("bootargs: {echoed} is for Linux or the firmware; ignored"),
            }]
        );
        assert_eq!(messages[0].level(), log::Level::Debug);
    }
}

#[test]
fn unknown_keys_are_warnings() {
    let cases: [(&str, &str, &str); 4] = [
        (
            "prot=8080",
            "prot",
            "bootargs: unknown key in prot=8080; ignored",
        ),
        (
            "verbose",
            "verbose",
            "bootargs: unknown key in verbose; ignored",
        ),
        ("=5", "", "bootargs: unknown key in =5; ignored"),
        (
            "Port=80",
            "Port",
            "bootargs: unknown key in Port=80; ignored",
        ),
    ];
    for (bootargs, key, text) in cases {
        let (config, messages) = parse(bootargs);
        assert_eq!(config, Config::default());
        assert_eq!(
            messages,
            vec![ConfigMessage {
                severity: Severity::Warning,
                key: key.into(),
                text: text.into()
            }]
        );
    }
}

#[test]
fn a_pi_firmware_command_line() {
    // The bootargs of tests/fixtures/rpi4b-firmware-patched.dtb: the firmware's prefix, then
    // cmdline.txt.
    let bootargs = "coherent_pool=1M 8250.nr_uarts=1 snd_bcm2835.enable_headphones=0 \
                    snd_bcm2835.enable_hdmi=1 smsc95xx.macaddr=DC:A6:32:01:02:03 \
                    vc_mem.mem_base=0x3ec00000 vc_mem.mem_size=0x40000000  \
                    console=ttyAMA0,115200 log=debug ip=192.0.2.50/24 gw=192.0.2.1";
    let (config, messages) = parse(bootargs);
    assert_eq!(
        config,
        Config {
            log_level: LevelFilter::Debug,
            ipv4: Some(ipv4_cidr(192, 0, 2, 50, 24)),
            gateway: Some(Ipv4Address::new(192, 0, 2, 1)),
            ..Config::default()
        }
    );
    let keys: Vec<&str> = messages
        .iter()
        .map(|message| message.key.as_str())
        .collect();
    assert_eq!(
        keys,
        [
            "coherent_pool",
            "8250.nr_uarts",
            "snd_bcm2835.enable_headphones",
            "snd_bcm2835.enable_hdmi",
            "smsc95xx.macaddr",
            "vc_mem.mem_base",
            "vc_mem.mem_size",
            "console"
        ]
    );
    assert!(
        messages
            .iter()
            .all(|message| message.severity == Severity::Debug)
    );
}

#[test]
fn a_qemu_test_command_line() {
    let config = quiet_parse("log=trace port=8080 test=timer panic=halt access_log=off");
    assert_eq!(
        config,
        Config {
            log_level: LevelFilter::Trace,
            port: 8080,
            test_hook: Some(TestHook::Timer),
            panic: PanicAction::Halt,
            access_log: false,
            ..Config::default()
        }
    );
}

#[test]
fn an_unterminated_quote_runs_to_the_end() {
    let config = quiet_parse("port=81 cache_control=\"no-cache, no-store");
    assert_eq!(config.port, 81);
    assert_eq!(config.cache_control.as_deref(), Some("no-cache, no-store"));
}

proptest! {
    /// No input panics, and every message is about one token.
    #[test]
    fn any_bootargs_parse_without_panic(bootargs in "\\PC{0,200}") {
        let (_, messages) = parse(&bootargs);
        prop_assert!(messages.len() <= bootargs.split_whitespace().count().max(1));
    }

    /// Keys and values from the real vocabulary, shuffled with junk, never panic and every
    /// message starts with "bootargs: ".
    #[test]
    fn vocabulary_soup_never_panics(
        tokens in proptest::collection::vec(
            (
                prop_oneof![
                    Just("log"), Just("panic"), Just("ip"), Just("gw"), Just("port"),
                    Just("max_connections"), Just("cache_control"), Just("mac"), Just("ip6"),
                    Just("test"), Just("access_log"), Just("console"), Just("x.y"), Just("zzz"),
                ],
                proptest::option::of("[ -~]{0,20}"),
            ),
            0..12,
        )
    ) {
        let bootargs: Vec<String> = tokens
            .iter()
            .map(|(key, value)| match value {
                Some(value) => format!("{key}={value}"),
                None => (*key).to_string(),
            })
            .collect();
        let (_, messages) = parse(&bootargs.join(" "));
        prop_assert!(messages.iter().all(|message| message.text.starts_with("bootargs: ")));
    }
}
