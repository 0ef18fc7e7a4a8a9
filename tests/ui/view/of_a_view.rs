use vmstate_core::VmState;

#[derive(VmState)]
struct Dev {
    #[vmstate(skip)]
    regs: [u32; 4],
    #[vmstate(view = regs, start = 0, len = 2)]
    low: (),
    #[vmstate(view = low, index = 0)]
    _r: (),
}

fn main() {}
