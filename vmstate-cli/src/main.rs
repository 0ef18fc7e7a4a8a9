//! The `vmstate` command.

fn main() {}
