use vmstate_core::VmState;

#[derive(VmState)]
struct Dev {
    #[vmstate(len = num)]
    a: [u32; 4],
    num: u32,
}

fn main() {}
