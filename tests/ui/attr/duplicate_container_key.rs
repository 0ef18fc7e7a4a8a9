use vmstate_core::VmState;

#[derive(VmState)]
#[vmstate(name = "dev", version = 1)]
#[vmstate(version = 2)]
struct Dev {
    a: u32,
}

fn main() {}
