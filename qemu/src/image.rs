//! Building the bare-metal image (`boot/`) for `x86_64-unknown-none`.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::{Error, FileLock, Repo, Result};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Profile {
    /// What the image contract specifies and what tests and benchmarks boot.
    #[default]
    Release,
    /// Unoptimised; for stepping through in a debugger.
    Dev,
}

impl Profile {
    /// The directory cargo writes this profile's output to.
    pub fn dir_name(self) -> &'static str {
        match self {
            Profile::Release => "release",
            Profile::Dev => "debug",
        }
    }
}

/// Where cargo's own output goes while building.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BuildOutput {
    /// To our stderr, as it happens (the CLI).
    Inherit,
    /// Captured and shown only if the build fails (tests).
    Capture,
}

/// The two kernels the boot crate produces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Images {
    /// The appliance.
    pub appliance: PathBuf,
    /// A minimal PVH kernel that only exits successfully: the boot-time
    /// baseline.
    pub bare: PathBuf,
    pub profile: Profile,
}

/// Environment an outer `cargo run`/`cargo test`/coverage tool may have set
/// that must not reach the image build:
/// - `RUSTFLAGS` and friends replace (not extend) `boot/.cargo/config.toml`'s
///   rustflags, losing the linker script and `relocation-model=static`;
///   coverage tools put `-C instrument-coverage` there, which cannot link for
///   `x86_64-unknown-none`.
/// - target/target-dir overrides would build for the host or into the host's
///   target dir.
/// - `RUSTC_WORKSPACE_WRAPPER` is how clippy and coverage tools hook rustc.
/// - the jobserver variables point at file descriptors we did not inherit.
///
/// `RUSTC_WRAPPER` is kept on purpose: compiler caches such as sccache work
/// for any target and save minutes.
pub const SCRUBBED_ENV: &[&str] = &[
    "RUSTFLAGS",
    "CARGO_ENCODED_RUSTFLAGS",
    "CARGO_BUILD_RUSTFLAGS",
    "RUSTDOCFLAGS",
    "CARGO_ENCODED_RUSTDOCFLAGS",
    "CARGO_BUILD_TARGET",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET_DIR",
    "RUSTC_WORKSPACE_WRAPPER",
    "CARGO_BUILD_RUSTC_WORKSPACE_WRAPPER",
    "CARGO_MAKEFLAGS",
    "MAKEFLAGS",
    "MFLAGS",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_MANIFEST_DIR",
    "CARGO_MANIFEST_PATH",
    "LLVM_PROFILE_FILE",
];

/// The exact cargo invocation for the image (not yet run).
pub fn cargo_build_command(repo: &Repo, profile: Profile) -> Command {
    let mut cmd = Command::new("cargo");
    cmd.arg("build");
    if profile == Profile::Release {
        cmd.arg("--release");
    }
    cmd.arg("--target-dir")
        .arg(repo.image_target_dir())
        .current_dir(repo.boot_dir());
    for var in SCRUBBED_ENV {
        cmd.env_remove(var);
    }
    cmd
}

/// Builds `appliance` and `bare`. Concurrent callers (threads or processes)
/// take turns; cargo makes the second build a no-op.
pub fn build_image(repo: &Repo, profile: Profile, output: BuildOutput) -> Result<Images> {
    if !repo.boot_dir().join("Cargo.toml").is_file() {
        return Err(Error::NoBootCrate(repo.boot_dir()));
    }
    crate::tools::ensure_image_target(repo)?;
    let _lock = FileLock::acquire(&repo.locks_dir().join("build-image.lock"))?;
    let mut cmd = cargo_build_command(repo, profile);
    let what = format!(
        "building the image (cargo build in {})",
        repo.boot_dir().display()
    );
    match output {
        BuildOutput::Inherit => {
            let status = cmd.status().map_err(Error::io("running cargo"))?;
            if !status.success() {
                return Err(Error::Command {
                    what,
                    status,
                    output: String::new(),
                });
            }
        }
        BuildOutput::Capture => {
            let out = cmd
                .stdin(Stdio::null())
                .output()
                .map_err(Error::io("running cargo"))?;
            if !out.status.success() {
                return Err(Error::Command {
                    what,
                    status: out.status,
                    output: String::from_utf8_lossy(&out.stderr).into_owned(),
                });
            }
        }
    }
    let dir = repo
        .image_target_dir()
        .join("x86_64-unknown-none")
        .join(profile.dir_name());
    let images = Images {
        appliance: dir.join("appliance"),
        bare: dir.join("bare"),
        profile,
    };
    for elf in [&images.appliance, &images.bare] {
        if !elf.is_file() {
            return Err(Error::MissingArtifact(elf.clone()));
        }
    }
    Ok(images)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn build_command_runs_in_boot_with_separate_target_dir() {
        let repo = Repo::at("/r");
        let cmd = cargo_build_command(&repo, Profile::Release);
        assert_eq!(cmd.get_program(), "cargo");
        let args: Vec<&OsStr> = cmd.get_args().collect();
        assert_eq!(
            args,
            ["build", "--release", "--target-dir", "/r/target/image"]
        );
        assert_eq!(cmd.get_current_dir(), Some(std::path::Path::new("/r/boot")));
        let dev = cargo_build_command(&repo, Profile::Dev);
        assert!(!dev.get_args().any(|a| a == "--release"));
    }

    #[test]
    fn leaking_env_is_removed_and_wrapper_kept() {
        let cmd = cargo_build_command(&Repo::at("/r"), Profile::Release);
        let removed: Vec<&OsStr> = cmd
            .get_envs()
            .filter(|(_, v)| v.is_none())
            .map(|(k, _)| k)
            .collect();
        for var in [
            "RUSTFLAGS",
            "CARGO_ENCODED_RUSTFLAGS",
            "CARGO_BUILD_TARGET",
            "CARGO_TARGET_DIR",
        ] {
            assert!(removed.contains(&OsStr::new(var)), "{var} not removed");
        }
        assert!(!removed.contains(&OsStr::new("RUSTC_WRAPPER")));
    }

    #[test]
    fn missing_boot_crate_is_reported() {
        let repo = Repo::at(std::env::temp_dir().join(crate::unique_name("no-repo")));
        let err = build_image(&repo, Profile::Release, BuildOutput::Capture).unwrap_err();
        assert!(matches!(&err, Error::NoBootCrate(p) if p.ends_with("boot")));
        assert!(err.to_string().contains("boot/Cargo.toml"), "{err}");
    }
}
