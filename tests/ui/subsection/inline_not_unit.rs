use vmstate_core::VmState;

#[derive(VmState)]
#[vmstate(name = "dev", version = 1)]
struct Dev {
    a: u8,
    #[vmstate(subsection = "dev/b", version = 1)]
    b: u8,
}

fn main() {}
