use vmstate_core::VmState;

#[derive(VmState)]
struct Dev {
    #[vmstate(auto_alloc)]
    a: [u32; 4],
}

fn main() {}
