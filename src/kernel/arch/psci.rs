//! PSCI (Arm DEN 0022) for reset and power-off, through the conduit the device tree names.

use core::sync::atomic::{AtomicU8, Ordering};

use smccc::{Hvc, Smc, psci};

const CONDUIT_NONE: u8 = 0;
const CONDUIT_HVC: u8 = 1;
const CONDUIT_SMC: u8 = 2;

static CONDUIT: AtomicU8 = AtomicU8::new(CONDUIT_NONE);

/// Records the PSCI conduit from the device tree's `/psci` `method`.
pub fn set_conduit(use_hypervisor_call: Option<bool>) {
    let conduit = match use_hypervisor_call {
        Some(true) => CONDUIT_HVC,
        Some(false) => CONDUIT_SMC,
        None => CONDUIT_NONE,
    };
    CONDUIT.store(conduit, Ordering::Relaxed);
}

/// Whether PSCI is available.
pub fn available() -> bool {
    CONDUIT.load(Ordering::Relaxed) != CONDUIT_NONE
}

/// PSCI SYSTEM_RESET; parks the CPU if PSCI is missing or refuses.
pub fn system_reset() -> ! {
    let result = match CONDUIT.load(Ordering::Relaxed) {
        CONDUIT_HVC => psci::system_reset::<Hvc>(),
        CONDUIT_SMC => psci::system_reset::<Smc>(),
        _ => Ok(()),
    };
    crate::console::emergency_print(format_args!(
        "PSCI SYSTEM_RESET failed ({result:?}); halting\n"
    ));
    park()
}

/// PSCI SYSTEM_OFF; parks the CPU if PSCI is missing or refuses.
pub fn system_off() -> ! {
    let result = match CONDUIT.load(Ordering::Relaxed) {
        CONDUIT_HVC => psci::system_off::<Hvc>(),
        CONDUIT_SMC => psci::system_off::<Smc>(),
        _ => Ok(()),
    };
    if available() {
        crate::console::emergency_print(format_args!(
            "PSCI SYSTEM_OFF failed ({result:?}); halting\n"
        ));
    }
    park()
}

/// Sleeps forever with interrupts masked.
pub fn park() -> ! {
    super::mask_interrupts();
    loop {
        aarch64_cpu::asm::wfi();
    }
}
