//! The CMOS real-time clock (MC146818-compatible, ports 0x70/0x71): the
//! appliance's only source of wall-clock time at boot. Read once, then the
//! TSC carries it forward (`time::WallClock`).

use crate::time::CivilTime;
use x86_64::instructions::port::Port;

const SECONDS: u8 = 0x00;
const MINUTES: u8 = 0x02;
const HOURS: u8 = 0x04;
const DAY: u8 = 0x07;
const MONTH: u8 = 0x08;
const YEAR: u8 = 0x09;
const CENTURY: u8 = 0x32;
const STATUS_A: u8 = 0x0a;
const STATUS_B: u8 = 0x0b;
/// Status A bit 7: an update is in progress, values may be inconsistent.
const UPDATE_IN_PROGRESS: u8 = 0x80;

fn read(register: u8) -> u8 {
    // SAFETY: ports 0x70/0x71 are the CMOS index/data pair; bit 7 of the
    // index (NMI disable) is kept clear; only the boot core reads the RTC.
    #[allow(unsafe_code)]
    unsafe {
        Port::<u8>::new(0x70).write(register);
        Port::<u8>::new(0x71).read()
    }
}

fn snapshot() -> [u8; 7] {
    [
        read(SECONDS),
        read(MINUTES),
        read(HOURS),
        read(DAY),
        read(MONTH),
        read(YEAR),
        read(CENTURY),
    ]
}

/// Reads the clock, retrying until two consecutive readings agree outside
/// an update cycle (bounded: 1000 attempts). `None` when it never settles
/// or holds an impossible date.
pub fn read_utc() -> Option<CivilTime> {
    let mut last = None;
    for _ in 0..1000 {
        if read(STATUS_A) & UPDATE_IN_PROGRESS != 0 {
            continue;
        }
        let now = snapshot();
        if last == Some(now) {
            return decode(now, read(STATUS_B));
        }
        last = Some(now);
    }
    None
}

fn decode(raw: [u8; 7], status_b: u8) -> Option<CivilTime> {
    let binary = status_b & 0x04 != 0;
    let hour_24 = status_b & 0x02 != 0;
    let bcd = |v: u8| {
        if binary {
            v
        } else {
            (v & 0x0f) + (v >> 4) * 10
        }
    };
    let pm = raw[2] & 0x80 != 0;
    let mut hour = bcd(raw[2] & 0x7f) as u32;
    if !hour_24 {
        hour = (hour % 12) + if pm { 12 } else { 0 };
    }
    let century = match bcd(raw[6]) {
        19..=21 => bcd(raw[6]) as i64,
        _ => 20,
    };
    let t = CivilTime {
        year: century * 100 + bcd(raw[5]) as i64,
        month: bcd(raw[4]) as u32,
        day: bcd(raw[3]) as u32,
        hour,
        minute: bcd(raw[1]) as u32,
        second: bcd(raw[0]) as u32,
    };
    t.unix_seconds().map(|_| t)
}
