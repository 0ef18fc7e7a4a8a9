use vmstate_core::VmState;

const VERSION: u32 = 2;
const V3: u32 = 3;

#[derive(VmState)]
#[vmstate(version = VERSION)]
struct Dev {
    a: u32,
    #[vmstate(since = V3)]
    b: u32,
}

fn main() {}
