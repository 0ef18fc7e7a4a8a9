use vmstate_core::VmState;

#[derive(VmState)]
#[vmstate(name = "dev", version = 1)]
struct Dev {
    a: u8,
    #[vmstate(subsection = "other/b", version = 1)]
    _b: (),
    b: u8,
}

fn main() {}
