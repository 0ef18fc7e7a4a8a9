use vmstate_core::VmState;

#[derive(VmState, Default)]
#[vmstate(name = "drive", version = 1, context = bool)]
struct Drive {
    head: u8,
}

#[derive(VmState)]
#[vmstate(name = "fdc", version = 1)]
struct Fdc {
    #[vmstate(context)]
    drive: Drive,
}

fn main() {}
