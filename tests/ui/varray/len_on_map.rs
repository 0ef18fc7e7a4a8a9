use vmstate_core::VmState;

use std::collections::BTreeMap;

#[derive(VmState)]
struct Dev {
    n: u32,
    #[vmstate(len = n)]
    a: BTreeMap<u64, u32>,
}

fn main() {}
