use vmstate_core::VmState;

#[derive(VmState)]
struct Dev {
    #[vmstate(qtailq)]
    a: u32,
}

fn main() {}
