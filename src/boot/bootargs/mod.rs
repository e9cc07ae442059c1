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
//! The keys, from [`KEYS`] (the one place each is written; `tests/bootargs_table.rs` checks that
//! this table and README.md's agree with it):
//!
//! | key | values | default |
//! |---|---|---|
//! | `log` | `error` `warn` `info` `debug` `trace` | `info` |
//! | `panic` | `reset` `halt` | `reset` |
//! | `ip` | `dhcp` or `A.B.C.D/prefix` (static) | `dhcp` |
//! | `gw` | `A.B.C.D` (gateway for a static `ip`) or `none` | none |
//! | `dhcp_timeout_ms` | 100–3600000: fall back to `fallback_ip` after this long | `10000` |
//! | `fallback_ip` | `A.B.C.D/prefix` (the default is QEMU user networking's guest address) | `10.0.2.15/24` |
//! | `fallback_gw` | `A.B.C.D` or `none` (the default is QEMU user networking's gateway) | `10.0.2.2` |
//! | `ipv4_probe_ms` | 0–10000: ARP-probe a static or fallback address this long before use (RFC 5227 §2.1.1); 0 = off | `1000` |
//! | `ip6` | `ADDRESS/prefix` or `none` (a static IPv6 address) | none |
//! | `gw6` | IPv6 address or `none` | none |
//! | `port` | 1–65535 (HTTP) | `80` |
//! | `max_connections` | 1–16384 | `4096` |
//! | `access_log` | `on` `off` (also `yes`/`no`, `true`/`false`, `1`/`0`; bare = on) | `on` |
//! | `keepalive_timeout_ms` | 100–3600000 | `75000` |
//! | `header_timeout_ms` | 100–3600000 | `10000` |
//! | `send_timeout_ms` | 100–3600000 | `30000` |
//! | `cache_control` | a `Cache-Control` value, percent-encoded or quoted (below); `none` | none |
//! | `mac` | `aa:bb:cc:dd:ee:ff` (unicast; overrides the NIC's) | none |
//! | `test` | `fault` `panic` `timer` (hooks for the QEMU tests) | none |
//! | `heap_report` | like `access_log` (bare = on) | `off` |
//!
//! `cache_control` values contain spaces and commas; write them quoted
//! (`cache_control="public, max-age=60"`) or percent-encoded (`cache_control=public,%20max-age=60`;
//! `%XX` is decoded, RFC 3986 §2.1). The decoded value must be a valid field value (RFC 9110
//! §5.5: visible ASCII, space, tab; at most 256 bytes), so no encoded CR/LF can split the header.

mod values;

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::str::FromStr;

use log::LevelFilter;
use smoltcp::wire::{Ipv4Address, Ipv4Cidr, Ipv6Address, Ipv6Cidr};

use super::settings::{
    DEFAULT_DHCP_TIMEOUT_MS, DEFAULT_HTTP_PORT, DEFAULT_IPV4_PROBE_MS, DEFAULT_MAX_CONNECTIONS,
    QEMU_USER_NETWORK_ADDRESS, QEMU_USER_NETWORK_GATEWAY,
};
use crate::http::connection::ConnectionTimeouts;
use values::{
    cache_control, ipv4_cidr, ipv6_cidr, number_in, optional_ipv4_gateway, show_mac, show_optional,
    show_switch, switch, timeout, unicast_mac, usable_ipv6,
};

/// Lowest accepted value of every `*_timeout_ms` key.
pub const TIMEOUT_MIN_MS: u64 = 100;
/// Highest accepted value of every `*_timeout_ms` key (one hour).
pub const TIMEOUT_MAX_MS: u64 = 3_600_000;
/// Highest accepted `ipv4_probe_ms` (RFC 5227's own timing takes at most 9 s).
pub const IPV4_PROBE_MAX_MS: u64 = 10_000;
/// Highest accepted `max_connections`.
pub const MAX_CONNECTIONS_LIMIT: usize = 16384;
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
/// [`KEYS`] (tested: [`Key::show`] of each field is the key's documented default).
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
            dhcp_timeout_ms: DEFAULT_DHCP_TIMEOUT_MS,
            fallback_ip: QEMU_USER_NETWORK_ADDRESS,
            fallback_gateway: Some(QEMU_USER_NETWORK_GATEWAY),
            ipv4_probe_ms: DEFAULT_IPV4_PROBE_MS,
            ipv6: None,
            ipv6_gateway: None,
            port: DEFAULT_HTTP_PORT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
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

