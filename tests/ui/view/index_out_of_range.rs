use vmstate_core::VmState;

const RDT: usize = 4;

#[derive(VmState)]
struct Dev {
    #[vmstate(skip)]
    regs: [u32; 4],
    #[vmstate(view = regs, index = [0, RDT])]
    _regs: (),
}

fn main() {}
