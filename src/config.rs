//! Bootargs (`/chosen/bootargs`, the Pi's `cmdline.txt`) parsed into typed settings.
//!
//! The command line is a whitespace-separated list of `key=value` pairs and bare flags, as on
//! Linux (`Documentation/admin-guide/kernel-parameters.rst`): double quotes keep spaces inside a
//! value (`cache_control="public, max-age=60"`), and the last occurrence of a key wins. Every
//! setting has a default, so an empty command line is a complete configuration.
//!
//! Parsing never fails: a bad value is reported and the current value (the default, or an earlier
//! valid occurrence) is kept; an unknown key is reported and ignored. Keys that belong to Linux or
//! to the Raspberry Pi firmware — which prepends `coherent_pool=1M 8250.nr_uarts=1
//! snd_bcm2835.… smsc95xx.macaddr=… vc_mem.…` and `console=…` to `cmdline.txt` — are reported at
//! [`Severity::Debug`] only, so a normal boot prints no noise.
//!
//! | key | values | default |
//! |---|---|---|
//! | `log` | `error` `warn` `info` `debug` `trace` | `info` |
//! | `panic` | `reset` `halt` | `reset` |
//! | `ip` | `dhcp` or `A.B.C.D/prefix` (static) | `dhcp` |
//! | `gw` | `A.B.C.D` (gateway for a static `ip`) | none |
//! | `dhcp_timeout_ms` | 100–3600000: fall back to `fallback_ip` after this long | 10000 |
//! | `fallback_ip` | `A.B.C.D/prefix` | `10.0.2.15/24` (QEMU user networking's guest address) |
//! | `fallback_gw` | `A.B.C.D` or `none` | `10.0.2.2` (QEMU user networking's gateway) |
//! | `ipv4_probe_ms` | 0–10000: ARP-probe a static or fallback address this long before use (RFC 5227 §2.1.1); 0 = off | 1000 |
//! | `ip6` | `ADDRESS/prefix` or `none` (a static IPv6 address) | none |
//! | `gw6` | IPv6 address or `none` | none |
//! | `port` | 1–65535 (HTTP) | 80 |
//! | `max_connections` | 1–4096 | 128 |
//! | `access_log` | `on` `off` (also `yes`/`no`, `true`/`false`, `1`/`0`; bare = on) | on |
//! | `keepalive_timeout_ms` | 100–3600000 | 75000 |
//! | `header_timeout_ms` | 100–3600000 | 10000 |
//! | `send_timeout_ms` | 100–3600000 | 30000 |
//! | `cache_control` | a `Cache-Control` value, percent-encoded or quoted (below); `none` | none |
//! | `mac` | `aa:bb:cc:dd:ee:ff` (unicast; overrides the NIC's) | none |
//! | `test` | `fault` `panic` `timer` (hooks for the QEMU tests) | none |
//! | `heap_report` | like `access_log` (bare = on) | off |
//!
//! `cache_control` values contain spaces and commas; write them quoted
//! (`cache_control="public, max-age=60"`) or percent-encoded (`cache_control=public,%20max-age=60`;
//! `%XX` is decoded, RFC 3986 §2.1). The decoded value must be a valid field value (RFC 9110
//! §5.5: visible ASCII, space, tab; at most 256 bytes), so no encoded CR/LF can split the header.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::str::FromStr;

use log::LevelFilter;
use smoltcp::wire::{EthernetAddress, Ipv4Address, Ipv4Cidr, Ipv6Address, Ipv6Cidr};

use crate::http::connection::ConnectionTimeouts;

