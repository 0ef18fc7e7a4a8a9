use vmstate_core::VmState;

#[derive(VmState)]
struct Dev(u8, #[vmstate(len = 5)] Vec<u8>);

fn main() {}
