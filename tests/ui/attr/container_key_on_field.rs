use vmstate_core::VmState;

#[derive(VmState)]
#[vmstate(version = 2)]
struct Dev {
    #[vmstate(version = 2)]
    a: u32,
    #[vmstate(minimum_version = 1, pre_load = Dev::f)]
    b: u32,
}

fn main() {}
