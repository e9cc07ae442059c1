//! What the server does when the heap cannot give an allocation a client's traffic asks for: a
//! test allocator fails every allocation of at least a given size, on the test's own thread
//! only, and the server must refuse (no listener, a dropped connection, bytes left in the
//! socket) instead of panicking, count the refusal, and serve again once memory is back.

#![allow(clippy::unwrap_used)]

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use bareserve::http::connection::{Connection, ConnectionTimeouts, ResponseContext};
use bareserve::http::{Limits, ResponseSettings};
use common::{Harness, get, parse_responses, test_config, test_site};
use smoltcp::socket::tcp;

/// The system allocator, failing on request: see [`FAIL_FROM_BYTES`].
struct FailingAllocator;

thread_local! {
    /// Allocations of at least this many bytes fail on this thread (`usize::MAX`: none do).
    /// Thread-local, so that the test harness's other threads are never affected.
    static FAIL_FROM_BYTES: Cell<usize> = const { Cell::new(usize::MAX) };
}

fn fails(layout: Layout) -> bool {
    // A failed assertion's message and backtrace must still be printed, not abort the run.
    if std::thread::panicking() {
        return false;
    }
    FAIL_FROM_BYTES
        .try_with(|limit| layout.size() >= limit.get())
        .unwrap_or(false)
}

