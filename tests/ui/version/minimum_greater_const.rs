use vmstate_core::VmState;

const VERSION: u32 = 2;
const MINIMUM: u32 = 3;

#[derive(VmState)]
#[vmstate(version = VERSION, minimum_version = MINIMUM)]
struct Dev {
    a: u32,
}

fn main() {}
