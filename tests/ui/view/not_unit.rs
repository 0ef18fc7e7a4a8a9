use vmstate_core::VmState;

#[derive(VmState)]
struct Dev {
    #[vmstate(skip)]
    regs: [u32; 4],
    #[vmstate(view = regs, index = 1)]
    reg1: u32,
}

fn main() {}
