use vmstate_core::VmState;

#[derive(VmState)]
#[vmstate(name = "")]
struct Dev {
    #[vmstate(name = "")]
    a: u32,
}

fn main() {}
