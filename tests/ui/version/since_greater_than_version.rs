use vmstate_core::VmState;

#[derive(VmState)]
#[vmstate(version = 2, minimum_version = 1)]
struct Dev {
    a: u32,
    #[vmstate(since = 3)]
    b: u32,
}

fn main() {}
