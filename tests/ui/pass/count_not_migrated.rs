use vmstate_core::VmState;

#[derive(VmState)]
struct Dev {
    #[vmstate(skip)]
    num: u32,
    #[vmstate(len = num)]
    a: [u32; 4],
}

fn main() {}