/// What a `*_timeout_ms` key expects, in its messages.
const TIMEOUT_EXPECTATION: &str = "a time in milliseconds (100-3600000)";
/// What an on/off key expects, in its messages.
const SWITCH_EXPECTATION: &str = "on or off";
/// What `gw` and `fallback_gw` expect, in their messages.
const IPV4_GATEWAY_EXPECTATION: &str = "a usable IPv4 address (A.B.C.D) or none";

/// One bootargs key: its documentation, how a value is parsed into [`Config`], and how the
/// current value is shown in messages. [`KEYS`] holds every key.
#[derive(Clone, Copy)]
pub struct Key {
    /// The key as written on the command line.
    pub name: &'static str,
    /// The values it accepts, for the documentation tables (Markdown).
    pub values: &'static str,
    /// The default as the documentation shows it; [`Key::show`] of [`Config::default`] gives
    /// exactly this (tested).
    pub default: &'static str,
    /// What a value must be, for the message about a bad one ("`key=value` is not …").
    expectation: &'static str,
    /// The value a bare `key` (no `=`) stands for; `None` if the key needs a value.
    bare_value: Option<&'static str>,
    /// Parses `value` into its field of the config; `None`, with the config untouched, if the
    /// value is not acceptable.
    set: fn(&mut Config, &str) -> Option<()>,
    /// The field's current value as messages show it ("keeping …").
    show: fn(&Config) -> String,
}

impl Key {
    /// This key's setting in `config`, as messages and the documentation show it.
    pub fn show(&self, config: &Config) -> String {
        (self.show)(config)
    }

    /// Sets this key from `value` (`None`: written bare), or reports why not, naming the value
    /// kept.
    fn apply(&self, config: &mut Config, messages: &mut Vec<ConfigMessage>, value: Option<&str>) {
        let problem = match value.or(self.bare_value) {
            Some(value) => match (self.set)(config, value) {
                Some(()) => return,
                None => format!("{}={} is not {}", self.name, echo(value), self.expectation),
            },
            None => format!("{} needs a value ({})", self.name, self.expectation),
        };
        messages.push(ConfigMessage {
            severity: Severity::Warning,
            key: String::from(self.name),
            text: format!("bootargs: {problem}; keeping {}", self.show(config)),
        });
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Key")
            .field("name", &self.name)
            .field("default", &self.default)
            .finish_non_exhaustive()
    }
}

