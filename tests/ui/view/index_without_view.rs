use vmstate_core::VmState;

#[derive(VmState)]
struct Dev {
    #[vmstate(index = 2)]
    regs: [u32; 4],
}

fn main() {}
