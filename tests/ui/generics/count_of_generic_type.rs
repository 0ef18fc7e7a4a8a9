use vmstate_core::VmState;

#[derive(VmState)]
struct Dev<C> {
    n: C,
    #[vmstate(len = n)]
    a: [u32; 4],
}

fn main() {}