/// Every key the kernel takes, in documentation order: the one place a key, its values and its
/// default are written. The module documentation's table is [`documentation_table`] of it, and
/// README.md's table names the same keys and defaults (both checked by `tests/bootargs_table.rs`).
pub const KEYS: &[Key] = &[
    Key {
        name: "log",
        values: "`error` `warn` `info` `debug` `trace`",
        default: "info",
        expectation: "one of error, warn, info, debug, trace",
        bare_value: None,
        set: |config, value| {
            config.log_level = match value {
                "error" => LevelFilter::Error,
                "warn" => LevelFilter::Warn,
                "info" => LevelFilter::Info,
                "debug" => LevelFilter::Debug,
                "trace" => LevelFilter::Trace,
                _ => return None,
            };
            Some(())
        },
        show: |config| format!("{}", config.log_level).to_ascii_lowercase(),
    },
    Key {
        name: "panic",
        values: "`reset` `halt`",
        default: "reset",
        expectation: "reset or halt",
        bare_value: None,
        set: |config, value| {
            config.panic = match value {
                "reset" => PanicAction::Reset,
                "halt" => PanicAction::Halt,
                _ => return None,
            };
            Some(())
        },
        show: |config| {
            String::from(if config.panic == PanicAction::Halt {
                "halt"
            } else {
                "reset"
            })
        },
    },
    Key {
        name: "ip",
        values: "`dhcp` or `A.B.C.D/prefix` (static)",
        default: "dhcp",
        expectation: "dhcp or an IPv4 address with prefix length (A.B.C.D/N)",
        bare_value: None,
        set: |config, value| {
            config.ipv4 = if value == "dhcp" {
                None
            } else {
                Some(ipv4_cidr(value)?)
            };
            Some(())
        },
        show: |config| {
            config
                .ipv4
                .map_or_else(|| String::from("dhcp"), |cidr| format!("{cidr}"))
        },
    },
    Key {
        name: "gw",
        values: "`A.B.C.D` (gateway for a static `ip`) or `none`",
        default: "none",
        expectation: IPV4_GATEWAY_EXPECTATION,
        bare_value: None,
        set: |config, value| {
            config.gateway = optional_ipv4_gateway(value)?;
            Some(())
        },
        show: |config| show_optional(&config.gateway),
    },
    Key {
        name: "dhcp_timeout_ms",
        values: "100–3600000: fall back to `fallback_ip` after this long",
        default: "10000",
        expectation: TIMEOUT_EXPECTATION,
        bare_value: None,
        set: |config, value| {
            config.dhcp_timeout_ms = timeout(value)?;
            Some(())
        },
        show: |config| format!("{}", config.dhcp_timeout_ms),
    },
    Key {
        name: "fallback_ip",
        values: "`A.B.C.D/prefix` (the default is QEMU user networking's guest address)",
        default: "10.0.2.15/24",
        expectation: "an IPv4 address with prefix length (A.B.C.D/N)",
        bare_value: None,
        set: |config, value| {
            config.fallback_ip = ipv4_cidr(value)?;
            Some(())
        },
        show: |config| format!("{}", config.fallback_ip),
    },
    Key {
        name: "fallback_gw",
        values: "`A.B.C.D` or `none` (the default is QEMU user networking's gateway)",
        default: "10.0.2.2",
        expectation: IPV4_GATEWAY_EXPECTATION,
        bare_value: None,
        set: |config, value| {
            config.fallback_gateway = optional_ipv4_gateway(value)?;
            Some(())
        },
        show: |config| show_optional(&config.fallback_gateway),
    },
    Key {
        name: "ipv4_probe_ms",
        values: "0–10000: ARP-probe a static or fallback address this long before use \
                 (RFC 5227 §2.1.1); 0 = off",
        default: "1000",
        expectation: "a time in milliseconds (0-10000; 0 = no ARP probe)",
        bare_value: None,
        set: |config, value| {
            config.ipv4_probe_ms = number_in(value, 0, IPV4_PROBE_MAX_MS)?;
            Some(())
        },
        show: |config| format!("{}", config.ipv4_probe_ms),
    },
    Key {
        name: "ip6",
        values: "`ADDRESS/prefix` or `none` (a static IPv6 address)",
        default: "none",
        expectation: "an IPv6 address with prefix length (ADDRESS/N) or none",
        bare_value: None,
        set: |config, value| {
            config.ipv6 = if value == "none" {
                None
            } else {
                Some(ipv6_cidr(value)?)
            };
            Some(())
        },
        show: |config| show_optional(&config.ipv6),
    },
    Key {
        name: "gw6",
        values: "IPv6 address or `none`",
        default: "none",
        expectation: "a usable IPv6 address or none",
        bare_value: None,
        set: |config, value| {
            config.ipv6_gateway = if value == "none" {
                None
            } else {
                Some(Ipv6Address::from_str(value).ok().filter(usable_ipv6)?)
            };
            Some(())
        },
        show: |config| show_optional(&config.ipv6_gateway),
    },
    Key {
        name: "port",
        values: "1–65535 (HTTP)",
        default: "80",
        expectation: "a port number (1-65535)",
        bare_value: None,
        set: |config, value| {
            config.port = number_in(value, 1, 65_535).and_then(|port| u16::try_from(port).ok())?;
            Some(())
        },
        show: |config| format!("{}", config.port),
    },
    Key {
        name: "max_connections",
        values: "1–16384",
        default: "4096",
        expectation: "a connection count (1-16384)",
        bare_value: None,
        set: |config, value| {
            config.max_connections = number_in(value, 1, MAX_CONNECTIONS_LIMIT as u64)
                .and_then(|count| usize::try_from(count).ok())?;
            Some(())
        },
        show: |config| format!("{}", config.max_connections),
    },
    Key {
        name: "access_log",
        values: "`on` `off` (also `yes`/`no`, `true`/`false`, `1`/`0`; bare = on)",
        default: "on",
        expectation: SWITCH_EXPECTATION,
        bare_value: Some("on"),
        set: |config, value| {
            config.access_log = switch(value)?;
            Some(())
        },
        show: |config| show_switch(&config.access_log),
    },
    Key {
        name: "keepalive_timeout_ms",
        values: "100–3600000",
        default: "75000",
        expectation: TIMEOUT_EXPECTATION,
        bare_value: None,
        set: |config, value| {
            config.keepalive_timeout_ms = timeout(value)?;
            Some(())
        },
        show: |config| format!("{}", config.keepalive_timeout_ms),
    },
    Key {
        name: "header_timeout_ms",
        values: "100–3600000",
        default: "10000",
        expectation: TIMEOUT_EXPECTATION,
        bare_value: None,
        set: |config, value| {
            config.header_timeout_ms = timeout(value)?;
            Some(())
        },
        show: |config| format!("{}", config.header_timeout_ms),
    },
    Key {
        name: "send_timeout_ms",
        values: "100–3600000",
        default: "30000",
        expectation: TIMEOUT_EXPECTATION,
        bare_value: None,
        set: |config, value| {
            config.send_timeout_ms = timeout(value)?;
            Some(())
        },
        show: |config| format!("{}", config.send_timeout_ms),
    },
    Key {
        name: "cache_control",
        values: "a `Cache-Control` value, percent-encoded or quoted (below); `none`",
        default: "none",
        expectation: "a Cache-Control value (visible ASCII, spaces as %20 or in quotes, at \
                      most 256 bytes)",
        bare_value: None,
        set: |config, value| {
            config.cache_control = cache_control(value)?;
            Some(())
        },
        show: |config| {
            config
                .cache_control
                .as_ref()
                .map_or_else(|| String::from("none"), |text| format!("\"{text}\""))
        },
    },
    Key {
        name: "mac",
        values: "`aa:bb:cc:dd:ee:ff` (unicast; overrides the NIC's)",
        default: "none",
        expectation: "a unicast MAC address (aa:bb:cc:dd:ee:ff)",
        bare_value: None,
        set: |config, value| {
            config.mac = Some(unicast_mac(value)?);
            Some(())
        },
        show: |config| show_mac(&config.mac),
    },
    Key {
        name: "test",
        values: "`fault` `panic` `timer` (hooks for the QEMU tests)",
        default: "none",
        expectation: "one of fault, panic, timer",
        bare_value: None,
        set: |config, value| {
            config.test_hook = Some(match value {
                "fault" => TestHook::Fault,
                "panic" => TestHook::Panic,
                "timer" => TestHook::Timer,
                _ => return None,
            });
            Some(())
        },
        show: |config| {
            String::from(match config.test_hook {
                None => "none",
                Some(TestHook::Fault) => "fault",
                Some(TestHook::Panic) => "panic",
                Some(TestHook::Timer) => "timer",
            })
        },
    },
    Key {
        name: "heap_report",
        values: "like `access_log` (bare = on)",
        default: "off",
        expectation: SWITCH_EXPECTATION,
        bare_value: Some("on"),
        set: |config, value| {
            config.heap_report = switch(value)?;
            Some(())
        },
        show: |config| show_switch(&config.heap_report),
    },
];

