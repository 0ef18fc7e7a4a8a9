use vmstate_core::VmState;

#[derive(VmState)]
#[repr(u8)]
#[vmstate(name = "mode", version = 2)]
enum Mode {
    Off,
    On,
}

fn main() {}
