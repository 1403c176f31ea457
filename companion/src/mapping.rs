//! Mapping the mailbox region into this process, and the locks that keep two
//! companions from both writing one ring. The only unsafe code of the crate.
//!
//! - `--shm PATH`: the file QEMU's `memory-backend-file,share=on` maps as
//!   ivshmem BAR2; mapped `MAP_SHARED` in full.
//! - `--phys ADDR:LEN`: a reserved physical range on a real host, through
//!   `/dev/mem` (needs root and a kernel without `STRICT_DEVMEM` for that range).
//!
//! Rings are single-producer/single-consumer, so the command/reply pair and
//! the log ring each get an exclusive open-file-description lock (one byte of
//! the file each, released by the kernel when the process exits or crashes).
#![allow(unsafe_code)]

use protocol::mailbox::{Region, RegionError};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Which single-writer role a lock protects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Sends commands and consumes replies/events.
    Control = 0,
    /// Consumes log frames.
    Logs = 1,
}

/// A mapped region; unmapped on drop.
#[derive(Debug)]
pub struct Mapping {
    base: *mut u8,
    len: usize,
    lock_file: File,
    _file: File,
    /// Where it came from, for messages.
    pub source: String,
    /// Where the holder of the control role serves other processes'
    /// commands (see `control`).
    pub control_path: PathBuf,
}

// SAFETY: the mapping is plain shared memory owned by this value; all access
// goes through `Region`, which only performs atomic word operations.
unsafe impl Send for Mapping {}
// SAFETY: as above.
unsafe impl Sync for Mapping {}

fn map(file: &File, len: usize, offset: u64) -> io::Result<*mut u8> {
    let off = libc::off_t::try_from(offset)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "offset too large"))?;
    // SAFETY: a fresh shared mapping of an open file descriptor; the kernel
    // validates fd, length and offset, and we check for MAP_FAILED.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            file.as_raw_fd(),
            off,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    Ok(p.cast())
}

impl Mapping {
    /// Maps a /dev/shm (or any) file in full.
    pub fn open_shm(path: &Path) -> io::Result<Mapping> {
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        let len = usize::try_from(file.metadata()?.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "file too large"))?;
        if len == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "region file is empty",
            ));
        }
        let base = map(&file, len, 0)?;
        let lock_file = file.try_clone()?;
        Ok(Mapping {
            base,
            len,
            lock_file,
            _file: file,
            source: path.display().to_string(),
            control_path: {
                let mut p = path.as_os_str().to_owned();
                p.push(".control");
                PathBuf::from(p)
            },
        })
    }

    /// Maps `len` bytes of physical memory at `addr` through /dev/mem.
    pub fn open_phys(addr: u64, len: usize) -> io::Result<Mapping> {
        // SAFETY: sysconf has no memory-safety preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64;
        if page == 0 || !addr.is_multiple_of(page) || len == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "ADDR must be page-aligned and LEN non-zero",
            ));
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_SYNC)
            .open("/dev/mem")?;
        let base = map(&file, len, addr)?;
        // /dev/mem is shared by everything on the host: lock a file of our own instead.
        let lock_dir = if Path::new("/run/lock").is_dir() {
            PathBuf::from("/run/lock")
        } else {
            std::env::temp_dir()
        };
        let lock_path = lock_dir.join(format!("companion-phys-{addr:x}.lock"));
        let control_path = lock_dir.join(format!("companion-phys-{addr:x}.control"));
        let lock_file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&lock_path)?;
        Ok(Mapping {
            base,
            len,
            lock_file,
            _file: file,
            source: format!("/dev/mem@{addr:#x}+{len:#x}"),
            control_path,
        })
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The region view of the mapping.
    pub fn region(&self) -> Result<Region, RegionError> {
        // SAFETY: `base..base+len` is mapped read/write for as long as `self`
        // lives, and callers keep the `Mapping` alive while they use the
        // region; this process touches it only through `Region`.
        unsafe { Region::new(self.base, self.len) }
    }

    /// Takes the exclusive lock for `role` without waiting; `Ok(false)` if
    /// another process holds it.
    pub fn try_lock(&self, role: Role) -> io::Result<bool> {
        // SAFETY: `flock` is a plain C struct for which all-zero is valid.
        let mut fl: libc::flock = unsafe { std::mem::zeroed() };
        fl.l_type = libc::F_WRLCK as _;
        fl.l_whence = libc::SEEK_SET as _;
        fl.l_start = role as libc::off_t;
        fl.l_len = 1;
        // SAFETY: fcntl on our own open descriptor with a valid flock pointer.
        let r = unsafe { libc::fcntl(self.lock_file.as_raw_fd(), libc::F_OFD_SETLK, &fl) };
        if r == 0 {
            return Ok(true);
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EAGAIN) | Some(libc::EACCES) => Ok(false),
            _ => Err(e),
        }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the mapping created in `open_*`; regions
        // derived from it are not used after the `Mapping` is dropped.
        unsafe { libc::munmap(self.base.cast(), self.len) };
    }
}

/// Parses `ADDR:LEN` (hex with 0x or decimal; LEN may end in K, M or G).
pub fn parse_phys(spec: &str) -> Result<(u64, usize), String> {
    let (a, l) = spec.split_once(':').ok_or("expected ADDR:LEN")?;
    let num = |s: &str| -> Result<u64, String> {
        let s = s.trim();
        let (digits, mult) = match s.chars().last() {
            Some('K' | 'k') => (&s[..s.len() - 1], 1u64 << 10),
            Some('M' | 'm') => (&s[..s.len() - 1], 1 << 20),
            Some('G' | 'g') => (&s[..s.len() - 1], 1 << 30),
            _ => (s, 1),
        };
        let v = match digits
            .strip_prefix("0x")
            .or_else(|| digits.strip_prefix("0X"))
        {
            Some(hex) => u64::from_str_radix(hex, 16),
            None => digits.parse(),
        }
        .map_err(|e| format!("bad number {s:?}: {e}"))?;
        v.checked_mul(mult)
            .ok_or_else(|| format!("{s:?} overflows"))
    };
    let len = usize::try_from(num(l)?).map_err(|_| "LEN too large".to_string())?;
    Ok((num(a)?, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phys_spec_parses_hex_and_suffixes() {
        assert_eq!(parse_phys("0x100000000:1M"), Ok((0x1_0000_0000, 1 << 20)));
        assert_eq!(parse_phys("4096:8192"), Ok((4096, 8192)));
        assert!(parse_phys("0x1000").is_err());
        assert!(parse_phys("zz:1").is_err());
        assert!(parse_phys("1:99999999999G").is_err());
    }
}
