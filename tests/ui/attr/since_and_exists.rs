use vmstate_core::VmState;

#[derive(VmState)]
#[vmstate(version = 2)]
struct Dev {
    #[vmstate(since = 2, exists = Dev::has_a)]
    a: u32,
}

impl Dev {
    fn has_a(&self, _version: u32) -> bool {
        true
    }
}

fn main() {}
