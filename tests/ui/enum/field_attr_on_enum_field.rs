use vmstate_core::VmState;

#[derive(VmState, Clone, Copy, Default)]
#[repr(u16)]
enum Mode {
    #[default]
    Off,
    On,
}

#[derive(VmState)]
struct Dev {
    #[vmstate(equal)]
    mode: Mode,
}

fn main() {}
