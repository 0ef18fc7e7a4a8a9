use vmstate_core::VmState;

#[derive(VmState)]
struct Dev {
    #[vmstate(le)]
    a: u32,
}

fn main() {}
