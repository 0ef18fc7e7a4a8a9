use vmstate_core::VmState;

#[derive(VmState)]
struct Dev {
    n: u32,
    #[vmstate(len = n)]
    num: Vec<u32>,
    #[vmstate(len = num)]
    a: Vec<u32>,
}

fn main() {}
