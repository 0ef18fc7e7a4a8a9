use vmstate_core::VmState;

#[derive(VmState)]
#[repr(u8)]
enum Mode {
    Off,
    #[vmstate(name = "on")]
    On,
}

fn main() {}
