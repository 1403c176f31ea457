//! A venue's entry in the companion's configuration ([`VenueConfig`]) as
//! the terms of a FIX session and of its TCP connection: at start-up, and
//! when a configuration arrives while the session runs.
//!
//! A session's identity is its pair of CompIDs and its FIX version: its
//! sequence numbers belong to that pair, and a venue knows it by them. An
//! entry that names another identity is therefore another session, which
//! only a restart starts ([`VenueUpdate::OtherSession`]). Everything else
//! an entry says (the gateways' addresses, the username and password, the
//! heartbeat interval) is the same session reached or greeted differently,
//! and takes effect at its next connection and Logon
//! ([`VenueUpdate::NextLogon`]): a venue's rotated password, or its backup
//! gateway while the primary is down, without a restart and without
//! disturbing a session that is logged on.

use core::net::Ipv4Addr;

use protocol::fix::FixVersion;
use protocol::mailbox::config::{FixVersion as ConfigFixVersion, VenueConfig};

use crate::session::{LogonTerms, Password, Role, SessionConfig};

pub use crate::tcp::Address;

/// Where a venue's sessions are reached: its first gateway, and its backup
/// gateway if it has one (connection attempts take turns between them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gateways {
    pub first: Address,
    pub backup: Option<Address>,
}

/// Why a venue's entry cannot be taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VenueError {
    /// A gateway's host is not a dotted-quad IPv4 address.
    Host,
    /// A CompID the session cannot hold.
    CompId,
    /// A password longer than a session holds (64 bytes).
    Password,
}

impl core::fmt::Display for VenueError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            VenueError::Host => "a gateway's host is not an IPv4 address",
            VenueError::CompId => "a CompID is too long",
            VenueError::Password => "the password is longer than 64 bytes",
        })
    }
}

/// The entry's FIX version, as the session speaks it.
pub fn fix_version(v: &VenueConfig) -> FixVersion {
    match v.fix_version {
        ConfigFixVersion::Fix42 => FixVersion::Fix42,
        ConfigFixVersion::Fix44 => FixVersion::Fix44,
    }
}

/// `host:port` as an address.
fn address(host: &str, port: u16) -> Result<Address, VenueError> {
    let ip: Ipv4Addr = host.parse().map_err(|_| VenueError::Host)?;
    Ok((ip.octets(), port))
}

/// Where the entry's gateways listen.
pub fn gateways(v: &VenueConfig) -> Result<Gateways, VenueError> {
    Ok(Gateways {
        first: address(&v.host, v.port)?,
        backup: match &v.backup {
            Some(b) => Some(address(&b.host, b.port)?),
            None => None,
        },
    })
}

/// What the entry's Logon carries.
pub fn logon_terms(v: &VenueConfig) -> Result<LogonTerms, VenueError> {
    let password = match &v.password {
        Some(secret) => Some(Password::new(secret.expose()).ok_or(VenueError::Password)?),
        None => None,
    };
    Ok(LogonTerms {
        username: v.username.clone(),
        password,
        heart_bt_int_s: v.heartbeat_secs,
    })
}

/// The initiator session the entry describes (the other settings at
/// [`SessionConfig::new`]'s defaults).
pub fn session_config(v: &VenueConfig) -> Result<SessionConfig, VenueError> {
    let mut config = SessionConfig::new(
        Role::Initiator,
        fix_version(v),
        &v.sender_comp_id,
        &v.target_comp_id,
    )
    .ok_or(VenueError::CompId)?;
    let terms = logon_terms(v)?;
    config.username = terms.username;
    config.password = terms.password;
    config.heart_bt_int_s = terms.heart_bt_int_s;
    Ok(config)
}

/// What a venue's entry in a configuration applied while trading changes
/// for the session running for it. `Debug` never shows a password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VenueUpdate {
    /// The entry says what the session already uses.
    Unchanged,
    /// The same session, reached or greeted differently from its next
    /// connection and Logon on; `None` where nothing changed.
    NextLogon {
        gateways: Option<Gateways>,
        terms: Option<LogonTerms>,
    },
    /// The entry names other CompIDs or another FIX version: another
    /// session, started only by a restart. Nothing of the entry is taken
    /// (a new address or password belongs to that other session).
    OtherSession,
}

