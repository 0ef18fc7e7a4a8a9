use vmstate_core::VmState;

#[derive(VmState)]
struct Dev {
    #[vmstate(needed = Dev::f)]
    a: u32,
}

impl Dev {
    fn f(&self) -> bool {
        true
    }
}

fn main() {}
