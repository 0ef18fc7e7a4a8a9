//! The errors of the `vmstate` subcommands, and how a subcommand reports one.

use std::io::{self, Write};

/// Why a subcommand failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A file could not be opened, created or read.
    #[error("cannot {action} {path}: {source}")]
    File {
        /// What was being done: "open", "create", "read", "replace", "keep".
        action: &'static str,
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// An input is not usable as asked (the input as the output, a reader
    /// used twice, ...).
    #[error("{0}")]
    Input(String),
    /// A `-dump-vmstate` file does not parse.
    #[error("{path}: {source}")]
    Dump {
        /// The file.
        path: String,
        /// What the parser found.
        source: vmstate_core::dump::DumpError,
    },
    /// The network peer or the connection failed (`listen`, `send`).
    #[error("{0}")]
    Network(String),
    /// A stream (or a vmdesc) is broken: the library's error names the byte
    /// offset, section and field.
    #[error("{name}: {source}")]
    Stream {
        /// The input's name.
        name: String,
        /// What the library found.
        source: vmstate_core::Error,
    },
    /// A stream is readable but fails a check the subcommand makes.
    #[error("{name}: {message}")]
    Invalid {
        /// The input's name.
        name: String,
        /// What is wrong, where.
        message: String,
    },
    /// `vmstate set` refused an edit (a value that does not fit, an unknown
    /// path, a change of layout) or could not read the stream.
    #[error("{name}: {source}")]
    Edit {
        /// The input's name.
        name: String,
        /// What the library refused, with the field's path.
        source: vmstate_core::edit::EditError,
    },
    /// Writing the output failed.
    #[error("cannot write output: {0}")]
    Output(#[from] io::Error),
}

impl CliError {
    /// A failed file operation on `path`.
    pub fn file(
        action: &'static str,
        path: &std::path::Path,
    ) -> impl Fn(std::io::Error) -> CliError {
        let path = path.display().to_string();
        move |source| CliError::File {
            action,
            path: path.clone(),
            source,
        }
    }

    /// A library error about the input `name`.
    pub fn stream(name: &str) -> impl Fn(vmstate_core::Error) -> CliError + '_ {
        move |source| CliError::Stream {
            name: name.to_owned(),
            source,
        }
    }
}

/// The exit status for `r`, with the error (if any) written to `err` as
/// `vmstate CMD: message`. A closed pipe on the output is not an error.
pub fn report(cmd: &str, r: Result<(), CliError>, err: &mut dyn Write) -> u8 {
    match r {
        Ok(()) => 0,
        Err(CliError::Output(e)) if e.kind() == io::ErrorKind::BrokenPipe => 0,
        Err(e) => {
            let _ = writeln!(err, "vmstate {cmd}: {e}");
            1
        }
    }
}
