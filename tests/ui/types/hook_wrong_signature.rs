use vmstate_core::VmState;

#[derive(VmState)]
#[vmstate(pre_save = Dev::pre_save, post_load = Dev::post_load, needed = Dev::needed)]
struct Dev {
    a: u32,
}

impl Dev {
    fn pre_save(&mut self) {}
    fn post_load(&mut self) -> Result<(), String> {
        Ok(())
    }
    fn needed(&self) -> u32 {
        1
    }
}

fn main() {}
