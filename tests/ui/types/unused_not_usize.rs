use vmstate_core::VmState;

#[derive(VmState)]
struct Dev {
    #[vmstate(unused = "four")]
    pad: (),
}

fn main() {}
