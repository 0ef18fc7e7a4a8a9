use vmstate_core::VmState;

#[derive(VmState)]
#[vmstate(version = 2, since = 1, skip)]
struct Dev {
    a: u32,
}

fn main() {}
