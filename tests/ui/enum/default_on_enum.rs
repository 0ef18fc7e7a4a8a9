use vmstate_core::VmState;

#[derive(VmState, Clone, Copy)]
#[vmstate(default)]
#[repr(u8)]
enum Mode {
    A,
    B,
}

fn main() {}
