use vmstate_core::VmState;

#[derive(VmState, Default)]
#[vmstate(name = "drive", version = 1)]
struct Drive {
    head: u8,
}

#[derive(VmState)]
#[vmstate(name = "fdc", version = 1)]
struct Fdc {
    #[vmstate(context = 1u8)]
    drive: Drive,
}

fn main() {}
