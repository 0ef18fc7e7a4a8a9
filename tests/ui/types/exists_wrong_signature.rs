use vmstate_core::VmState;

#[derive(VmState)]
#[vmstate(version = 1)]
struct Dev {
    #[vmstate(exists = Dev::has_a)]
    a: u32,
}

impl Dev {
    fn has_a(&self) -> bool {
        true
    }
}

fn main() {}
