use vmstate_core::VmState;

#[derive(VmState)]
#[vmstate = "dev"]
struct Dev {
    #[vmstate]
    a: u32,
}

fn main() {}
