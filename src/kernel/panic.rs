//! The panic path: print the message and location, then reset (a server must come back by
//! itself) — or, with `panic=halt`, stop the machine (QEMU exits; useful in tests).

use core::panic::PanicInfo;
use core::sync::atomic::{AtomicBool, Ordering};

use bareserve::boot::bootargs::PanicAction;

use crate::{board, console};

static HALT_ON_PANIC: AtomicBool = AtomicBool::new(false);

/// Records what a panic should do (bootarg `panic=`).
pub fn set_action(action: PanicAction) {
    HALT_ON_PANIC.store(action == PanicAction::Halt, Ordering::Relaxed);
}

#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    crate::arch::mask_interrupts();
    let location = info.location();
    console::emergency_print(format_args!(
        "\n*** KERNEL PANIC at {}:{}: {}\n",
        location.map_or("<unknown>", |l| l.file()),
        location.map_or(0, |l| l.line()),
        info.message()
    ));
    if HALT_ON_PANIC.load(Ordering::Relaxed) {
        console::emergency_print(format_args!("*** halting (panic=halt)\n"));
        board::halt()
    }
    console::emergency_print(format_args!(
        "*** resetting (set panic=halt to stop instead)\n"
    ));
    board::reset()
}
