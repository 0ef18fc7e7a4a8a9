//! The errors of the `vmstate` subcommands, and how a subcommand reports one.

use std::io::{self, Write};

/// Why a subcommand failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// An input could not be opened or read.
    #[error("{0}")]
    Input(String),
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
    /// Writing the output failed.
    #[error("cannot write output: {0}")]
    Output(#[from] io::Error),
}

impl CliError {
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
