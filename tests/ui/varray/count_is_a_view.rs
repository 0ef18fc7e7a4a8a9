use vmstate_core::VmState;

#[derive(VmState)]
struct Dev {
    #[vmstate(skip)]
    regs: [u32; 4],
    #[vmstate(view = regs, index = 0)]
    n: (),
    #[vmstate(len = n)]
    a: Vec<u32>,
}

fn main() {}
