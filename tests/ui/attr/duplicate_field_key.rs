use vmstate_core::VmState;

#[derive(VmState)]
#[vmstate(version = 2)]
struct Dev {
    #[vmstate(since = 1, since = 2)]
    a: u32,
    #[vmstate(skip)]
    #[vmstate(skip)]
    b: u32,
}

fn main() {}
