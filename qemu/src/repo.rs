use std::fs;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// The workspace checkout: where `boot/` is and where runs leave their files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Repo {
    root: PathBuf,
}

impl Repo {
    /// Finds the workspace root by walking up from, in order: the
    /// `CARGO_MANIFEST_DIR` cargo sets for `cargo run`/`cargo test`, the
    /// current directory, and the directory this crate was compiled from.
    pub fn locate() -> Result<Repo> {
        let mut starts = Vec::new();
        if let Some(dir) = std::env::var_os("CARGO_MANIFEST_DIR") {
            starts.push(PathBuf::from(dir));
        }
        if let Ok(dir) = std::env::current_dir() {
            starts.push(dir);
        }
        starts.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")));
        for start in &starts {
            if let Some(root) = workspace_root_above(start) {
                return Ok(Repo { root });
            }
        }
        Err(Error::RepoNotFound { searched: starts })
    }

    /// A repository at a known place (no checks).
    pub fn at(root: impl Into<PathBuf>) -> Repo {
        Repo { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The bare-metal image crate; cargo must run with this as cwd.
    pub fn boot_dir(&self) -> PathBuf {
        self.root.join("boot")
    }

    /// `--target-dir` for the image build, apart from the host build's.
    pub fn image_target_dir(&self) -> PathBuf {
        self.root.join("target").join("image")
    }

    /// Parent of every run directory.
    pub fn runs_dir(&self) -> PathBuf {
        self.root.join("target").join("qemu-runs")
    }

    /// Deletes all but the `keep` most recent run directories (by
    /// modification time), so kept serial logs do not pile up forever.
    /// Returns how many were removed.
    pub fn prune_runs(&self, keep: usize) -> usize {
        let Ok(entries) = fs::read_dir(self.runs_dir()) else {
            return 0;
        };
        let mut dirs: Vec<(std::time::SystemTime, PathBuf)> = entries
            .filter_map(|e| {
                let e = e.ok()?;
                let meta = e.metadata().ok()?;
                if !meta.is_dir() {
                    return None;
                }
                Some((meta.modified().ok()?, e.path()))
            })
            .collect();
        dirs.sort_by_key(|(modified, _)| std::cmp::Reverse(*modified));
        dirs.iter()
            .skip(keep)
            .filter(|(_, dir)| fs::remove_dir_all(dir).is_ok())
            .count()
    }

    /// Where the lab keeps its lock files.
    pub fn locks_dir(&self) -> PathBuf {
        self.root.join("target").join("qemu-locks")
    }
}

fn workspace_root_above(start: &Path) -> Option<PathBuf> {
    start.ancestors().find_map(|dir| {
        let manifest = fs::read_to_string(dir.join("Cargo.toml")).ok()?;
        manifest
            .lines()
            .any(|l| l.trim() == "[workspace]")
            .then(|| dir.to_path_buf())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_this_workspace() {
        let repo = Repo::locate().expect("repo");
        assert!(repo.root().join("qemu").join("Cargo.toml").is_file());
        assert!(repo.runs_dir().starts_with(repo.root().join("target")));
    }

    #[test]
    fn prune_keeps_the_newest_runs() {
        let repo = Repo::at(std::env::temp_dir().join(crate::unique_name("prune-test")));
        let runs = repo.runs_dir();
        for (i, age_s) in [30u64, 10, 20, 40].iter().enumerate() {
            let dir = runs.join(format!("run{i}"));
            fs::create_dir_all(&dir).expect("dir");
            let when = std::time::SystemTime::now() - std::time::Duration::from_secs(*age_s);
            fs::File::open(&dir)
                .and_then(|f| f.set_modified(when))
                .expect("mtime");
        }
        assert_eq!(repo.prune_runs(2), 2);
        let mut left: Vec<String> = fs::read_dir(&runs)
            .expect("read")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["run1", "run2"]);
        assert_eq!(repo.prune_runs(2), 0);
        fs::remove_dir_all(repo.root()).expect("cleanup");
    }

    #[test]
    fn member_dirs_lead_to_the_root() {
        let here = Path::new(env!("CARGO_MANIFEST_DIR"));
        let root = workspace_root_above(&here.join("src")).expect("root");
        assert_eq!(root, here.parent().expect("parent"));
        assert_eq!(workspace_root_above(Path::new("/")), None);
    }
}
