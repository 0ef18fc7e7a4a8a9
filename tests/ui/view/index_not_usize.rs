use vmstate_core::VmState;

const RDT: u32 = 1;

#[derive(VmState)]
struct Dev {
    #[vmstate(skip)]
    regs: [u32; 4],
    #[vmstate(view = regs, index = RDT)]
    _r: (),
}

fn main() {}
