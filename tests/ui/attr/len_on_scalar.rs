use vmstate_core::VmState;

#[derive(VmState)]
struct Dev {
    n: u32,
    #[vmstate(len = n)]
    a: u32,
}

fn main() {}