/// Lowest accepted value of every `*_timeout_ms` key.
pub const TIMEOUT_MIN_MS: u64 = 100;
/// Highest accepted value of every `*_timeout_ms` key (one hour).
pub const TIMEOUT_MAX_MS: u64 = 3_600_000;
/// Highest accepted `ipv4_probe_ms` (RFC 5227's own timing takes at most 9 s).
pub const IPV4_PROBE_MAX_MS: u64 = 10_000;
/// Highest accepted `max_connections`.
pub const MAX_CONNECTIONS_LIMIT: usize = 4096;
/// Longest accepted `cache_control` value, in bytes after decoding.
pub const CACHE_CONTROL_MAX_LEN: usize = 256;
/// Longest bootargs value echoed in a message; longer ones are cut (with "…").
const ECHO_MAX_LEN: usize = 64;

/// What the kernel does after a panic has been reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PanicAction {
    /// Reset the machine (PSCI SYSTEM_RESET, or the board's watchdog).
    Reset,
    /// Stop all work and wait forever, leaving the report on the console.
    Halt,
}

/// Deliberate failures and diagnostics that the QEMU end-to-end tests ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestHook {
    /// Read an unmapped address: a synchronous data abort, to test the exception report.
    Fault,
    /// Call `panic!`, to test the panic report and `panic=`.
    Panic,
    /// Print every timer tick, to test the timer interrupt.
    Timer,
}

/// Every setting the kernel takes from the bootargs. [`Config::default`] gives the defaults in
/// the module table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `log=`: most verbose level printed on the console.
    pub log_level: LevelFilter,
    /// `panic=`: what to do after a panic.
    pub panic: PanicAction,
    /// `ip=`: a static IPv4 address and prefix, or `None` for DHCP.
    pub ipv4: Option<Ipv4Cidr>,
    /// `gw=`: the IPv4 default gateway used with a static `ip`.
    pub gateway: Option<Ipv4Address>,
    /// `dhcp_timeout_ms=`: how long DHCP may take before `fallback_ip` is used.
    pub dhcp_timeout_ms: u64,
    /// `fallback_ip=`: the static address used when DHCP times out.
    pub fallback_ip: Ipv4Cidr,
    /// `fallback_gw=`: the gateway used with `fallback_ip`.
    pub fallback_gateway: Option<Ipv4Address>,
    /// `ipv4_probe_ms=`: how long a static or fallback IPv4 address is probed with ARP before it
    /// is used; 0 takes it at once.
    pub ipv4_probe_ms: u64,
    /// `ip6=`: a static IPv6 address and prefix, besides the link-local one.
    pub ipv6: Option<Ipv6Cidr>,
    /// `gw6=`: the IPv6 default gateway.
    pub ipv6_gateway: Option<Ipv6Address>,
    /// `port=`: the HTTP server's TCP port.
    pub port: u16,
    /// `max_connections=`: most simultaneous HTTP connections.
    pub max_connections: usize,
    /// `access_log=`: one log line per request.
    pub access_log: bool,
    /// `keepalive_timeout_ms=`: how long an idle keep-alive connection stays open.
    pub keepalive_timeout_ms: u64,
    /// `header_timeout_ms=`: how long a client may take to send a request head.
    pub header_timeout_ms: u64,
    /// `send_timeout_ms=`: how long a response may stall without progress.
    pub send_timeout_ms: u64,
    /// `cache_control=`: the `Cache-Control` value sent with every file, if any.
    pub cache_control: Option<String>,
    /// `mac=`: a MAC address overriding the NIC's.
    pub mac: Option<[u8; 6]>,
    /// `test=`: a test hook to run after start-up.
    pub test_hook: Option<TestHook>,
    /// `heap_report=`: print heap usage periodically.
    pub heap_report: bool,
}

