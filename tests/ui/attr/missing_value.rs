use vmstate_core::VmState;

#[derive(VmState)]
#[vmstate(version = 2)]
struct Dev {
    #[vmstate(since)]
    a: u32,
    #[vmstate(unused)]
    pad: (),
}

fn main() {}
