//! Console output that never makes the server wait for the UART.
//!
//! At the Raspberry Pi's 115,200 baud (8N1: 11,520 bytes/s) one 80-byte access-log line takes
//! about 7 ms to leave, and a loop that waits for the transmit FIFO before each byte stops the
//! whole server for that long per request. Log lines therefore go into a [`LineBuffer`], which
//! the main loop drains into the FIFO only as far as the FIFO has room; the UART's transmit
//! interrupt wakes the loop when there is room again. When lines arrive faster than the line
//! speed, whole lines are dropped (never a part of one) and the next line that fits is preceded
//! by a note saying how many were lost.

use core::fmt::Write as _;

/// A ring of whole console lines, `CAPACITY` bytes.
#[derive(Debug)]
pub struct LineBuffer<const CAPACITY: usize> {
    bytes: [u8; CAPACITY],
    /// Index of the oldest byte.
    start: usize,
    /// Bytes queued.
    length: usize,
    /// Lines dropped since the last note about them.
    dropped_unreported: u64,
    /// Lines dropped in all.
    dropped_total: u64,
}

impl<const CAPACITY: usize> Default for LineBuffer<CAPACITY> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const CAPACITY: usize> LineBuffer<CAPACITY> {
    /// An empty buffer.
    pub const fn new() -> Self {
        LineBuffer {
            bytes: [0; CAPACITY],
            start: 0,
            length: 0,
            dropped_unreported: 0,
            dropped_total: 0,
        }
    }

    /// Queues `line` whole, or drops it (and counts it) when it does not fit. Returns whether it
    /// was queued. After drops, the first line that fits together with a note about them is
    /// preceded by that note.
    pub fn push(&mut self, line: &[u8]) -> bool {
        if self.dropped_unreported > 0 {
            let mut note = NoteText::default();
            let _ = write!(
                note,
                "[console: {} lines dropped: output faster than the line speed]\r\n",
                self.dropped_unreported
            );
            if note.length + line.len() > self.free_bytes() {
                return self.drop_line();
            }
            self.dropped_unreported = 0;
            let length = note.length;
            self.append(&note.bytes[..length]);
        } else if line.len() > self.free_bytes() {
            return self.drop_line();
        }
        self.append(line);
        true
    }

    fn drop_line(&mut self) -> bool {
        self.dropped_unreported += 1;
        self.dropped_total += 1;
        false
    }

    fn free_bytes(&self) -> usize {
        CAPACITY - self.length
    }

    fn append(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            let index = (self.start + self.length) % CAPACITY;
            self.bytes[index] = byte;
            self.length += 1;
        }
    }

    /// The oldest byte, if any, without taking it.
    pub fn peek(&self) -> Option<u8> {
        (self.length > 0).then(|| self.bytes[self.start])
    }

    /// Takes the oldest byte, if any.
    pub fn pop(&mut self) -> Option<u8> {
        let byte = self.peek()?;
        self.start = (self.start + 1) % CAPACITY;
        self.length -= 1;
        Some(byte)
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.length == 0
    }

    /// Lines dropped since start-up.
    pub fn dropped_total(&self) -> u64 {
        self.dropped_total
    }
}

/// The drop note, formatted without allocating.
struct NoteText {
    bytes: [u8; 96],
    length: usize,
}

impl Default for NoteText {
    fn default() -> Self {
        NoteText {
            bytes: [0; 96],
            length: 0,
        }
    }
}

impl core::fmt::Write for NoteText {
    fn write_str(&mut self, text: &str) -> core::fmt::Result {
        let room = self.bytes.len() - self.length;
        let taken = text.len().min(room);
        self.bytes[self.length..self.length + taken].copy_from_slice(&text.as_bytes()[..taken]);
        self.length += taken;
        Ok(())
    }
}

/// One console line being formatted into a fixed buffer: `\n` becomes `\r\n` (a serial
/// terminal needs both), and a line longer than the buffer is cut and marked with `…`.
pub struct LineWriter<const CAPACITY: usize> {
    bytes: [u8; CAPACITY],
    length: usize,
    cut: bool,
}

