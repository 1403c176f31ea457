//! Secrets (FIX passwords) live in their own TOML file, readable only by its
//! owner (mode 0600 or stricter), never in the config file, and never in any
//! output: the types below redact themselves in `Debug`/`Display`.
//!
//! ```toml
//! [venues.nasdaq]
//! password = "..."
//! ```

use protocol::mailbox::config::Secret;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct VenueSecrets {
    pub password: Option<Secret>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Secrets {
    #[serde(default)]
    pub venues: BTreeMap<String, VenueSecrets>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets")
            .field("venues", &self.venues.keys().collect::<Vec<_>>())
            .field("values", &"<redacted>")
            .finish()
    }
}

/// Reads the secrets file, refusing it unless it is a regular file owned by
/// us with no group/other permission bits (checked on the opened file, so a
/// swap between check and read is not possible).
pub fn load(path: &Path) -> Result<Secrets, String> {
    let mut file =
        std::fs::File::open(path).map_err(|e| format!("secrets file {}: {e}", path.display()))?;
    let meta = file
        .metadata()
        .map_err(|e| format!("secrets file {}: {e}", path.display()))?;
    let mode = meta.mode() & 0o7777;
    if !meta.is_file() {
        return Err(format!(
            "secrets file {} is not a regular file; refusing to read it",
            path.display()
        ));
    }
    if mode & 0o077 != 0 {
        return Err(format!(
            "secrets file {} has mode {mode:04o}; refusing to read it (it must be 0600: chmod 600)",
            path.display()
        ));
    }
    let me = crate::sys::euid();
    if meta.uid() != me {
        return Err(format!(
            "secrets file {} is owned by uid {}, not by us ({me}); refusing to read it",
            path.display(),
            meta.uid()
        ));
    }
    let mut text = String::new();
    file.read_to_string(&mut text)
        .map_err(|e| format!("secrets file {}: {e}", path.display()))?;
    // toml's error text quotes the offending line, which may hold a secret: keep only the location.
    toml::from_str(&text).map_err(|e: toml::de::Error| {
        let at = e
            .span()
            .map(|s| format!(" at byte {}", s.start))
            .unwrap_or_default();
        format!(
            "secrets file {}: not valid TOML or unknown key{at}",
            path.display()
        )
    })
}
