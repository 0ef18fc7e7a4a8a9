use vmstate_core::VmState;

#[derive(VmState)]
#[vmstate(name = "dev", version = 1)]
struct Dev {
    #[vmstate(post_load = Dev::f)]
    a: u8,
}

impl Dev {
    fn f(&mut self, _: u32) -> Result<(), String> {
        Ok(())
    }
}

fn main() {}
