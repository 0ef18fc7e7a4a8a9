use vmstate_core::VmState;

#[derive(VmState)]
struct Dev {
    a: u32,
    b: String,
    c: usize,
}

fn main() {}
