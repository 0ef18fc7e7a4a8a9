use vmstate_core::VmState;

#[derive(VmState)]
struct Dev {
    #[vmstate(skip)]
    regs: Box<[u32; 4]>,
    #[vmstate(view = regs, start = 2, len = 4)]
    _tail: (),
}

fn main() {}
