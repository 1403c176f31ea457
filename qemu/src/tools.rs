//! Making sure QEMU and the ISO tools are installed.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::{Error, FileLock, Repo, Result};

pub const QEMU_BINARY: &str = "qemu-system-x86_64";

/// GRUB's BIOS modules; without them `grub-mkrescue` cannot make an image
/// SeaBIOS boots.
const GRUB_PC_MODULES: &str = "/usr/lib/grub/i386-pc";

/// `program` on `$PATH`, if any.
pub fn find_in_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Makes sure `qemu-system-x86_64` is available (installing Debian's
/// `qemu-system-x86` when running as root with apt-get).
pub fn ensure_qemu(repo: &Repo) -> Result<PathBuf> {
    ensure(repo, &["qemu-system-x86"], missing_qemu)?;
    find_in_path(QEMU_BINARY).ok_or_else(|| Error::ToolMissing {
        tool: QEMU_BINARY.into(),
        install: install_command(&["qemu-system-x86"]),
        detail: None,
    })
}

/// Makes sure `grub-mkrescue` can build a BIOS-bootable ISO: grub-common,
/// grub-pc-bin, xorriso and mtools.
pub fn ensure_iso_tools(repo: &Repo) -> Result<()> {
    ensure(repo, ISO_PACKAGES, missing_iso_tools)
}

const ISO_PACKAGES: &[&str] = &["grub-pc-bin", "grub-common", "xorriso", "mtools"];

/// Makes sure a QuickFIX/C++ program can be built: Debian's
/// `libquickfix-dev`, a C++ compiler and pkg-config. The FIX
/// interoperability tests build their venue with them.
pub fn ensure_quickfix(repo: &Repo) -> Result<()> {
    ensure(repo, QUICKFIX_PACKAGES, missing_quickfix)
}

const QUICKFIX_PACKAGES: &[&str] = &["libquickfix-dev", "g++", "pkg-config"];
/// A header of the library's acceptor: present once `libquickfix-dev` is.
pub const QUICKFIX_HEADER: &str = "/usr/include/quickfix/SocketAcceptor.h";

fn missing_quickfix() -> Vec<String> {
    let mut missing = missing_programs(&["g++", "pkg-config"]);
    if !Path::new(QUICKFIX_HEADER).is_file() {
        missing.push(QUICKFIX_HEADER.to_string());
    }
    missing
}
const ISO_PROGRAMS: &[&str] = &["grub-mkrescue", "xorriso", "mformat"];

fn missing_iso_tools() -> Vec<String> {
    let mut missing = missing_programs(ISO_PROGRAMS);
    if !Path::new(GRUB_PC_MODULES).is_dir() {
        missing.push(GRUB_PC_MODULES.to_string());
    }
    missing
}

fn missing_qemu() -> Vec<String> {
    missing_programs(&[QEMU_BINARY])
}

fn missing_programs(programs: &[&str]) -> Vec<String> {
    programs
        .iter()
        .filter(|p| find_in_path(p).is_none())
        .map(|p| p.to_string())
        .collect()
}

/// The command a user runs to install `packages`.
fn install_command(packages: &[&str]) -> String {
    let sudo = if crate::sys::effective_uid() == 0 {
        ""
    } else {
        "sudo "
    };
    format!("{sudo}apt-get install -y {}", packages.join(" "))
}

/// The bare-metal target the image is built for.
pub const IMAGE_TARGET: &str = "x86_64-unknown-none";

/// Makes sure the toolchain that builds `boot/` (the one `rust-toolchain.toml`
/// names) has the image target's standard library. rustup installs the
/// toolchain file's `targets` only when it installs the toolchain itself; a
/// machine whose `stable` came without them gets the target added here, once,
/// under a lock shared by every test thread and process.
pub fn ensure_image_target(repo: &Repo) -> Result<()> {
    let boot = repo.boot_dir();
    if target_installed(&boot) {
        return Ok(());
    }
    let _lock = FileLock::acquire(&repo.locks_dir().join("rustup.lock"))?;
    if target_installed(&boot) {
        return Ok(());
    }
    let install = format!("rustup target add {IMAGE_TARGET}");
    if find_in_path("rustup").is_none() {
        return Err(Error::ToolMissing {
            tool: format!("the Rust target {IMAGE_TARGET}"),
            install,
            detail: Some("rustup is not on PATH".into()),
        });
    }
    eprintln!("qemu: the Rust target {IMAGE_TARGET} is missing; running {install}");
    let output = Command::new("rustup")
        .args(["target", "add", IMAGE_TARGET])
        .current_dir(&boot)
        .stdin(Stdio::null())
        .output();
    let detail = match output {
        Ok(o) if o.status.success() && target_installed(&boot) => return Ok(()),
        Ok(o) => format!(
            "{} ({}): {}",
            install,
            o.status,
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => format!("cannot run rustup: {e}"),
    };
    Err(Error::ToolMissing {
        tool: format!("the Rust target {IMAGE_TARGET}"),
        install,
        detail: Some(detail),
    })
}

/// Whether the toolchain active in `dir` has `IMAGE_TARGET`'s libraries.
fn target_installed(dir: &Path) -> bool {
    let Ok(out) = Command::new("rustc")
        .args(["--print", "target-libdir", "--target", IMAGE_TARGET])
        .current_dir(dir)
        .env_remove("RUSTC")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
    else {
        return false;
    };
    let libdir = String::from_utf8_lossy(&out.stdout);
    let libdir = Path::new(libdir.trim());
    out.status.success()
        && std::fs::read_dir(libdir).is_ok_and(|mut entries| {
            entries
                .any(|e| e.is_ok_and(|e| e.file_name().to_string_lossy().starts_with("libcore-")))
        })
}

/// `missing` lists what is absent (programs or directories); empty = ready.
fn ensure(repo: &Repo, packages: &[&str], missing: fn() -> Vec<String>) -> Result<()> {
    let absent = missing();
    if absent.is_empty() {
        return Ok(());
    }
    let tool = absent.join(", ");
    let apt = find_in_path("apt-get");
    if crate::sys::effective_uid() != 0 || apt.is_none() {
        return Err(Error::ToolMissing {
            tool,
            install: install_command(packages),
            detail: None,
        });
    }
    // One installer at a time across every test thread and process; whoever
    // waited re-checks, because the holder may have installed it meanwhile.
    let _lock = FileLock::acquire(&repo.locks_dir().join("apt.lock"))?;
    if missing().is_empty() {
        return Ok(());
    }
    eprintln!(
        "qemu: {tool} missing; running apt-get install -y {}",
        packages.join(" ")
    );
    let first = apt_get(&["install", "-y"], packages);
    let result = match first {
        Ok(()) => Ok(()),
        Err(_) => {
            // Usually a stale or absent package list.
            apt_get(&["update"], &[]).and_then(|()| apt_get(&["install", "-y"], packages))
        }
    };
    result.map_err(|detail| Error::ToolMissing {
        tool: tool.clone(),
        install: install_command(packages),
        detail: Some(detail),
    })?;
    let after = missing();
    if after.is_empty() {
        Ok(())
    } else {
        Err(Error::ToolMissing {
            tool: after.join(", "),
            install: install_command(packages),
            detail: Some("apt-get succeeded but the tools are still missing".into()),
        })
    }
}

fn apt_get(args: &[&str], packages: &[&str]) -> std::result::Result<(), String> {
    let output = Command::new("apt-get")
        // Wait for another apt (e.g. unattended upgrades) instead of failing.
        .args(["-o", "DPkg::Lock::Timeout=300"])
        .args(args)
        .args(packages)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run apt-get: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
        Err(format!(
            "apt-get {} {} ({}): {}",
            args.join(" "),
            packages.join(" "),
            output.status,
            tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_sh_but_not_nonsense() {
        assert!(find_in_path("sh").is_some());
        assert!(find_in_path("surely-not-a-program-3f9a").is_none());
    }

    #[test]
    fn install_command_names_packages() {
        let cmd = install_command(ISO_PACKAGES);
        assert!(
            cmd.ends_with("apt-get install -y grub-pc-bin grub-common xorriso mtools"),
            "{cmd}"
        );
    }

    #[test]
    fn missing_tool_error_says_how_to_install() {
        let err = Error::ToolMissing {
            tool: QEMU_BINARY.into(),
            install: install_command(&["qemu-system-x86"]),
            detail: None,
        };
        let text = err.to_string();
        assert!(text.contains("qemu-system-x86_64"), "{text}");
        assert!(
            text.contains("apt-get install -y qemu-system-x86"),
            "{text}"
        );
    }
}
