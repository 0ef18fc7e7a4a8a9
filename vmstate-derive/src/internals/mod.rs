//! Parsing and checking the derive input.

pub mod ast;
pub mod attr;
pub mod check;
pub mod ctxt;

pub use ctxt::Ctxt;
