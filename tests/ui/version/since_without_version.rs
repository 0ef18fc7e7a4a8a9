use vmstate_core::VmState;

#[derive(VmState)]
struct Dev {
    a: u32,
    #[vmstate(since = 1)]
    b: u32,
}

fn main() {}
