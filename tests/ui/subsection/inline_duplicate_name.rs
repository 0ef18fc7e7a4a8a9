use vmstate_core::VmState;

#[derive(VmState, Default)]
#[vmstate(name = "dev/b", version = 1)]
struct B {
    b: u8,
}

#[derive(VmState)]
#[vmstate(name = "dev", version = 1)]
struct Dev {
    a: u8,
    #[vmstate(subsection)]
    typed: B,
    #[vmstate(subsection = "dev/b", version = 1)]
    _b: (),
    b: u8,
}

fn main() {}
