use vmstate_core::VmState;

#[derive(VmState)]
struct Dev {
    #[vmstate(skip)]
    regs: Vec<u32>,
    #[vmstate(view = regs, start = 2)]
    _tail: (),
}

fn main() {}
