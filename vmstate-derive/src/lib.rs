//! `#[derive(VmState)]` for [vmstate-core](https://docs.rs/vmstate-core).
//!
//! Use it through `vmstate_core::VmState`; this crate is the implementation.
//! The layout follows serde_derive: `internals` parses and checks the input
//! (collecting every error of one derive), `expand` generates the impls.

mod expand;
mod internals;

use proc_macro::TokenStream;
use syn::{DeriveInput, parse_macro_input};

/// Derives `VmState` and `VmStateField` for a struct, or `VmStateField` for a
/// field-less enum with an integer `repr`. See vmstate-core for the attributes.
#[proc_macro_derive(VmState, attributes(vmstate))]
pub fn derive_vmstate(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand::derive(&input).into()
}
