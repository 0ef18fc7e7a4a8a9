use vmstate_core::VmState;

#[derive(VmState)]
#[vmstate(version = 2)]
struct Dev {
    #[vmstate(skip, since = 2)]
    a: u32,
    #[vmstate(skip, name = "b")]
    b: u32,
}

fn main() {}
