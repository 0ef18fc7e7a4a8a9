//! The library behind the `vmstate` command: one module per subcommand, so
//! that tests (and other tools) can call them without spawning a process.

pub mod compat;
pub mod compat_cmd;
