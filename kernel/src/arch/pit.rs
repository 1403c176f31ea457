//! TSC calibration against the 8254 PIT, channel 2 (the speaker channel,
//! whose gate and output are readable through port 0x61 without interrupts).

use super::cpu::rdtsc;
use x86_64::instructions::port::Port;

const CHANNEL2_DATA: u16 = 0x42;
const MODE_COMMAND: u16 = 0x43;
const SPEAKER_CONTROL: u16 = 0x61;
/// Port 0x61: bit 0 gates channel 2, bit 1 drives the speaker, bit 5 reads OUT2.
const GATE2: u8 = 1 << 0;
const SPEAKER: u8 = 1 << 1;
const OUT2: u8 = 1 << 5;

/// Counts the TSC while PIT channel 2 counts down `pit_ticks` (≤ 65535).
/// Returns `(tsc_delta, pit_ticks)`, or `None` if OUT2 never rises within
/// `max_polls` reads (no PIT).
pub fn measure(pit_ticks: u16, max_polls: u64) -> Option<(u64, u64)> {
    // SAFETY: ports 0x42/0x43/0x61 belong to the PIT and the speaker gate;
    // only channel 2 is reprogrammed, which drives nothing but the speaker,
    // and the speaker output stays off.
    #[allow(unsafe_code)]
    unsafe {
        let mut control = Port::<u8>::new(SPEAKER_CONTROL);
        let mut command = Port::<u8>::new(MODE_COMMAND);
        let mut data = Port::<u8>::new(CHANNEL2_DATA);
        let saved = control.read();
        control.write((saved & !SPEAKER) & !GATE2);
        // Channel 2, lobyte/hibyte, mode 0 (interrupt on terminal count), binary.
        command.write(0b1011_0000);
        data.write(pit_ticks as u8);
        data.write((pit_ticks >> 8) as u8);
        // Raising the gate starts the count.
        control.write((saved & !SPEAKER) | GATE2);
        let start = rdtsc();
        let mut polls = 0u64;
        while control.read() & OUT2 == 0 {
            polls += 1;
            if polls > max_polls {
                control.write(saved);
                return None;
            }
        }
        let end = rdtsc();
        control.write(saved);
        Some((end.wrapping_sub(start), pit_ticks as u64))
    }
}
