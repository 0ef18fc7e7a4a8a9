use vmstate_core::VmState;

#[derive(VmState)]
struct Dev {
    #[vmstate(buffer)]
    a: Box<[u32; 4]>,
}

fn main() {}
