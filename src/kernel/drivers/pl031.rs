//! The PL031 real-time clock (Arm PrimeCell RTC TRM, DDI 0224): read once at boot so responses
//! can carry a `Date` (RFC 9110 §6.6.1 allows it only when the server has a clock).

/// RTCDR: the current time in seconds (TRM §3.3.1).
const DATA_REGISTER_OFFSET: usize = 0x000;

/// Reads the RTC's seconds counter (Unix time on QEMU `virt`, which starts it from the host
/// clock).
///
/// # Safety
/// `base` must be a PL031 register block mapped as device memory; reading RTCDR has no side
/// effects, so other readers do not matter.
pub unsafe fn read_unix_seconds(base: usize) -> u32 {
    let register = (base + DATA_REGISTER_OFFSET) as *const u32;
    // SAFETY: the caller guarantees a mapped PL031; RTCDR is a plain 32-bit register.
    unsafe { register.read_volatile() }
}
