use vmstate_core::VmState;

#[derive(VmState)]
#[vmstate(post_load = Dev::post_lod)]
struct Dev {
    a: u32,
}

impl Dev {
    fn post_load(&mut self, _version: u32) -> Result<(), String> {
        Ok(())
    }
}

fn main() {}
