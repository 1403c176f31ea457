//! Small libc wrappers (terminal mode, user id, stdin polling).
#![allow(unsafe_code)]

use std::io;

/// Effective user id of this process.
pub fn euid() -> u32 {
    // SAFETY: geteuid takes no arguments, touches no memory and cannot fail.
    unsafe { libc::geteuid() }
}

/// Puts a terminal into raw-ish mode (no echo, no line buffering) and restores it on drop.
pub struct RawTerminal {
    saved: libc::termios,
}

impl RawTerminal {
    /// `None` if stdin is not a terminal.
    pub fn enter() -> Option<RawTerminal> {
        // SAFETY: termios is a plain C struct; all-zero is a valid value to fill in.
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: tcgetattr writes into our valid termios on fd 0.
        if unsafe { libc::tcgetattr(0, &mut t) } != 0 {
            return None;
        }
        let saved = t;
        t.c_lflag &= !(libc::ICANON | libc::ECHO);
        t.c_cc[libc::VMIN] = 0;
        t.c_cc[libc::VTIME] = 0;
        // SAFETY: tcsetattr reads our valid termios for fd 0.
        if unsafe { libc::tcsetattr(0, libc::TCSANOW, &t) } != 0 {
            return None;
        }
        Some(RawTerminal { saved })
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        // SAFETY: restores the attributes saved in `enter` on the same fd.
        unsafe { libc::tcsetattr(0, libc::TCSANOW, &self.saved) };
    }
}

/// Waits up to `timeout_ms` for a byte on stdin; `Ok(None)` on timeout, `Ok(Some(None))` on EOF.
pub fn read_key(timeout_ms: i32) -> io::Result<Option<Option<u8>>> {
    let mut fds = libc::pollfd {
        fd: 0,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: poll on one valid pollfd we own.
    let r = unsafe { libc::poll(&mut fds, 1, timeout_ms) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    if r == 0 {
        return Ok(None);
    }
    let mut b = [0u8; 1];
    // SAFETY: reading at most 1 byte into our 1-byte buffer.
    let n = unsafe { libc::read(0, b.as_mut_ptr().cast(), 1) };
    match n {
        1 => Ok(Some(Some(b[0]))),
        0 => Ok(Some(None)),
        _ => Err(io::Error::last_os_error()),
    }
}
