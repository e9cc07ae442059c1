//! The PL011 UART (Arm PrimeCell UART TRM, DDI 0183) through the `arm-pl011-uart` crate.

use core::fmt;
use core::ptr::NonNull;

use arm_pl011_uart::{DataBits, Interrupts, LineConfig, PL011Registers, Parity, StopBits, Uart};
use safe_mmio::UniqueMmioPointer;

/// Console line speed.
pub const BAUD_RATE: u32 = 115_200;

/// One PL011 in polled mode for output, with the receive interrupt enabled so that a key press
/// wakes the idle loop.
pub struct Pl011 {
    uart: Uart<'static>,
}

impl Pl011 {
    /// Takes over the PL011 at `base` and configures it for 115200 8N1.
    ///
    /// # Safety
    /// `base` must be the address of a PL011 register block, mapped as device memory (or with the
    /// MMU off), and nothing else may access it while the returned value lives.
    pub unsafe fn new(base: usize, clock_hz: u32) -> Self {
        let registers = NonNull::new(base as *mut PL011Registers).unwrap_or(NonNull::dangling());
        // SAFETY: the caller guarantees `base` is an exclusively owned PL011 register block.
        let pointer = unsafe { UniqueMmioPointer::new(registers) };
        let mut uart = Uart::new(pointer);
        // PL011 TRM §3.3.8: the UART must be idle before its line control is changed.
        let mut wait_rounds = 0u32;
        while uart.is_busy() && wait_rounds < 1_000_000 {
            wait_rounds += 1;
            core::hint::spin_loop();
        }
        let line = LineConfig {
            data_bits: DataBits::Bits8,
            parity: Parity::None,
            stop_bits: StopBits::One,
        };
        // An unrepresentable divisor leaves the UART as the firmware set it, which is still the
        // best chance of a readable console.
        let _ = uart.enable(line, BAUD_RATE, clock_hz);
        uart.set_interrupt_masks(Interrupts::RXI | Interrupts::RTI);
        Pl011 { uart }
    }

    /// Sends one byte if the transmit FIFO has room; returns whether it did.
    pub fn try_write_byte(&mut self, byte: u8) -> bool {
        if self.uart.is_tx_fifo_full() {
            return false;
        }
        self.uart.write_word(byte);
        true
    }

    /// Asks for the transmit interrupt (FIFO at or below its trigger level, PL011 TRM §3.4.5
    /// UARTTXINTR) while output waits, and masks and clears it otherwise.
    pub fn set_transmit_interrupt(&mut self, wanted: bool) {
        if wanted {
            self.uart
                .set_interrupt_masks(Interrupts::RXI | Interrupts::RTI | Interrupts::TXI);
        } else {
            self.uart
                .set_interrupt_masks(Interrupts::RXI | Interrupts::RTI);
            self.uart.clear_interrupts(Interrupts::TXI);
        }
    }

    /// Sends one byte, waiting while the transmit FIFO is full.
    pub fn write_byte(&mut self, byte: u8) {
        while self.uart.is_tx_fifo_full() {
            core::hint::spin_loop();
        }
        self.uart.write_word(byte);
    }

    /// The next received byte, if any. Framing and parity errors drop the byte.
    pub fn read_byte(&mut self) -> Option<u8> {
        loop {
            match self.uart.read_word() {
                Ok(byte) => return byte,
                Err(_) => continue,
            }
        }
    }

    /// Whether a received byte waits in the FIFO.
    pub fn has_input(&self) -> bool {
        !self.uart.is_rx_fifo_empty()
    }

    /// Clears the receive interrupts after the FIFO was drained.
    pub fn acknowledge_receive(&mut self) {
        self.uart
            .clear_interrupts(Interrupts::RXI | Interrupts::RTI);
    }
}

impl fmt::Write for Pl011 {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        for byte in text.bytes() {
            if byte == b'\n' {
                self.write_byte(b'\r');
            }
            self.write_byte(byte);
        }
        Ok(())
    }
}
