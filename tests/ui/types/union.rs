use vmstate_core::VmState;

#[derive(VmState)]
union Regs {
    a: u32,
    b: f32,
}

fn main() {}
