use vmstate_core::VmState;

#[derive(VmState)]
struct Dev {
    #[vmstate(skip)]
    reg: u32,
    #[vmstate(view = reg, index = 0)]
    _r: (),
}

fn main() {}
