//! A global allocator for the host tools (replay, benches, backtest) that
//! gives large tables the page size the appliance gives them.
//!
//! The book allocates its tables once (`Box<[T]>` of hundreds of MiB) and
//! then reads them at random. With 4 KiB pages nearly every such read is also
//! a TLB miss (a page walk of its own); the appliance maps its memory with
//! 2 MiB / 1 GiB pages, so a host measurement with 4 KiB pages mostly measures
//! the page walks. [`HugeAlloc`] serves every allocation of at least
//! [`HUGE_THRESHOLD`] bytes from its own anonymous `mmap` region, aligned to
//! 2 MiB and a multiple of 2 MiB long, advised `MADV_HUGEPAGE` (transparent
//! huge pages in `madvise` mode take only such regions) and **prefaulted**:
//! every page is touched before the allocation is returned, so no page fault
//! lands in a timed loop later. Smaller allocations go to the system
//! allocator unchanged.
//!
//! ```ignore
//! #[global_allocator]
//! static ALLOC: hugealloc::HugeAlloc = hugealloc::HugeAlloc;
//! ```
//!
//! Whether the kernel actually used huge pages is visible afterwards in
//! [`anon_huge_pages_bytes`] (`AnonHugePages` of `/proc/self/smaps_rollup`).
//! If transparent huge pages are off, or no 2 MiB page is free, the region
//! still works with 4 KiB pages.
//!
//! Also here, because every user of the allocator reports them: peak resident
//! memory ([`peak_rss_bytes`]), thread CPU time ([`thread_cpu_ns`]), the
//! time-stamp counter ([`tsc`]) and the load average ([`load_average`]).

use std::alloc::{GlobalAlloc, Layout, System};
use std::ptr;

/// Huge page size used for alignment and rounding.
pub const HUGE_PAGE: usize = 2 << 20;

/// Allocations of at least this many bytes get their own huge-page region.
pub const HUGE_THRESHOLD: usize = HUGE_PAGE;

/// Bytes between two prefault touches: the smallest page size, so every page
/// is faulted in whether or not the kernel chose a huge page for it.
const SMALL_PAGE: usize = 4096;

/// The allocator; see the crate documentation.
pub struct HugeAlloc;

#[inline]
fn is_large(layout: Layout) -> bool {
    layout.size() >= HUGE_THRESHOLD
}

#[inline]
fn region_len(size: usize) -> Option<usize> {
    size.checked_add(HUGE_PAGE - 1)
        .map(|n| n & !(HUGE_PAGE - 1))
}

