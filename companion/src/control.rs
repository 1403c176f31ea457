//! The second command path: operator commands while a `journal` runs.
//!
//! The command and reply rings have one consumer, so the `journal` process
//! holds the control role for as long as it runs. Without another path an
//! operator would have to stop the journal — and with it the confirmation
//! of sequence numbers, which pauses trading — to engage the kill switch.
//! So the process holding the control role serves a Unix socket beside the
//! region, and `kill`, `rearm`, `ping` and `config apply` that find the role
//! taken hand their command to it. It sends the command through the ring
//! like its own, persists whatever journal events it meets on the way, and
//! writes the appliance's reply back.
//!
//! The socket is created mode 0600 (the same user as the journal). One
//! request per connection: the verb on the first line, its argument after
//! it (the reason, the nonce, the configuration's JSON), then end of file;
//! the reply is the [`OwnedReply`] in one of the forms below, or
//! `error\n<text>` when the journal could not get an answer.

use crate::app::OwnedReply;
use protocol::mailbox::Command;
use std::io::{self, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The largest request taken: a configuration's JSON fits many times over.
const MAX_REQUEST: u64 = 1 << 20;

/// A command as it crosses the socket (owned: it outlives the connection's
/// buffer only as long as the call).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Forwarded {
    Kill { reason: String },
    Rearm,
    Ping { nonce: u64 },
    ApplyConfig { json: Vec<u8> },
}

impl Forwarded {
    /// The commands an operator sends; the journal's own (`Journal`,
    /// `Persisted`) and `GetStatus` are not forwarded.
    pub fn from_command(c: &Command<'_>) -> Option<Forwarded> {
        match *c {
            Command::Kill { reason } => Some(Forwarded::Kill {
                reason: reason.into(),
            }),
            Command::Rearm => Some(Forwarded::Rearm),
            Command::Ping { nonce } => Some(Forwarded::Ping { nonce }),
            Command::ApplyConfig { json } => Some(Forwarded::ApplyConfig { json: json.into() }),
            Command::GetStatus | Command::Journal(_) | Command::Persisted(_) => None,
        }
    }

