use vmstate_core::VmState;

#[derive(VmState)]
#[repr(u8)]
enum Mode {
    Off,
    On(u32),
    Dim { level: u8 },
}

fn main() {}