/// Maps a 2 MiB-aligned anonymous region of `len` bytes (a multiple of
/// 2 MiB), advises huge pages and touches every page. Null on failure.
fn map_region(len: usize) -> *mut u8 {
    let Some(padded) = len.checked_add(HUGE_PAGE) else {
        return ptr::null_mut();
    };
    // SAFETY: an anonymous private mapping at an address of the kernel's
    // choosing; no existing memory is affected.
    let raw = unsafe {
        libc::mmap(
            ptr::null_mut(),
            padded,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if raw == libc::MAP_FAILED {
        return ptr::null_mut();
    }
    let start = raw as usize;
    let aligned = (start + HUGE_PAGE - 1) & !(HUGE_PAGE - 1);
    let head = aligned - start;
    let tail = padded - head - len;
    // SAFETY: [start, start + head) and [aligned + len, start + padded) lie
    // inside the mapping just created and nothing refers to them; unmapping
    // them leaves exactly [aligned, aligned + len) mapped.
    unsafe {
        if head > 0 {
            libc::munmap(raw, head);
        }
        if tail > 0 {
            libc::munmap((aligned + len) as *mut libc::c_void, tail);
        }
    }
    let region = aligned as *mut u8;
    // SAFETY: `region` is the start of a mapping of `len` bytes owned here.
    // The advice is only a hint: if it is refused (THP disabled) the region
    // keeps 4 KiB pages, so the result is deliberately ignored.
    unsafe {
        libc::madvise(region.cast(), len, libc::MADV_HUGEPAGE);
    }
    let mut offset = 0;
    while offset < len {
        // SAFETY: `offset < len`, inside the mapping; fresh anonymous memory
        // reads as zero, so writing zero changes no value (the region also
        // serves `alloc_zeroed`). The volatile write forces the page fault.
        unsafe { ptr::write_volatile(region.add(offset), 0u8) };
        offset += SMALL_PAGE;
    }
    region
}

// SAFETY: large blocks come from `map_region` (aligned to 2 MiB, at least
// `layout.size()` bytes, zero-filled) and go back with `munmap` of the same
// rounded length; whether a block is large depends only on its layout's size,
// which the caller passes identically to `alloc` and `dealloc`. Layouts
// aligned beyond 2 MiB are never large. Everything else is the system
// allocator's.
unsafe impl GlobalAlloc for HugeAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if is_large(layout) && layout.align() <= HUGE_PAGE {
            match region_len(layout.size()) {
                Some(len) => map_region(len),
                None => ptr::null_mut(),
            }
        } else {
            // SAFETY: forwarded with the caller's guarantees.
            unsafe { System.alloc(layout) }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if is_large(layout) && layout.align() <= HUGE_PAGE {
            // SAFETY: same contract as `alloc`; mapped regions start zeroed.
            unsafe { self.alloc(layout) }
        } else {
            // SAFETY: forwarded with the caller's guarantees.
            unsafe { System.alloc_zeroed(layout) }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if is_large(layout) && layout.align() <= HUGE_PAGE {
            if let Some(len) = region_len(layout.size()) {
                // SAFETY: `ptr` came from `map_region(len)` for this layout.
                unsafe {
                    libc::munmap(ptr.cast(), len);
                }
            }
        } else {
            // SAFETY: `ptr` came from `System` with this layout.
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let Ok(new_layout) = Layout::from_size_align(new_size, layout.align()) else {
            return ptr::null_mut();
        };
        if !is_large(layout) && !is_large(new_layout) {
            // SAFETY: both sides belong to the system allocator.
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        // SAFETY: `new_layout` is valid and non-zero-sized (it is large or
        // `layout` was); the old block holds `layout.size()` readable bytes
        // and the new one at least `new_size`; the old block is released
        // with the layout it was allocated with.
        unsafe {
            let new = self.alloc(new_layout);
            if !new.is_null() {
                ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
            new
        }
    }
}

/// One `kB` field of a `/proc` status-like file, in bytes.
fn proc_field_bytes(path: &str, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        let kb: u64 = rest.trim().trim_end_matches("kB").trim().parse().ok()?;
        Some(kb * 1024)
    })
}

/// Anonymous memory of this process currently backed by transparent huge
/// pages (`AnonHugePages` of `/proc/self/smaps_rollup`).
pub fn anon_huge_pages_bytes() -> Option<u64> {
    proc_field_bytes("/proc/self/smaps_rollup", "AnonHugePages")
}

/// Peak resident set size of this process (`VmHWM` of `/proc/self/status`).
/// Includes file pages mapped and touched (a memory-mapped input file).
pub fn peak_rss_bytes() -> Option<u64> {
    proc_field_bytes("/proc/self/status", "VmHWM")
}

/// Anonymous resident memory of this process (`RssAnon` of
/// `/proc/self/status`): the heap and tables, without mapped files.
pub fn rss_anon_bytes() -> Option<u64> {
    proc_field_bytes("/proc/self/status", "RssAnon")
}

/// CPU time consumed by the calling thread, in ns. On a shared machine wall
/// time includes time spent descheduled; this does not.
pub fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the call only fills it.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return 0;
    }
    (ts.tv_sec as u64).saturating_mul(1_000_000_000) + ts.tv_nsec as u64
}

/// What one interval timed with the clock `read` (in ns) costs on its
/// own: the smallest of 1,001 intervals with nothing in them (the second
/// read of each minus the first). The smallest, not a typical one:
/// subtracting it never takes off more than the clock itself cost.
pub fn clock_cost_ns(mut read: impl FnMut() -> u64) -> u64 {
    (0..1_001)
        .map(|_| {
            let start = read();
            read().saturating_sub(start)
        })
        .min()
        .unwrap_or(0)
}

/// [`clock_cost_ns`] of [`thread_cpu_ns`]. That clock is a system call,
/// never a vDSO read: the kernel's entry and exit around each reading
/// count as the thread's CPU time, some 510 ns an interval on the
/// project's VM (~100–200 ns on bare metal), which a chunk of 1,024
/// operations timed this way would otherwise count as 0.5 ns of each.
pub fn thread_cpu_clock_cost_ns() -> u64 {
    clock_cost_ns(thread_cpu_ns)
}

/// The time-stamp counter (for per-message timing; `rdtsc` costs ~10–20 ns).
#[inline(always)]
pub fn tsc() -> u64 {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `rdtsc` only reads the time-stamp counter, which every x86_64
    // CPU has; it touches no memory.
    unsafe {
        core::arch::x86_64::_rdtsc()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        use std::sync::OnceLock;
        static START: OnceLock<std::time::Instant> = OnceLock::new();
        START
            .get_or_init(std::time::Instant::now)
            .elapsed()
            .as_nanos() as u64
    }
}

/// The core's speed right now, in GHz: a chain of dependent additions
/// (one per cycle on every x86_64 core) timed on the thread's CPU clock
/// for ~`ms` milliseconds — the clock, less whatever shares the core (a
/// sibling hyperthread, time the host steals). On a shared VM the host
/// decides it: its slow phases are this figure dropping (3.2 against ~4
/// GHz on the CI-class host), so a benchmark that prints it beside its
/// times says which phase they were taken in. `None` off x86_64.
pub fn core_clock_ghz(ms: u64) -> Option<f64> {
    #[cfg(target_arch = "x86_64")]
    {
        const STEP: u64 = 1 << 20;
        let start = thread_cpu_ns();
        let (mut adds, mut x) = (0u64, 0u64);
        while thread_cpu_ns().saturating_sub(start) < ms.saturating_mul(1_000_000) {
            for _ in 0..STEP / 8 {
                // SAFETY: eight register additions; no memory, stack or
                // flags the compiler relies on (`nomem`, `nostack`).
                unsafe {
                    core::arch::asm!(
                        "add {0}, 1", "add {0}, 1", "add {0}, 1", "add {0}, 1",
                        "add {0}, 1", "add {0}, 1", "add {0}, 1", "add {0}, 1",
                        inout(reg) x,
                        options(nomem, nostack),
                    );
                }
            }
            adds += STEP;
        }
        std::hint::black_box(x);
        let ns = thread_cpu_ns().saturating_sub(start);
        (ns > 0).then(|| adds as f64 / ns as f64)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = ms;
        None
    }
}

/// Wall-clock nanoseconds since `t` (saturating).
pub fn elapsed_ns(t: std::time::Instant) -> u64 {
    u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// The best (smallest) of `samples` and their median (the mean of the two
/// middle ones for an even count): the two figures a benchmark on a shared
/// machine reports of its rounds. NaN for both without samples.
pub fn best_and_median(samples: &[f64]) -> (f64, f64) {
    let mut s = samples.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    match n {
        0 => (f64::NAN, f64::NAN),
        _ if n % 2 == 1 => (s[0], s[n / 2]),
        _ => (s[0], (s[n / 2 - 1] + s[n / 2]) / 2.0),
    }
}

/// The 1, 5 and 15 minute load averages, as `/proc/loadavg` prints them.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[global_allocator]
    static ALLOC: HugeAlloc = HugeAlloc;

    #[test]
    fn best_and_median_of_odd_even_and_no_rounds() {
        assert_eq!(best_and_median(&[3.0, 1.0, 2.0]), (1.0, 2.0));
        assert_eq!(best_and_median(&[4.0, 1.0, 3.0, 2.0]), (1.0, 2.5));
        assert_eq!(best_and_median(&[7.0]), (7.0, 7.0));
        let (best, median) = best_and_median(&[]);
        assert!(best.is_nan() && median.is_nan());
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn the_core_clock_reads_as_a_real_clock_rate() {
        let ghz = core_clock_ghz(20).expect("x86_64");
        // Debug builds loop around the additions; still far from 0 and
        // from any clock a core runs at.
        assert!((0.05..8.0).contains(&ghz), "{ghz} GHz");
    }

    #[test]
    fn large_blocks_are_aligned_zeroed_and_writable() {
        let mut v: Vec<u64> = vec![0; (3 << 20) / 8 + 5];
        assert_eq!(v.as_ptr() as usize % HUGE_PAGE, 0);
        assert!(v.iter().all(|&x| x == 0));
        for (i, x) in v.iter_mut().enumerate() {
            *x = i as u64;
        }
        assert_eq!(v[v.len() - 1], v.len() as u64 - 1);
        let filled = vec![7u32; HUGE_PAGE];
        assert!(filled.iter().all(|&x| x == 7));
    }

    #[test]
    fn growing_across_the_threshold_keeps_contents() {
        let mut v: Vec<u8> = Vec::new();
        for i in 0..(5 << 20) {
            v.push(i as u8);
        }
        assert!(v.iter().enumerate().all(|(i, &b)| b == i as u8));
        v.truncate(100);
        v.shrink_to_fit();
        assert!(v.iter().enumerate().all(|(i, &b)| b == i as u8));
    }

    #[test]
    fn the_clock_cost_is_the_smallest_empty_interval() {
        // A clock that moves on by 7, 5, 9, 6 and 12 ns in turn after each
        // reading: every step is some interval's cost (an odd cycle against
        // pairs of readings), and the smallest, 5, is the clock's cost.
        let steps = [7u64, 5, 9, 6, 12];
        let (mut now, mut n) = (1_000u64, 0usize);
        let cost = clock_cost_ns(|| {
            let t = now;
            now += steps[n % steps.len()];
            n += 1;
            t
        });
        assert_eq!(cost, 5);
        assert_eq!(n, 2 * 1_001, "two readings an interval");
        // The thread CPU clock's own (a system call): well below a
        // millisecond. (Comparing it with a later sample of the same clock
        // would test the machine's phase, not the code.)
        let real = thread_cpu_clock_cost_ns();
        assert!(real < 1_000_000, "{real} ns");
    }

    #[test]
    fn readings_are_available_on_linux() {
        assert!(peak_rss_bytes().is_some());
        assert!(rss_anon_bytes().is_some());
        assert!(thread_cpu_ns() > 0);
        let _ = anon_huge_pages_bytes();
        assert!(!load_average().is_empty());
    }
}