    pub fn command(&self) -> Command<'_> {
        match self {
            Forwarded::Kill { reason } => Command::Kill { reason },
            Forwarded::Rearm => Command::Rearm,
            Forwarded::Ping { nonce } => Command::Ping { nonce: *nonce },
            Forwarded::ApplyConfig { json } => Command::ApplyConfig { json },
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let (verb, arg): (&str, &[u8]) = match self {
            Forwarded::Kill { reason } => ("kill", reason.as_bytes()),
            Forwarded::Rearm => ("rearm", b""),
            Forwarded::Ping { .. } => ("ping", b""),
            Forwarded::ApplyConfig { json } => ("config", json),
        };
        out.extend_from_slice(verb.as_bytes());
        out.push(b'\n');
        match self {
            Forwarded::Ping { nonce } => out.extend_from_slice(nonce.to_string().as_bytes()),
            _ => out.extend_from_slice(arg),
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Forwarded, String> {
        let (verb, arg) = match bytes.iter().position(|&b| b == b'\n') {
            Some(i) => (&bytes[..i], &bytes[i + 1..]),
            None => (bytes, &b""[..]),
        };
        let text = |what: &str| {
            std::str::from_utf8(arg)
                .map(str::to_owned)
                .map_err(|_| format!("the {what} is not UTF-8"))
        };
        match verb {
            b"kill" => Ok(Forwarded::Kill {
                reason: text("reason")?,
            }),
            b"rearm" if arg.is_empty() => Ok(Forwarded::Rearm),
            b"ping" => text("nonce")?
                .parse()
                .map(|nonce| Forwarded::Ping { nonce })
                .map_err(|_| "the nonce is not a number".into()),
            b"config" => Ok(Forwarded::ApplyConfig { json: arg.into() }),
            _ => Err(format!(
                "unknown request {:?}",
                String::from_utf8_lossy(&verb[..verb.len().min(32)])
            )),
        }
    }
}

/// The reply's form on the socket.
pub fn encode_reply(r: &Result<OwnedReply, String>) -> String {
    match r {
        Ok(OwnedReply::Ok) => "ok".into(),
        Ok(OwnedReply::Pong { nonce }) => format!("pong\n{nonce}"),
        Ok(OwnedReply::Malformed) => "malformed".into(),
        Ok(OwnedReply::Rejected { field, reason }) => format!("rejected\n{field}\n{reason}"),
        // Only `GetStatus` is answered with a status, and it is not forwarded.
        Ok(OwnedReply::Status { .. }) => "error\nthe appliance answered with a status".into(),
        Err(e) => format!("error\n{e}"),
    }
}

pub fn decode_reply(text: &str) -> Result<OwnedReply, String> {
    let mut parts = text.splitn(3, '\n');
    let kind = parts.next().unwrap_or_default();
    let (a, b) = (parts.next(), parts.next());
    match (kind, a, b) {
        ("ok", None, None) => Ok(OwnedReply::Ok),
        ("malformed", None, None) => Ok(OwnedReply::Malformed),
        ("pong", Some(n), None) => n
            .parse()
            .map(|nonce| OwnedReply::Pong { nonce })
            .map_err(|_| format!("the journal's reply is not understood: {text:?}")),
        ("rejected", Some(field), Some(reason)) => Ok(OwnedReply::Rejected {
            field: field.into(),
            reason: reason.into(),
        }),
        ("error", Some(e), rest) => Err(match rest {
            Some(r) => format!("{e}\n{r}"),
            None => e.into(),
        }),
        _ => Err(format!("the journal's reply is not understood: {text:?}")),
    }
}

/// The socket beside a region whose control role the journal holds.
pub struct ControlServer {
    listener: UnixListener,
    path: PathBuf,
}

impl ControlServer {
    /// Binds `path`. Called with the control role held: a file left there
    /// is a dead holder's, and is replaced.
    pub fn bind(path: &Path) -> io::Result<ControlServer> {
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let listener = UnixListener::bind(path)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        listener.set_nonblocking(true)?;
        Ok(ControlServer {
            listener,
            path: path.to_owned(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Serves the requests waiting, each through `call`. A connection that
    /// misbehaves is reported and dropped; it never stops the journal.
    pub fn serve(&self, mut call: impl FnMut(&Forwarded) -> Result<OwnedReply, String>) {
        loop {
            let stream = match self.listener.accept() {
                Ok((stream, _)) => stream,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    eprintln!("warning: control socket {}: {e}", self.path.display());
                    return;
                }
            };
            if let Err(e) = answer(stream, &mut call) {
                eprintln!("warning: control request dropped: {e}");
            }
        }
    }
}

/// A client that stops writing mid-request must not hold up the journal
/// beyond this.
const CLIENT_WAIT: Duration = Duration::from_secs(2);

fn answer(
    stream: UnixStream,
    call: &mut impl FnMut(&Forwarded) -> Result<OwnedReply, String>,
) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(CLIENT_WAIT))?;
    stream.set_write_timeout(Some(CLIENT_WAIT))?;
    let mut request = Vec::new();
    (&stream).take(MAX_REQUEST + 1).read_to_end(&mut request)?;
    let reply = if request.len() as u64 > MAX_REQUEST {
        Err("request too large".to_string())
    } else {
        Forwarded::decode(&request).and_then(|f| {
            eprintln!("control: {} from the control socket", verb_of(&f));
            call(&f)
        })
    };
    (&stream).write_all(encode_reply(&reply).as_bytes())
}

fn verb_of(f: &Forwarded) -> &'static str {
    match f {
        Forwarded::Kill { .. } => "kill",
        Forwarded::Rearm => "rearm",
        Forwarded::Ping { .. } => "ping",
        Forwarded::ApplyConfig { .. } => "config apply",
    }
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Sends `command` through the socket at `path` and waits up to `timeout`
/// beyond the journal's own wait for the reply.
pub fn forward(path: &Path, command: &Forwarded, timeout: Duration) -> Result<OwnedReply, String> {
    let stream =
        UnixStream::connect(path).map_err(|e| format!("control socket {}: {e}", path.display()))?;
    let io = |e: io::Error| format!("control socket {}: {e}", path.display());
    // The journal answers after its own call, which may take `timeout`.
    stream
        .set_read_timeout(Some(timeout * 2 + CLIENT_WAIT))
        .map_err(io)?;
    stream.set_write_timeout(Some(CLIENT_WAIT)).map_err(io)?;
    (&stream).write_all(&command.encode()).map_err(io)?;
    stream.shutdown(std::net::Shutdown::Write).map_err(io)?;
    let mut reply = String::new();
    (&stream)
        .take(MAX_REQUEST)
        .read_to_string(&mut reply)
        .map_err(io)?;
    if reply.is_empty() {
        return Err(format!(
            "control socket {}: the journal closed without a reply",
            path.display()
        ));
    }
    decode_reply(&reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip() {
        for f in [
            Forwarded::Kill {
                reason: "drill\nwith a second line".into(),
            },
            Forwarded::Kill { reason: "".into() },
            Forwarded::Rearm,
            Forwarded::Ping { nonce: u64::MAX },
            Forwarded::ApplyConfig {
                json: br#"{"risk":{"max_order_qty":5}}"#.to_vec(),
            },
        ] {
            assert_eq!(Forwarded::decode(&f.encode()), Ok(f.clone()), "{f:?}");
            assert_eq!(Forwarded::from_command(&f.command()), Some(f));
        }
    }

    #[test]
    fn bad_requests_are_refused() {
        for bad in [
            &b""[..],
            b"launch\n",
            b"ping\nseven",
            b"rearm\nnow",
            b"kill\n\xff",
        ] {
            assert!(Forwarded::decode(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn replies_round_trip() {
        for r in [
            OwnedReply::Ok,
            OwnedReply::Malformed,
            OwnedReply::Pong { nonce: 7 },
            OwnedReply::Rejected {
                field: "risk.max_order_qty".into(),
                reason: "must be positive".into(),
            },
            OwnedReply::Rejected {
                field: "".into(),
                reason: "kill switch is not engaged".into(),
            },
        ] {
            assert_eq!(decode_reply(&encode_reply(&Ok(r.clone()))), Ok(r));
        }
        assert_eq!(
            decode_reply(&encode_reply(&Err("timed out\nwaiting".into()))),
            Err("timed out\nwaiting".into())
        );
        assert!(decode_reply("").is_err());
        assert!(decode_reply("pong\nx").is_err());
    }
}
