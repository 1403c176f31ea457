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
    fn member_dirs_lead_to_the_root() {
        let here = Path::new(env!("CARGO_MANIFEST_DIR"));
        let root = workspace_root_above(&here.join("src")).expect("root");
        assert_eq!(root, here.parent().expect("parent"));
        assert_eq!(workspace_root_above(Path::new("/")), None);
    }
}
