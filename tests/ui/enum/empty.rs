use vmstate_core::VmState;

#[derive(VmState)]
enum Never {}

fn main() {}
