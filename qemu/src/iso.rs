//! A GRUB (multiboot2) ISO around the appliance, for BIOS machines and for
//! checking the multiboot2 entry path in QEMU.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::{unique_name, Error, Repo, Result};

/// The grub.cfg that boots `/boot/appliance.elf` at once with `cmdline`.
///
/// Each word goes to GRUB's script parser; words with characters it treats
/// specially are single-quoted. A word containing a single quote or a
/// control character cannot be expressed safely and is refused.
pub fn grub_cfg(cmdline: &str) -> Result<String> {
    let mut words = String::new();
    for word in cmdline.split_whitespace() {
        if word.contains('\'') || word.chars().any(char::is_control) {
            return Err(Error::InvalidArgument(format!(
                "kernel command line word {word:?} cannot go into grub.cfg (quote or control character)"
            )));
        }
        let plain = word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_=,.:/+@%".contains(c));
        words.push(' ');
        if plain {
            words.push_str(word);
        } else {
            words.push('\'');
            words.push_str(word);
            words.push('\'');
        }
    }
    Ok(format!(
        "set timeout=0\nset default=0\n\nmenuentry \"appliance\" {{\n    multiboot2 /boot/appliance.elf{words}\n    boot\n}}\n"
    ))
}

/// Builds `out` (an ISO) with `grub-mkrescue` from `appliance_elf` and a
/// grub.cfg carrying `cmdline`. Needs [`crate::ensure_iso_tools`].
pub fn build_iso(repo: &Repo, appliance_elf: &Path, cmdline: &str, out: &Path) -> Result<PathBuf> {
    let cfg = grub_cfg(cmdline)?;
    let staging = repo.runs_dir().join(unique_name("iso"));
    let grub_dir = staging.join("boot").join("grub");
    fs::create_dir_all(&grub_dir).map_err(Error::io(format!("creating {}", grub_dir.display())))?;
    fs::copy(appliance_elf, staging.join("boot").join("appliance.elf"))
        .map_err(Error::io(format!("copying {}", appliance_elf.display())))?;
    fs::write(grub_dir.join("grub.cfg"), cfg).map_err(Error::io("writing grub.cfg"))?;
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(Error::io(format!("creating {}", parent.display())))?;
    }
    let output = Command::new("grub-mkrescue")
        .arg("-o")
        .arg(out)
        .arg(&staging)
        .stdin(Stdio::null())
        .output()
        .map_err(Error::io("running grub-mkrescue"))?;
    if !output.status.success() {
        // Keep the staging tree for inspection.
        return Err(Error::Command {
            what: format!("grub-mkrescue (staging tree kept at {})", staging.display()),
            status: output.status,
            output: String::from_utf8_lossy(&output.stderr).into_owned(),
        });
    }
    let _ = fs::remove_dir_all(&staging);
    if !out.is_file() {
        return Err(Error::MissingArtifact(out.to_path_buf()));
    }
    Ok(out.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cfg_boots_at_once_with_the_command_line() {
        let cfg = grub_cfg("test=pci  smp").expect("cfg");
        assert_eq!(
            cfg,
            "set timeout=0\nset default=0\n\nmenuentry \"appliance\" {\n    \
             multiboot2 /boot/appliance.elf test=pci smp\n    boot\n}\n"
        );
    }

    #[test]
    fn cfg_with_empty_cmdline_has_no_trailing_words() {
        let cfg = grub_cfg("").expect("cfg");
        assert!(cfg.contains("multiboot2 /boot/appliance.elf\n"), "{cfg}");
    }

    #[test]
    fn cfg_quotes_special_characters_and_refuses_quotes() {
        let cfg = grub_cfg("a;b $x").expect("cfg");
        assert!(cfg.contains("appliance.elf 'a;b' '$x'\n"), "{cfg}");
        assert!(grub_cfg("it's").is_err());
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn cfg_keeps_every_word_or_refuses(cmdline in "(?s).{0,60}") {
            match grub_cfg(&cmdline) {
                Ok(cfg) => {
                    let entry = cfg.lines().find(|l| l.trim_start().starts_with("multiboot2 ")).expect("entry");
                    for word in cmdline.split_whitespace() {
                        prop_assert!(entry.contains(word), "{} lost from {}", word, entry);
                    }
                    // Nothing can open a new GRUB line or statement.
                    prop_assert_eq!(cfg.lines().count(), 7);
                }
                Err(_) => prop_assert!(cmdline.contains('\'') || cmdline.chars().any(char::is_control)),
            }
        }
    }
}