impl Default for Config {
    fn default() -> Self {
        let timeouts = ConnectionTimeouts::default();
        Config {
            log_level: LevelFilter::Info,
            panic: PanicAction::Reset,
            ipv4: None,
            gateway: None,
            // A LAN DHCP server may take a few seconds after link-up; QEMU's answers at once.
            dhcp_timeout_ms: 10_000,
            // QEMU user networking (`-netdev user`, slirp): guest 10.0.2.15/24, gateway 10.0.2.2.
            fallback_ip: Ipv4Cidr::new(Ipv4Address::new(10, 0, 2, 15), 24),
            fallback_gateway: Some(Ipv4Address::new(10, 0, 2, 2)),
            // RFC 5227's probe takes 4-9 s; a second holds three probes (see net::arp).
            ipv4_probe_ms: 1000,
            ipv6: None,
            ipv6_gateway: None,
            port: 80,
            max_connections: 128,
            access_log: true,
            // The connection's own defaults (nginx-like; see `ConnectionTimeouts`).
            keepalive_timeout_ms: timeouts.keep_alive_idle_ms,
            header_timeout_ms: timeouts.request_head_ms,
            send_timeout_ms: timeouts.send_stall_ms,
            cache_control: None,
            mac: None,
            test_hook: None,
            heap_report: false,
        }
    }
}

/// How much a [`ConfigMessage`] matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// A key for Linux or the Pi firmware, ignored as expected.
    Debug,
    /// A bad value (the previous value kept) or a key nobody knows (ignored).
    Warning,
}

/// One remark about the bootargs, for the console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigMessage {
    /// How much it matters.
    pub severity: Severity,
    /// The key it is about.
    pub key: String,
    /// The full sentence, starting with "bootargs: ".
    pub text: String,
}

impl ConfigMessage {
    /// The `log` level to print it at.
    pub fn level(&self) -> log::Level {
        match self.severity {
            Severity::Debug => log::Level::Debug,
            Severity::Warning => log::Level::Warn,
        }
    }

    /// Prints it through the `log` facade at [`Self::level`].
    pub fn log(&self) {
        log::log!(self.level(), "{}", self.text);
    }
}

impl fmt::Display for ConfigMessage {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.text)
    }
}

/// Parses `bootargs` into a [`Config`] and the messages to print about it. Never fails.
pub fn parse(bootargs: &str) -> (Config, Vec<ConfigMessage>) {
    let mut config = Config::default();
    let mut messages = Vec::new();
    for token in tokens(bootargs) {
        let (key, value) = match token.split_once('=') {
            Some((key, value)) => (key, Some(value)),
            None => (token.as_str(), None),
        };
        apply(&mut config, &mut messages, key, value);
    }
    (config, messages)
}

/// Splits the command line at unquoted whitespace and removes the double quotes, as Linux
/// `lib/cmdline.c` `next_arg` does (an unterminated quote runs to the end of the line). An empty
/// token (`""`) is dropped.
fn tokens(bootargs: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut current = String::new();
    let mut in_quotes = false;
    for character in bootargs.chars() {
        if character == '"' {
            in_quotes = !in_quotes;
        } else if character.is_whitespace() && !in_quotes {
            if !current.is_empty() {
                tokens.push(core::mem::take(&mut current));
            }
        } else {
            current.push(character);
        }
    }
    if !current.is_empty() {
        tokens.push(current);
    }
    tokens
}

/// Whether `key` belongs to Linux or to the Raspberry Pi firmware's additions to `cmdline.txt`.
/// Any key with a dot is a Linux module parameter (`module.parameter`, kernel-parameters.rst:
/// "Module parameters can be specified … as module.param"), which covers `8250.nr_uarts`,
/// `snd_bcm2835.*`, `bcm2708_fb.*`, `vc_mem.*`, `smsc95xx.*`, `dwc_otg.*`.
fn is_foreign_key(key: &str) -> bool {
    const LINUX_AND_FIRMWARE_KEYS: [&str; 24] = [
        "console",
        "earlycon",
        "earlyprintk",
        "root",
        "rootfstype",
        "rootwait",
        "rootdelay",
        "ro",
        "rw",
        "quiet",
        "splash",
        "init",
        "loglevel",
        "coherent_pool",
        "cma",
        "elevator",
        "fbcon",
        "kgdboc",
        "noswap",
        "cgroup_enable",
        "cgroup_memory",
        "nokaslr",
        "maxcpus",
        "nosmp",
    ];
    key.contains('.') || LINUX_AND_FIRMWARE_KEYS.contains(&key)
}

