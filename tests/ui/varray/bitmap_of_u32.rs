use vmstate_core::VmState;

#[derive(VmState)]
struct Dev {
    n: u32,
    #[vmstate(bitmap, bits = n)]
    a: Vec<u32>,
}

fn main() {}
