//! Compile-time diagnostics of `#[derive(VmState)]`: every misuse is a
//! compile error pointing at the user's code (ui/<category>/*.rs with
//! the expected .stderr next to each), and unusual but valid inputs compile
//! (ui/pass/).
//!
//! Regenerate the expected output with
//! `TRYBUILD=overwrite cargo test -p vmstate-tests --test ui`.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("ui/pass/*.rs");
    for category in [
        "attr",
        "version",
        "subsection",
        "varray",
        "types",
        "enum",
        "generics",
        "names",
        "view",
        "context",
    ] {
        t.compile_fail(format!("ui/{category}/*.rs"));
    }
}