impl VenueUpdate {
    /// What `v` changes for a session configured as `session` and
    /// connecting to `current`.
    pub fn between(
        session: &SessionConfig,
        current: Gateways,
        v: &VenueConfig,
    ) -> Result<VenueUpdate, VenueError> {
        let new_gateways = gateways(v)?;
        let new_terms = logon_terms(v)?;
        if session.sender_comp_id != v.sender_comp_id
            || session.target_comp_id != v.target_comp_id
            || session.version != fix_version(v)
        {
            return Ok(VenueUpdate::OtherSession);
        }
        let gateways = (new_gateways != current).then_some(new_gateways);
        let terms = (new_terms != session.logon_terms()).then_some(new_terms);
        Ok(match (gateways, terms) {
            (None, None) => VenueUpdate::Unchanged,
            (gateways, terms) => VenueUpdate::NextLogon { gateways, terms },
        })
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use protocol::mailbox::config::{example, Gateway, Secret};
    use std::format;

    fn entry() -> VenueConfig {
        let mut v = example().venues[0].clone();
        v.host = "10.0.2.2".try_into().unwrap();
        v.port = 9000;
        v.username = Some("FIRM-USER".try_into().unwrap());
        v.password = Secret::new("first");
        v
    }

    #[test]
    fn an_entry_is_a_session_and_an_address() {
        let v = entry();
        let c = session_config(&v).unwrap();
        assert_eq!(c.role, Role::Initiator);
        assert_eq!(c.version, FixVersion::Fix42);
        assert_eq!(
            (c.sender_comp_id.as_str(), c.target_comp_id.as_str()),
            ("APPL01", "NASDAQ")
        );
        assert_eq!(c.heart_bt_int_s, 30);
        assert_eq!(c.username.as_deref(), Some("FIRM-USER"));
        assert_eq!(c.password.as_ref().map(Password::expose), Some("first"));
        assert!(!format!("{c:?}").contains("first"));
        assert_eq!(
            gateways(&v),
            Ok(Gateways {
                first: ([10, 0, 2, 2], 9000),
                backup: None
            })
        );
        let mut two = v.clone();
        two.backup = Some(Gateway {
            host: "10.0.3.2".try_into().unwrap(),
            port: 9100,
        });
        assert_eq!(
            gateways(&two).map(|g| g.backup),
            Ok(Some(([10, 0, 3, 2], 9100)))
        );
        let mut bad = v.clone();
        bad.host = "venue.example".try_into().unwrap();
        assert_eq!(gateways(&bad), Err(VenueError::Host));
        assert_eq!(session_config(&bad).map(|_| ()), Ok(()));
        let mut bad = two.clone();
        bad.backup = Some(Gateway {
            host: "backup.example".try_into().unwrap(),
            port: 9100,
        });
        assert_eq!(gateways(&bad), Err(VenueError::Host));
    }

    #[test]
    fn what_a_new_entry_changes_for_a_running_session() {
        let v = entry();
        let session = session_config(&v).unwrap();
        let at = gateways(&v).unwrap();
        assert_eq!(
            VenueUpdate::between(&session, at, &v),
            Ok(VenueUpdate::Unchanged)
        );

        // A rotated password: the next Logon's, nothing else.
        let mut rotated = v.clone();
        rotated.password = Secret::new("second");
        let update = VenueUpdate::between(&session, at, &rotated).unwrap();
        let VenueUpdate::NextLogon {
            gateways: None,
            terms: Some(terms),
        } = &update
        else {
            panic!("{update:?}");
        };
        assert_eq!(
            terms.password.as_ref().map(Password::expose),
            Some("second")
        );
        assert_eq!(terms.username.as_deref(), Some("FIRM-USER"));
        assert!(!format!("{update:?}").contains("second"));

        // The backup gateway, with another heartbeat and no username.
        let mut backup = v.clone();
        backup.port = 9001;
        backup.heartbeat_secs = 5;
        backup.username = None;
        assert_eq!(
            VenueUpdate::between(&session, at, &backup),
            Ok(VenueUpdate::NextLogon {
                gateways: Some(Gateways {
                    first: ([10, 0, 2, 2], 9001),
                    backup: None
                }),
                terms: Some(LogonTerms {
                    username: None,
                    password: Password::new("first"),
                    heart_bt_int_s: 5,
                }),
            })
        );
        let mut moved = v.clone();
        moved.host = "10.0.2.3".try_into().unwrap();
        assert_eq!(
            VenueUpdate::between(&session, at, &moved),
            Ok(VenueUpdate::NextLogon {
                gateways: Some(Gateways {
                    first: ([10, 0, 2, 3], 9000),
                    backup: None
                }),
                terms: None,
            })
        );
        // A backup gateway named, then taken away again.
        let mut with_backup = v.clone();
        with_backup.backup = Some(Gateway {
            host: "10.0.3.2".try_into().unwrap(),
            port: 9000,
        });
        let both = Gateways {
            first: at.first,
            backup: Some(([10, 0, 3, 2], 9000)),
        };
        assert_eq!(
            VenueUpdate::between(&session, at, &with_backup),
            Ok(VenueUpdate::NextLogon {
                gateways: Some(both),
                terms: None,
            })
        );
        assert_eq!(
            VenueUpdate::between(&session, both, &with_backup),
            Ok(VenueUpdate::Unchanged)
        );
        assert_eq!(
            VenueUpdate::between(&session, both, &v),
            Ok(VenueUpdate::NextLogon {
                gateways: Some(at),
                terms: None,
            })
        );

        // Another identity: another session, nothing of it taken.
        for change in [
            |v: &mut VenueConfig| v.sender_comp_id = "APPL02".try_into().unwrap(),
            |v: &mut VenueConfig| v.target_comp_id = "NYSE".try_into().unwrap(),
            |v: &mut VenueConfig| v.fix_version = ConfigFixVersion::Fix44,
        ] {
            let mut other = backup.clone();
            change(&mut other);
            assert_eq!(
                VenueUpdate::between(&session, at, &other),
                Ok(VenueUpdate::OtherSession)
            );
        }

        // An entry that cannot be taken says why.
        let mut bad = rotated.clone();
        bad.host = "gateway-2".try_into().unwrap();
        assert_eq!(
            VenueUpdate::between(&session, at, &bad),
            Err(VenueError::Host)
        );
    }
}
