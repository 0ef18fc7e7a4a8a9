use vmstate_core::VmState;

#[derive(VmState)]
struct Dev(#[vmstate(len = 1)] [u8; 4], u8);

fn main() {}
