use vmstate_core::VmState;

#[derive(VmState)]
struct Dev {
    #[vmstate(skip = true)]
    a: u32,
    #[vmstate(equal(1))]
    b: u32,
}

fn main() {}
