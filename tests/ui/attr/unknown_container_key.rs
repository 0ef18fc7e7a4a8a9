use vmstate_core::VmState;

#[derive(VmState)]
#[vmstate(nmae = "dev", version = 1)]
struct Dev {
    a: u32,
}

fn main() {}
