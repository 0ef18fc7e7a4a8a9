use vmstate_core::VmState;

#[derive(VmState)]
#[vmstate(name = "dev", version = 3)]
struct Dev {
    a: u8,
    #[vmstate(subsection = "dev/b", version = 1)]
    _b: (),
    #[vmstate(since = 2)]
    b: u8,
}

fn main() {}
