use vmstate_core::VmState;

#[derive(VmState)]
struct Dev {
    n: u32,
    #[vmstate(buffer, len = n)]
    a: Vec<u32>,
}

fn main() {}
