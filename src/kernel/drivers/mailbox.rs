//! The VideoCore mailbox's property channel on the Raspberry Pi 4 (docs/bcm2711.md §5; Circle
//! `lib/bcmmailbox.cpp`, `bcmpropertytags.h`): used for the board's MAC address when the device
//! tree carries none (docs/bcm2711.md §8).

use core::cell::UnsafeCell;

use crate::arch::{cache, timer};

/// Mailbox 0 read register.
const READ_OFFSET: usize = 0x00;
/// Mailbox 0 status: bit 30 EMPTY.
const STATUS0_OFFSET: usize = 0x18;
/// Mailbox 1 write register (to the VideoCore).
const WRITE_OFFSET: usize = 0x20;
/// Mailbox 1 status: bit 31 FULL.
const STATUS1_OFFSET: usize = 0x38;
const STATUS_EMPTY: u32 = 1 << 30;
const STATUS_FULL: u32 = 1 << 31;
/// Channel 8: property tags, ARM → VideoCore.
const PROPERTY_CHANNEL: u32 = 8;
/// Request code 0; a successful reply says 0x8000_0000.
const RESPONSE_SUCCESS: u32 = 0x8000_0000;
/// Tag GET_BOARD_MAC_ADDRESS: 6 bytes in an 8-byte value buffer.
const TAG_GET_BOARD_MAC_ADDRESS: u32 = 0x0001_0003;
/// The VideoCore sees ARM RAM at bus address 0xC000_0000 + physical (DTB `/soc` dma-ranges,
/// first 1 GiB only; docs/bcm2711.md §2).
const BUS_ALIAS: u32 = 0xC000_0000;
/// Longest wait for the firmware's answer.
const TIMEOUT_US: u64 = 100_000;

/// The property message: 16-byte aligned (the low 4 bits carry the channel), on its own cache
/// lines, in the image (below 1 GiB on the Pi).
#[repr(C, align(64))]
struct Message(UnsafeCell<[u32; 16]>);

// SAFETY: used only by `board_mac_address`, on the one core, never re-entered.
unsafe impl Sync for Message {}

static MESSAGE: Message = Message(UnsafeCell::new([0; 16]));

fn read(base: usize, offset: usize) -> u32 {
    // SAFETY: `base` is the mailbox block (board::MAILBOX_BASE), mapped as device memory in the
    // peripheral window, and only this module uses it.
    unsafe { ((base + offset) as *const u32).read_volatile() }
}

fn write(base: usize, offset: usize, value: u32) {
    // SAFETY: as in `read`.
    unsafe { ((base + offset) as *mut u32).write_volatile(value) }
}

/// Asks the firmware for the board's MAC address; `None` when it does not answer in time or
/// answers with an error.
pub fn board_mac_address(base: usize) -> Option<[u8; 6]> {
    let message = MESSAGE.0.get();
    let address = message as usize;
    let bus_address = u32::try_from(address).ok().filter(|a| *a < 0x4000_0000)? | BUS_ALIAS;
    let request: [u32; 8] = [8 * 4, 0, TAG_GET_BOARD_MAC_ADDRESS, 8, 0, 0, 0, 0];
    let words = message.cast::<u32>();
    for (index, word) in request.iter().enumerate() {
        // SAFETY: index < 8 lies inside the static 16-word buffer, which only this function
        // touches; the VideoCore does not own it yet. Volatile: the firmware reads it by DMA.
        unsafe { words.wrapping_add(index).write_volatile(*word) };
    }
    // The VideoCore reads RAM, not our cache (docs/bcm2711.md §5: clean before, invalidate after).
    cache::clean_and_invalidate(address, 64);

    let deadline_us = timer::now_us() + TIMEOUT_US;
    while read(base, STATUS1_OFFSET) & STATUS_FULL != 0 {
        if timer::now_us() > deadline_us {
            return None;
        }
    }
    write(base, WRITE_OFFSET, bus_address | PROPERTY_CHANNEL);
    loop {
        if timer::now_us() > deadline_us {
            return None;
        }
        if read(base, STATUS0_OFFSET) & STATUS_EMPTY != 0 {
            continue;
        }
        if read(base, READ_OFFSET) & 0xF == PROPERTY_CHANNEL {
            break;
        }
    }
    cache::invalidate(address, 64);
    let mut reply = [0u32; 8];
    for (index, word) in reply.iter_mut().enumerate() {
        // SAFETY: as above; the firmware has answered, so the buffer is ours again.
        *word = unsafe { words.wrapping_add(index).read_volatile() };
    }
    let tag_answered = reply[4] & RESPONSE_SUCCESS != 0;
    if reply[1] != RESPONSE_SUCCESS || !tag_answered {
        return None;
    }
    let [a, b, c, d] = reply[5].to_le_bytes();
    let [e, f, _, _] = reply[6].to_le_bytes();
    Some([a, b, c, d, e, f])
}
