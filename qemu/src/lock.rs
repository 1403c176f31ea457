use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// An exclusive advisory lock (`flock`) on a file, released on drop.
///
/// `flock` locks belong to the open file description, so two threads of one
/// process that each call [`FileLock::acquire`] exclude each other just like
/// two processes do: parallel test threads and parallel test binaries are
/// serialised alike.
#[derive(Debug)]
pub struct FileLock {
    file: File,
    path: PathBuf,
}

impl FileLock {
    /// Blocks until the lock on `path` (created if needed) is ours.
    pub fn acquire(path: &Path) -> Result<FileLock> {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(Error::io(format!("creating {}", dir.display())))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(Error::io(format!("opening lock file {}", path.display())))?;
        file.lock()
            .map_err(Error::io(format!("locking {}", path.display())))?;
        Ok(FileLock {
            file,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        // Closing the file would release it too; unlocking first is explicit.
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn lock_excludes_other_threads() {
        let dir = std::env::temp_dir().join(crate::unique_name("lock-test"));
        let path = dir.join("x.lock");
        let inside = Arc::new(AtomicU32::new(0));
        let max_seen = Arc::new(AtomicU32::new(0));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (path, inside, max_seen) = (path.clone(), inside.clone(), max_seen.clone());
                std::thread::spawn(move || {
                    let _guard = FileLock::acquire(&path).expect("lock");
                    let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                    max_seen.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(20));
                    inside.fetch_sub(1, Ordering::SeqCst);
                })
            })
            .collect();
        for t in threads {
            t.join().expect("thread");
        }
        assert_eq!(max_seen.load(Ordering::SeqCst), 1);
        let _ = fs::remove_dir_all(dir);
    }
}
