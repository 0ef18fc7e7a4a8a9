use vmstate_core::VmState;

#[derive(VmState)]
#[vmstate(name = "dev", version = 2)]
struct Dev {
    a: u8,
    #[vmstate(subsection = "dev/b", version = 1, since = 2)]
    _b: (),
    b: u8,
}

fn main() {}
