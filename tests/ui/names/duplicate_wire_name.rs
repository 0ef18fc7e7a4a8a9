use vmstate_core::VmState;

#[derive(VmState)]
struct Dev {
    a: u32,
    #[vmstate(name = "a")]
    b: u32,
}

fn main() {}
