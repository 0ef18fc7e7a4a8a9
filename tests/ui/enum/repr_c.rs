use vmstate_core::VmState;

#[derive(VmState)]
#[repr(C)]
enum Mode {
    Off,
    On,
}

fn main() {}
