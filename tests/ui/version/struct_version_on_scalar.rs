use vmstate_core::VmState;

#[derive(VmState)]
struct Dev {
    #[vmstate(struct_version = 2)]
    a: u32,
}

fn main() {}
