use vmstate_core::VmState;

#[derive(VmState)]
struct Dev {
    #[vmstate(len = a)]
    a: Vec<u32>,
}

fn main() {}