// SAFETY: every call is passed on to the system allocator unchanged, or refused with a null
// pointer, which `GlobalAlloc` allows for any allocation.
unsafe impl GlobalAlloc for FailingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if fails(layout) {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's layout, passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if fails(layout) {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's layout, passed on.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        // SAFETY: the block came from `System` with this layout.
        unsafe { System.dealloc(pointer, layout) }
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !std::thread::panicking()
            && new_size >= FAIL_FROM_BYTES.try_with(Cell::get).unwrap_or(usize::MAX)
        {
            return std::ptr::null_mut();
        }
        // SAFETY: the block came from `System` with this layout; the caller's new size.
        unsafe { System.realloc(pointer, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: FailingAllocator = FailingAllocator;

/// From now on allocations of `bytes` or more fail on this thread.
fn fail_allocations_from(bytes: usize) {
    FAIL_FROM_BYTES.with(|limit| limit.set(bytes));
}

fn allow_all_allocations() {
    fail_allocations_from(usize::MAX);
}

/// The allocator itself: without it working, every test below proves nothing.
#[test]
fn the_test_allocator_fails_what_it_is_told_to() {
    fail_allocations_from(4096);
    let mut small: Vec<u8> = Vec::new();
    assert!(small.try_reserve_exact(4095).is_ok());
    let mut large: Vec<u8> = Vec::new();
    assert!(large.try_reserve_exact(4096).is_err());
    allow_all_allocations();
    assert!(large.try_reserve_exact(4096).is_ok());
}

/// The heap cannot give a new listener's buffers (the kernel's heap, fragmented: plenty free in
/// total, no hole large enough): no listener is made — the failure is counted, not a panic —
/// the connection already open is served; a new client's SYN gets its cookie, its ACK closes
/// the idle connection to make room, and once memory is back its request is served.
#[test]
fn no_listener_is_made_when_the_heap_cannot_give_its_buffers() {
    let mut config = test_config();
    config.listen_backlog = 1;
    let mut harness = Harness::new(config);
    let first = harness.connect_with(64 * 1024, true);
    // The server's receive buffers are 4 KiB, its send buffers 64 KiB; the client's are made.
    fail_allocations_from(4096);
    harness.run_until(1000, |harness| {
        harness.state(first) == tcp::State::Established
    });
    harness.settle();
    let failures = harness
        .server
        .statistics()
        .socket_buffer_allocation_failures;
    assert!(failures >= 1, "no failure counted");
    assert_eq!(
        harness.request(first, &get("/hello.txt"), &[false])[0].status,
        200
    );

    allow_all_allocations();
    let waiting = harness.connect_with(64 * 1024, true);
    // Down to 1 KiB: choosing the connection to close must not allocate either (a 2 KiB list
    // once did, in a flood, and the failure reset the server).
    fail_allocations_from(1024);
    harness.settle();
    // The SYN gets its cookie (no memory needed); the ACK finds no listener, is dropped, and
    // closes the idle connection to make room.
    assert_eq!(harness.state(waiting), tcp::State::Established);
    let statistics = harness.server.statistics();
    assert!(statistics.syns_dropped_at_limit >= 1, "{statistics:?}");
    assert_eq!(statistics.idle_connections_reclaimed, 1);
    harness.run_until(2000, |harness| harness.peer_closed(first));

    // Memory is back: the request carries the same cookie and opens the connection.
    allow_all_allocations();
    assert_eq!(
        harness.request(waiting, &get("/hello.txt"), &[false])[0].status,
        200
    );
}

/// The heap cannot give the full send buffer but can give the floor's: the listener is made
/// with the floor's send buffer, and the connection it takes is served.
#[test]
fn a_listener_falls_back_to_the_floor_send_buffer() {
    let mut config = test_config();
    config.listen_backlog = 1;
    config.tcp_tx_buffer_bytes = 64 * 1024;
    let mut harness = Harness::new(config);
    let client = harness.connect_with(64 * 1024, true);
    // Above the 8 KiB floor, below the 64 KiB window.
    fail_allocations_from(16 * 1024);
    harness.run_until(1000, |harness| {
        harness.state(client) == tcp::State::Established
    });
    harness.settle();
    let failures_before = harness
        .server
        .statistics()
        .socket_buffer_allocation_failures;
    assert!(
        failures_before >= 1,
        "the full-size attempt should have failed"
    );
    allow_all_allocations();
    let second = harness.connect_with(64 * 1024, true);
    fail_allocations_from(16 * 1024);
    // The listener made with the floor's buffer takes this client at once.
    harness.run_until(100, |harness| {
        harness.state(second) == tcp::State::Established
    });
    assert_eq!(
        harness.request(second, &get("/hello.txt"), &[false])[0].status,
        200
    );
    allow_all_allocations();
}

/// The bucket a new connection falls in cannot grow its socket table: the connection is
/// dropped (counted) rather than the table growing infallibly, and once memory is back the
/// client's request, which carries the same SYN cookie, opens it again and is served.
#[test]
fn a_connection_the_heap_has_no_room_to_file_is_dropped() {
    let table_bytes = 4 * core::mem::size_of::<smoltcp::iface::SocketStorage<'static>>();
    // The test wire's frames (at most 1,514 bytes) must still be allocated.
    assert!(
        table_bytes > 1600,
        "SocketStorage is {table_bytes} / 4 bytes"
    );
    let mut harness = Harness::new(test_config());
    let client = harness.connect_with(64 * 1024, true);
    fail_allocations_from(table_bytes);
    harness.settle();
    // The client has its SYN-ACK (a cookie: no memory needed); its ACK found no room.
    assert_eq!(harness.state(client), tcp::State::Established);
    assert_eq!(
        harness.server.statistics().connection_allocation_failures,
        1
    );
    assert_eq!(harness.server.connection_count(), 0);

    allow_all_allocations();
    harness.run_until(3000, |harness| {
        harness.state(client) == tcp::State::Established
    });
    assert_eq!(
        harness.request(client, &get("/hello.txt"), &[false])[0].status,
        200
    );
}

/// The heap cannot give a connection's input buffer room: the bytes are left with the caller
/// (the socket), counted, and taken once memory is back.
#[test]
fn input_the_heap_has_no_room_for_is_left_in_the_socket() {
    let site = test_site();
    let settings = ResponseSettings {
        server_name: "test",
        cache_control: None,
    };
    let context = ResponseContext {
        site: &site,
        settings: &settings,
        now_unix_s: None,
        prepared: None,
    };
    let mut connection =
        Connection::new(0, Limits::default(), ConnectionTimeouts::default(), false);
    let request = get("/hello.txt");
    fail_allocations_from(1);
    let consumed = connection.receive(&request, 1, &context);
    allow_all_allocations();
    assert_eq!(consumed, 0);
    assert_eq!(connection.input_allocation_failures(), 1);
    assert!(!connection.has_output());

    assert_eq!(connection.receive(&request, 2, &context), request.len());
    assert!(connection.has_output());
    let mut output = vec![0u8; 4096];
    let written = connection.transmit(&mut output, 3);
    let responses = parse_responses(&output[..written], &[false]).unwrap();
    assert_eq!(responses[0].status, 200);
}