/// The Markdown table of [`KEYS`] (`| key | values | default |`), as the module documentation
/// shows it: defaults in code spans, except "none".
pub fn documentation_table() -> String {
    let mut table = String::from("| key | values | default |\n|---|---|---|\n");
    for key in KEYS {
        let default = if key.default == "none" {
            String::from("none")
        } else {
            format!("`{}`", key.default)
        };
        table.push_str(&format!(
            "| `{}` | {} | {default} |\n",
            key.name, key.values
        ));
    }
    table
}

/// Applies one `key[=value]` token.
fn apply(config: &mut Config, messages: &mut Vec<ConfigMessage>, key: &str, value: Option<&str>) {
    if let Some(known) = KEYS.iter().find(|known| known.name == key) {
        known.apply(config, messages, value);
    } else if is_foreign_key(key) {
        messages.push(ConfigMessage {
            severity: Severity::Debug,
            key: String::from(key),
            text: format!(
                "bootargs: {} is for Linux or the firmware; ignored",
                echo_token(key, value)
            ),
        });
    } else {
        messages.push(ConfigMessage {
            severity: Severity::Warning,
            key: String::from(key),
            text: format!(
                "bootargs: unknown key in {}; ignored",
                echo_token(key, value)
            ),
        });
    }
}

/// The token as written, cut for a message.
fn echo_token(key: &str, value: Option<&str>) -> String {
    match value {
        Some(value) => format!("{}={}", echo(key), echo(value)),
        None => echo(key),
    }
}