/// `value`, cut to [`ECHO_MAX_LEN`] characters for a message.
fn echo(value: &str) -> String {
    match value.char_indices().nth(ECHO_MAX_LEN) {
        Some((cut, _)) => format!("{}…", value.get(..cut).unwrap_or("")),
        None => String::from(value),
    }
}

/// Sets `slot` from `value` with `parse`, or reports why not, naming the value kept.
fn assign<T>(
    messages: &mut Vec<ConfigMessage>,
    slot: &mut T,
    key: &str,
    value: Option<&str>,
    expectation: &str,
    parse: impl Fn(&str) -> Option<T>,
    show: impl Fn(&T) -> String,
) {
    let problem = match value {
        Some(value) => match parse(value) {
            Some(parsed) => {
                *slot = parsed;
                return;
            }
            None => format!("{key}={} is not {expectation}", echo(value)),
        },
        None => format!("{key} needs a value ({expectation})"),
    };
    messages.push(ConfigMessage {
        severity: Severity::Warning,
        key: String::from(key),
        text: format!("bootargs: {problem}; keeping {}", show(slot)),
    });
}

/// A decimal number in `minimum..=maximum` (no sign, no separators).
fn number_in(value: &str, minimum: u64, maximum: u64) -> Option<u64> {
    if value.is_empty() || !value.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    value
        .parse::<u64>()
        .ok()
        .filter(|number| (minimum..=maximum).contains(number))
}

/// `on`/`off` and the usual synonyms; a bare flag means on.
fn switch(value: &str) -> Option<bool> {
    match value {
        "on" | "yes" | "true" | "1" => Some(true),
        "off" | "no" | "false" | "0" => Some(false),
        _ => None,
    }
}

fn show_switch(value: &bool) -> String {
    String::from(if *value { "on" } else { "off" })
}

fn show_optional<T: fmt::Display>(value: &Option<T>) -> String {
    value
        .as_ref()
        .map_or_else(|| String::from("none"), |value| format!("{value}"))
}

/// An IPv4 address usable as a host or gateway address: not unspecified, broadcast, multicast,
/// or loopback (RFC 1122 §3.2.1.3).
fn usable_ipv4(address: &Ipv4Address) -> bool {
    !(address.is_unspecified()
        || address.is_broadcast()
        || address.is_multicast()
        || address.is_loopback())
}

/// `A.B.C.D/prefix` with a usable address and a prefix of 1 to 32.
fn ipv4_cidr(value: &str) -> Option<Ipv4Cidr> {
    let cidr = Ipv4Cidr::from_str(value).ok()?;
    (usable_ipv4(&cidr.address()) && cidr.prefix_len() >= 1).then_some(cidr)
}

/// A usable IPv4 gateway address.
fn ipv4_gateway(value: &str) -> Option<Ipv4Address> {
    Ipv4Address::from_str(value).ok().filter(usable_ipv4)
}

/// `none`, or a gateway as [`ipv4_gateway`] accepts it (`gw=` and `fallback_gw=`).
fn optional_ipv4_gateway(value: &str) -> Option<Option<Ipv4Address>> {
    if value == "none" {
        Some(None)
    } else {
        ipv4_gateway(value).map(Some)
    }
}

/// An IPv6 address usable as a host or gateway address: not unspecified, loopback or multicast
/// (RFC 4291 §2.5.2, §2.5.3, §2.7).
fn usable_ipv6(address: &Ipv6Address) -> bool {
    !(address.is_unspecified() || address.is_loopback() || address.is_multicast())
}

