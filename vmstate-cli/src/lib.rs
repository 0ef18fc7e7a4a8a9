//! The library behind the `vmstate` command: one module per subcommand, so
//! that tests (and other tools) can call them without spawning a process.
//! No wire format lives here: every subcommand is a thin shell over
//! [`vmstate_core::stream`] (the stream engine), the visitors of
//! `vmstate-core` and [`qemufile`].
//!
//! * [`dump_cmd`], [`desc_cmd`], [`check_cmd`], [`reencode_cmd`],
//!   [`diff_cmd`]: `vmstate dump`, `desc`, `check`, `reencode`, `diff`.
//! * [`convert_cmd`]: `vmstate convert` (whole streams to JSON or BER and
//!   back, [`vmstate_core::json_stream`], [`vmstate_core::ber::stream`]);
//!   [`set_cmd`]: `vmstate set` (fields of
//!   a stream changed in place, [`vmstate_core::edit`]).
//! * [`extract_cmd`]: `vmstate extract-ram` (guest RAM into sparse files,
//!   [`vmstate_core::ram_extract`]).
//! * [`net_cmd`]: `vmstate listen` and `vmstate send` (live migration over
//!   TCP with a real QEMU).
//! * [`compat_cmd`]: `vmstate compat` ([`vmstate_core::compat`], QEMU's
//!   vmstate-static-checker.py).
//! * [`input`] opens files, standard input and the built-in sample;
//!   [`session`] finds the description of a stream's device sections;
//!   [`output`] writes output files all or nothing; [`error`] is the error
//!   type; [`terminal`] keeps control characters from a stream off the
//!   terminal; [`limits`] has the `--max-*` flags.

pub mod check_cmd;
pub mod compat_cmd;
pub mod convert_cmd;
pub mod desc_cmd;
pub mod diff_cmd;
pub mod dump_cmd;
pub mod error;
pub mod extract_cmd;
pub mod input;
pub mod limits;
pub mod net_cmd;
pub mod output;
pub mod reencode_cmd;
pub mod session;
pub mod set_cmd;
pub mod terminal;
