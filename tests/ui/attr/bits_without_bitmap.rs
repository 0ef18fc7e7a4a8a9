use vmstate_core::VmState;

#[derive(VmState)]
struct Dev {
    n: u32,
    #[vmstate(bits = n)]
    a: Vec<u64>,
}

fn main() {}