/// Decodes `%XX` escapes (RFC 3986 §2.1) and checks the result is a field value (RFC 9110 §5.5:
/// visible ASCII, space, horizontal tab) of at most [`CACHE_CONTROL_MAX_LEN`] bytes.
fn cache_control(value: &str) -> Option<Option<String>> {
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

/// A unicast, non-zero MAC address (`aa:bb:cc:dd:ee:ff` or `aa-bb-…`).
fn unicast_mac(value: &str) -> Option<[u8; 6]> {
    let address = EthernetAddress::from_str(value).ok()?;
    (address.is_unicast() && address.0 != [0; 6]).then_some(address.0)
}

fn show_mac(value: &Option<[u8; 6]>) -> String {
    value.map_or_else(
        || String::from("none"),
        |octets| format!("{}", EthernetAddress(octets)),
    )
}

/// Applies one `key[=value]` token.
fn apply(config: &mut Config, messages: &mut Vec<ConfigMessage>, key: &str, value: Option<&str>) {
    const TIMEOUT: &str = "a time in milliseconds (100-3600000)";
    let timeout = |value: &str| number_in(value, TIMEOUT_MIN_MS, TIMEOUT_MAX_MS);
    let show_number = |value: &u64| format!("{value}");
    match key {
        "log" => assign(
            messages,
            &mut config.log_level,
            key,
            value,
            "one of error, warn, info, debug, trace",
            |value| match value {
                "error" => Some(LevelFilter::Error),
                "warn" => Some(LevelFilter::Warn),
                "info" => Some(LevelFilter::Info),
                "debug" => Some(LevelFilter::Debug),
                "trace" => Some(LevelFilter::Trace),
                _ => None,
            },
            |level| format!("{level}").to_ascii_lowercase(),
        ),
        "panic" => assign(
            messages,
            &mut config.panic,
            key,
            value,
            "reset or halt",
            |value| match value {
                "reset" => Some(PanicAction::Reset),
                "halt" => Some(PanicAction::Halt),
                _ => None,
            },
            |action| {
                String::from(if *action == PanicAction::Halt {
                    "halt"
                } else {
                    "reset"
                })
            },
        ),
        "ip" => assign(
            messages,
            &mut config.ipv4,
            key,
            value,
            "dhcp or an IPv4 address with prefix length (A.B.C.D/N)",
            |value| {
                if value == "dhcp" {
                    Some(None)
                } else {
                    ipv4_cidr(value).map(Some)
                }
            },
            |setting| setting.map_or_else(|| String::from("dhcp"), |cidr| format!("{cidr}")),
        ),
        "gw" => assign(
            messages,
            &mut config.gateway,
            key,
            value,
            "a usable IPv4 address (A.B.C.D) or none",
            optional_ipv4_gateway,
            show_optional,
        ),
        "dhcp_timeout_ms" => assign(
            messages,
            &mut config.dhcp_timeout_ms,
            key,
            value,
            TIMEOUT,
            timeout,
            show_number,
        ),
        "fallback_ip" => assign(
            messages,
            &mut config.fallback_ip,
            key,
            value,
            "an IPv4 address with prefix length (A.B.C.D/N)",
            ipv4_cidr,
            |cidr| format!("{cidr}"),
        ),
        "fallback_gw" => assign(
            messages,
            &mut config.fallback_gateway,
            key,
            value,
            "a usable IPv4 address (A.B.C.D) or none",
            optional_ipv4_gateway,
            show_optional,
        ),
        "ipv4_probe_ms" => assign(
            messages,
            &mut config.ipv4_probe_ms,
            key,
            value,
            "a time in milliseconds (0-10000; 0 = no ARP probe)",
            |value| number_in(value, 0, IPV4_PROBE_MAX_MS),
            show_number,
        ),
        "ip6" => assign(
            messages,
            &mut config.ipv6,
            key,
            value,
            "an IPv6 address with prefix length (ADDRESS/N) or none",
            |value| {
                if value == "none" {
                    return Some(None);
                }
                let cidr = Ipv6Cidr::from_str(value).ok()?;
                (usable_ipv6(&cidr.address()) && cidr.prefix_len() >= 1).then_some(Some(cidr))
            },
            show_optional,
        ),
        "gw6" => assign(
            messages,
            &mut config.ipv6_gateway,
            key,
            value,
            "a usable IPv6 address or none",
            |value| {
                if value == "none" {
                    return Some(None);
                }
                Ipv6Address::from_str(value)
                    .ok()
                    .filter(usable_ipv6)
                    .map(Some)
            },
            show_optional,
        ),
        "port" => assign(
            messages,
            &mut config.port,
            key,
            value,
            "a port number (1-65535)",
            |value| number_in(value, 1, 65_535).and_then(|port| u16::try_from(port).ok()),
            |port| format!("{port}"),
        ),
        "max_connections" => assign(
            messages,
            &mut config.max_connections,
            key,
            value,
            "a connection count (1-4096)",
            |value| {
                number_in(value, 1, MAX_CONNECTIONS_LIMIT as u64)
                    .and_then(|count| usize::try_from(count).ok())
            },
            |count| format!("{count}"),
        ),
        "access_log" => assign(
            messages,
            &mut config.access_log,
            key,
            Some(value.unwrap_or("on")),
            "on or off",
            switch,
            show_switch,
        ),
        "heap_report" => assign(
            messages,
            &mut config.heap_report,
            key,
            Some(value.unwrap_or("on")),
            "on or off",
            switch,
            show_switch,
        ),
        "keepalive_timeout_ms" => assign(
            messages,
            &mut config.keepalive_timeout_ms,
            key,
            value,
            TIMEOUT,
            timeout,
            show_number,
        ),
        "header_timeout_ms" => assign(
            messages,
            &mut config.header_timeout_ms,
            key,
            value,
            TIMEOUT,
            timeout,
            show_number,
        ),
        "send_timeout_ms" => assign(
            messages,
            &mut config.send_timeout_ms,
            key,
            value,
            TIMEOUT,
            timeout,
            show_number,
        ),
        "cache_control" => assign(
            messages,
            &mut config.cache_control,
            key,
            value,
            "a Cache-Control value (visible ASCII, spaces as %20 or in quotes, at most 256 bytes)",
            cache_control,
            |setting| {
                setting
                    .as_ref()
                    .map_or_else(|| String::from("none"), |text| format!("\"{text}\""))
            },
        ),
        "mac" => assign(
            messages,
            &mut config.mac,
            key,
            value,
            "a unicast MAC address (aa:bb:cc:dd:ee:ff)",
            |value| unicast_mac(value).map(Some),
            show_mac,
        ),
        "test" => assign(
            messages,
            &mut config.test_hook,
            key,
            value,
            "one of fault, panic, timer",
            |value| match value {
                "fault" => Some(Some(TestHook::Fault)),
                "panic" => Some(Some(TestHook::Panic)),
                "timer" => Some(Some(TestHook::Timer)),
                _ => None,
            },
            |hook| match hook {
                None => String::from("none"),
                Some(TestHook::Fault) => String::from("fault"),
                Some(TestHook::Panic) => String::from("panic"),
                Some(TestHook::Timer) => String::from("timer"),
            },
        ),
        _ if is_foreign_key(key) => messages.push(ConfigMessage {
            severity: Severity::Debug,
            key: String::from(key),
            text: format!(
                "bootargs: {} is for Linux or the firmware; ignored",
                echo_token(key, value)
            ),
        }),
        _ => messages.push(ConfigMessage {
            severity: Severity::Warning,
            key: String::from(key),
            text: format!(
                "bootargs: unknown key in {}; ignored",
                echo_token(key, value)
            ),
        }),
    }
}

/// The token as written, cut for a message.
fn echo_token(key: &str, value: Option<&str>) -> String {
    match value {
        Some(value) => format!("{}={}", echo(key), echo(value)),
        None => echo(key),
    }
}
