//! Minimal synchronisation for the few shared things that are not on the hot
//! path (console, boot-time tables). Hot cores never take these.

use core::cell::UnsafeCell;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicBool, Ordering};

/// A test-and-test-and-set spin lock.
pub struct SpinLock<T> {
    locked: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: access to `value` is serialised by `locked`.
#[allow(unsafe_code)]
unsafe impl<T: Send> Sync for SpinLock<T> {}

impl<T> SpinLock<T> {
    pub const fn new(value: T) -> Self {
        SpinLock {
            locked: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }

    pub fn lock(&self) -> SpinGuard<'_, T> {
        loop {
            if self
                .locked
                .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                return SpinGuard { lock: self };
            }
            while self.locked.load(Ordering::Relaxed) {
                core::hint::spin_loop();
            }
        }
    }

    /// Takes the lock if it is free.
    pub fn try_lock(&self) -> Option<SpinGuard<'_, T>> {
        self.locked
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .ok()
            .map(|_| SpinGuard { lock: self })
    }
}

pub struct SpinGuard<'a, T> {
    lock: &'a SpinLock<T>,
}

impl<T> Deref for SpinGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard proves we hold the lock.
        #[allow(unsafe_code)]
        unsafe {
            &*self.lock.value.get()
        }
    }
}

impl<T> DerefMut for SpinGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard proves we hold the lock exclusively.
        #[allow(unsafe_code)]
        unsafe {
            &mut *self.lock.value.get()
        }
    }
}

impl<T> Drop for SpinGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.locked.store(false, Ordering::Release);
    }
}

/// A value set up once while only the boot core runs, read-only afterwards
/// (descriptor tables, calibration results).
pub struct BootCell<T> {
    value: UnsafeCell<Option<T>>,
    ready: AtomicBool,
}

// SAFETY: written only through `init`, which fails on a second call; readers
// only see the value after the Release store that publishes it.
#[allow(unsafe_code)]
unsafe impl<T: Sync + Send> Sync for BootCell<T> {}

impl<T> BootCell<T> {
    pub const fn new() -> Self {
        BootCell {
            value: UnsafeCell::new(None),
            ready: AtomicBool::new(false),
        }
    }

    /// Stores the value once and returns a `'static` reference to it.
    /// `None` when it was set already.
    pub fn init(&'static self, value: T) -> Option<&'static T> {
        static INIT_LOCK: AtomicBool = AtomicBool::new(false);
        while INIT_LOCK
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            core::hint::spin_loop();
        }
        let result = if self.ready.load(Ordering::Acquire) {
            None
        } else {
            // SAFETY: not ready yet and INIT_LOCK held: no reader or writer exists.
            #[allow(unsafe_code)]
            unsafe {
                *self.value.get() = Some(value);
            }
            self.ready.store(true, Ordering::Release);
            self.get()
        };
        INIT_LOCK.store(false, Ordering::Release);
        result
    }

    pub fn get(&'static self) -> Option<&'static T> {
        if !self.ready.load(Ordering::Acquire) {
            return None;
        }
        // SAFETY: once ready the value is never written again.
        #[allow(unsafe_code)]
        unsafe {
            (*self.value.get()).as_ref()
        }
    }
}

impl<T> Default for BootCell<T> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::sync::Arc;

    #[test]
    fn spin_lock_serialises_increments() {
        let lock = Arc::new(SpinLock::new(0u64));
        let threads: std::vec::Vec<_> = (0..4)
            .map(|_| {
                let lock = lock.clone();
                std::thread::spawn(move || {
                    for _ in 0..50_000 {
                        *lock.lock() += 1;
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(*lock.lock(), 200_000);
        let held = lock.lock();
        assert!(lock.try_lock().is_none());
        drop(held);
        assert!(lock.try_lock().is_some());
    }

    #[test]
    fn boot_cell_is_set_once() {
        static CELL: BootCell<u32> = BootCell::new();
        assert!(CELL.get().is_none());
        assert_eq!(CELL.init(7), Some(&7));
        assert_eq!(CELL.init(8), None);
        assert_eq!(CELL.get(), Some(&7));
    }
}
