use vmstate_core::VmState;

#[derive(VmState)]
struct Dev {
    a: Vec<u32>,
}

fn main() {}
