use vmstate_core::VmState;

#[derive(VmState, Default, Clone)]
#[vmstate(name = "drive", version = 1, context = bool)]
struct Drive {
    head: u8,
}

fn main() {
    let _ = vmstate_core::save_to_vec(&mut Drive::default());
}
