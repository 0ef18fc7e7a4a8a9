//! The library behind the `vmstate` command: one module per subcommand, so
//! that tests (and other tools) can call them without spawning a process.
//!
//! * [`compat`], [`compat_cmd`]: `vmstate compat` (QEMU's
//!   vmstate-static-checker.py).
//! * [`decode`]: schema-driven decoding of whole migration streams with
//!   their own vmdesc; [`render`] shows the result, [`pyjson`] reads the
//!   vmdesc and prints JSON like QEMU's `analyze-migration.py`, [`input`]
//!   opens files, standard input and the built-in sample.
//! * [`stream_cmd`]: `vmstate dump`, `desc`, `reencode`, `check`, `diff`.
//! * [`check_cmd`]: `vmstate check` on the command line (`--machine`, and
//!   the framing-only check of streams without a usable vmdesc, by
//!   [`framing`]).
//! * [`net_cmd`]: `vmstate listen` and `vmstate send` (live migration over
//!   TCP with a real QEMU).

pub mod check_cmd;
pub mod compat_cmd;
pub mod decode;
pub mod diff_cmd;
pub mod dump_cmd;
pub mod error;
pub mod input;
pub mod net_cmd;
pub mod output;
pub mod pyjson;
pub mod reencode_cmd;
pub mod render;
pub mod session;
pub mod stream_cmd;
