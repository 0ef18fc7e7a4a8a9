use vmstate_core::VmState;

#[derive(VmState)]
#[vmstate(name = "dev", version = 1, context = u8)]
struct Dev {
    a: u8,
    #[vmstate(subsection = "dev/b", version = 1)]
    _b: (),
    b: u8,
}

fn main() {}
