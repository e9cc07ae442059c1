//! The access log: with [`ServerConfig::access_log`] on, one `info` line per request,
//! `peer "METHOD target" status bytes duration`, where the duration runs from the moment the
//! request was parsed to the moment its last byte was handed to the TCP send buffer.

use alloc::string::String;

use log::info;
use smoltcp::wire::IpEndpoint;

use super::config::ServerConfig;
use crate::http::connection::{Connection, RequestRecord};

/// Writes the access-log lines of finished responses (and drops them when the log is off).
pub(super) fn log_records(
    peer: Option<IpEndpoint>,
    connection: &mut Connection,
    config: &ServerConfig,
) {
    for record in connection.take_records() {
        if config.access_log {
            log_record(peer, &record);
        }
    }
}

/// One access-log line: `peer "request" status bytes duration`.
fn log_record(peer: Option<IpEndpoint>, record: &RequestRecord) {
    info!(
        "{} \"{}\" {} {} {}us",
        display_peer(peer),
        record.request,
        record.status,
        record.response_bytes,
        record.sent_at_us.saturating_sub(record.parsed_at_us)
    );
}

/// The peer for the log, or `-` when unknown.
pub(super) fn display_peer(peer: Option<IpEndpoint>) -> String {
    match peer {
        Some(endpoint) => alloc::format!("{endpoint}"),
        None => String::from("-"),
    }
}
