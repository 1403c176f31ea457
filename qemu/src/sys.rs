//! The two POSIX calls std does not offer.
#![allow(unsafe_code)]

use std::io;

/// Blocks until process `pid` (our child) has exited, without reaping it.
///
/// Leaving the zombie in place keeps the pid reserved, so the thread that owns
/// the `Child` can still kill or reap it with no risk of hitting a recycled
/// pid — that is what makes a timeout race-free.
pub fn wait_exit_keep_zombie(pid: u32) -> io::Result<()> {
    loop {
        // SAFETY: siginfo_t is plain old data; all-zero is a valid value.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: `info` is a valid, writable siginfo_t for the duration of
        // the call; waitid does not retain the pointer.
        let rc = unsafe {
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOWAIT,
            )
        };
        if rc == 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// Effective user id (0 = root: allowed to `apt-get install`).
pub fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}
