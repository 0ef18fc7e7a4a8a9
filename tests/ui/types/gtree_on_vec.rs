use vmstate_core::VmState;

#[derive(VmState)]
struct Dev {
    #[vmstate(gtree)]
    a: Vec<u32>,
}

fn main() {}
