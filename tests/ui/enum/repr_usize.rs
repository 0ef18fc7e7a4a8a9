use vmstate_core::VmState;

#[derive(VmState)]
#[repr(usize)]
enum Mode {
    Off,
    On,
}

fn main() {}
