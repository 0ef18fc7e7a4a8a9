use vmstate_core::VmState;

#[derive(VmState)]
struct Dev {
    num: u32,
    #[vmstate(len = nmu)]
    a: [u32; 4],
}

fn main() {}
