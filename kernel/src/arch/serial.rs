//! 16550 UART on COM1: the console.

use x86_64::instructions::port::Port;

pub const COM1: u16 = 0x3f8;

/// Register offsets from the base port (PC16550D datasheet, table 2).
mod reg {
    pub const DATA: u16 = 0;
    pub const INTERRUPT_ENABLE: u16 = 1;
    pub const FIFO_CONTROL: u16 = 2;
    pub const LINE_CONTROL: u16 = 3;
    pub const MODEM_CONTROL: u16 = 4;
    pub const LINE_STATUS: u16 = 5;
}

/// Line status: transmit holding register empty.
const LSR_THR_EMPTY: u8 = 1 << 5;
/// Upper bound on polls of the line status per byte: a UART that never
/// drains (absent on real hardware) must not hang the appliance.
const MAX_POLLS_PER_BYTE: u32 = 100_000;

pub struct Serial {
    base: u16,
}

impl Serial {
    /// # Safety
    /// `base` must be the I/O base of a 16550-compatible UART that nothing
    /// else drives.
    #[allow(unsafe_code)]
    pub const unsafe fn new(base: u16) -> Serial {
        Serial { base }
    }

    fn write_reg(&mut self, offset: u16, value: u8) {
        // SAFETY: `new`'s contract: the UART's registers are ours.
        #[allow(unsafe_code)]
        unsafe {
            Port::new(self.base + offset).write(value)
        }
    }

    fn read_reg(&mut self, offset: u16) -> u8 {
        // SAFETY: as above.
        #[allow(unsafe_code)]
        unsafe {
            Port::new(self.base + offset).read()
        }
    }

    /// 115200 baud, 8N1, FIFOs on, interrupts off (we poll).
    pub fn init(&mut self) {
        self.write_reg(reg::INTERRUPT_ENABLE, 0x00);
        self.write_reg(reg::LINE_CONTROL, 0x80); // DLAB on
        self.write_reg(reg::DATA, 0x01); // divisor 1 = 115200
        self.write_reg(reg::INTERRUPT_ENABLE, 0x00);
        self.write_reg(reg::LINE_CONTROL, 0x03); // 8N1, DLAB off
        self.write_reg(reg::FIFO_CONTROL, 0xC7); // enable, clear, 14-byte threshold
        self.write_reg(reg::MODEM_CONTROL, 0x03); // DTR, RTS
    }

    pub fn write_byte(&mut self, byte: u8) {
        for _ in 0..MAX_POLLS_PER_BYTE {
            if self.read_reg(reg::LINE_STATUS) & LSR_THR_EMPTY != 0 {
                break;
            }
            core::hint::spin_loop();
        }
        self.write_reg(reg::DATA, byte);
    }
}

impl core::fmt::Write for Serial {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for b in s.bytes() {
            if b == b'\n' {
                self.write_byte(b'\r');
            }
            self.write_byte(b);
        }
        Ok(())
    }
}
