use std::fmt;
use std::io;
use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why the lab could not do what was asked. (A guest that fails is not an
/// error: that is an [`crate::Outcome`] with a failing [`crate::ExitKind`].)
#[derive(Debug)]
pub enum Error {
    /// A program is missing and we may not or could not install it.
    ToolMissing {
        tool: String,
        /// The command that installs it.
        install: String,
        /// What went wrong when we tried, if we tried.
        detail: Option<String>,
    },
    /// A file or process operation failed.
    Io { context: String, source: io::Error },
    /// An external command ran and failed.
    Command {
        what: String,
        status: std::process::ExitStatus,
        /// Its captured output (empty when it went to the terminal).
        output: String,
    },
    /// The workspace root could not be found.
    RepoNotFound { searched: Vec<PathBuf> },
    /// There is no `boot/Cargo.toml` to build the image from.
    NoBootCrate(PathBuf),
    /// A build finished but an expected artefact is missing.
    MissingArtifact(PathBuf),
    /// A caller-supplied value cannot be used.
    InvalidArgument(String),
}

impl Error {
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(io::Error) -> Error {
        let context = context.into();
        move |source| Error::Io { context, source }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::ToolMissing {
                tool,
                install,
                detail,
            } => {
                write!(f, "`{tool}` not found; install it with:\n    {install}")?;
                if let Some(detail) = detail {
                    write!(f, "\n(automatic install failed: {detail})")?;
                }
                Ok(())
            }
            Error::Io { context, source } => write!(f, "{context}: {source}"),
            Error::Command {
                what,
                status,
                output,
            } => {
                write!(f, "{what} failed ({status})")?;
                if !output.trim().is_empty() {
                    write!(f, ":\n{}", output.trim_end())?;
                }
                Ok(())
            }
            Error::RepoNotFound { searched } => {
                write!(
                    f,
                    "cannot find the workspace root (a Cargo.toml with [workspace]); looked from:"
                )?;
                for dir in searched {
                    write!(f, "\n    {}", dir.display())?;
                }
                Ok(())
            }
            Error::NoBootCrate(dir) => write!(
                f,
                "no image crate at {}: `boot/Cargo.toml` is missing from this checkout",
                dir.display()
            ),
            Error::MissingArtifact(path) => {
                write!(f, "the build succeeded but {} is missing", path.display())
            }
            Error::InvalidArgument(msg) => f.write_str(msg),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
