use vmstate_core::VmState;

#[derive(VmState)]
#[vmstate(minimum_version = 1)]
struct Dev {
    a: u32,
}

fn main() {}