impl<const CAPACITY: usize> Default for LineWriter<CAPACITY> {
    fn default() -> Self {
        LineWriter {
            bytes: [0; CAPACITY],
            length: 0,
            cut: false,
        }
    }
}

impl<const CAPACITY: usize> LineWriter<CAPACITY> {
    /// The line, ending in `\r\n` (added when it was cut or did not end in one).
    pub fn finish(&mut self) -> &[u8] {
        let ending: &[u8] = if self.cut {
            "…\r\n".as_bytes()
        } else {
            b"\r\n"
        };
        if self.cut || !self.bytes[..self.length].ends_with(b"\r\n") {
            let keep = self.length.min(CAPACITY - ending.len());
            // Never cut inside a UTF-8 sequence.
            let mut keep_at = keep;
            while keep_at > 0 && keep_at < self.length && self.bytes[keep_at] & 0xC0 == 0x80 {
                keep_at -= 1;
            }
            self.bytes[keep_at..keep_at + ending.len()].copy_from_slice(ending);
            self.length = keep_at + ending.len();
        }
        &self.bytes[..self.length]
    }

    fn put(&mut self, byte: u8) {
        if self.length < CAPACITY {
            self.bytes[self.length] = byte;
            self.length += 1;
        } else {
            self.cut = true;
        }
    }
}

impl<const CAPACITY: usize> core::fmt::Write for LineWriter<CAPACITY> {
    fn write_str(&mut self, text: &str) -> core::fmt::Result {
        for byte in text.bytes() {
            if byte == b'\n' {
                self.put(b'\r');
            }
            self.put(byte);
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.
mod tests {
    use super::*;

    fn drain<const N: usize>(buffer: &mut LineBuffer<N>) -> Vec<u8> {
        core::iter::from_fn(|| buffer.pop()).collect()
    }

    #[test]
    fn lines_come_out_in_order_across_the_wrap() {
        let mut buffer = LineBuffer::<16>::new();
        assert!(buffer.push(b"abcdefghij\r\n"));
        assert_eq!(buffer.pop(), Some(b'a'));
        assert_eq!(drain(&mut buffer), b"bcdefghij\r\n");
        assert!(buffer.push(b"0123456789\r\n"));
        assert_eq!(drain(&mut buffer), b"0123456789\r\n");
        assert!(buffer.is_empty());
    }

    #[test]
    fn a_line_that_does_not_fit_is_dropped_whole_and_reported_later() {
        let mut buffer = LineBuffer::<128>::new();
        assert!(buffer.push(&[b'a'; 100]));
        assert!(!buffer.push(&[b'b'; 40]));
        assert!(!buffer.push(b"c\r\n"));
        assert_eq!(buffer.dropped_total(), 2);
        let first = drain(&mut buffer);
        assert_eq!(first, [b'a'; 100]);
        assert!(buffer.push(b"d\r\n"));
        let text = String::from_utf8(drain(&mut buffer)).unwrap();
        assert_eq!(
            text,
            "[console: 2 lines dropped: output faster than the line speed]\r\nd\r\n"
        );
        assert!(buffer.push(b"e\r\n"));
        assert_eq!(drain(&mut buffer), b"e\r\n");
    }

    #[test]
    fn the_line_writer_ends_lines_and_cuts_long_ones_at_a_character() {
        let mut line = LineWriter::<16>::default();
        let _ = write!(line, "two\nlines");
        assert_eq!(line.finish(), b"two\r\nlines\r\n");
        let mut line = LineWriter::<16>::default();
        let _ = line.write_str("ok\n");
        assert_eq!(line.finish(), b"ok\r\n");
        let mut line = LineWriter::<16>::default();
        let _ = write!(line, "ééééééééééé");
        let text = line.finish();
        assert!(text.len() <= 16);
        assert!(core::str::from_utf8(text).unwrap().ends_with("…\r\n"));
    }
}
