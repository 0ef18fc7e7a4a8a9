use vmstate_core::VmState;

#[derive(VmState)]
struct Dev {
    a: u32,
    pad: (),
}

fn main() {}
