use vmstate_core::VmState;

#[derive(VmState)]
#[vmstate(name = dev)]
struct Dev {
    #[vmstate(name = 5)]
    a: u32,
}

fn main() {}
