use vmstate_core::VmState;

#[derive(VmState)]
struct Dev {
    #[vmstate(skip)]
    regs: [u32; 4],
    #[vmstate(view = regs, index = [0, 1], name = "r")]
    _r: (),
}

fn main() {}
