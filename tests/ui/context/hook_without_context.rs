use vmstate_core::VmState;

#[derive(VmState, Default)]
#[vmstate(name = "drive", version = 1, context = bool, post_load = Drive::post_load)]
struct Drive {
    #[vmstate(exists = Drive::has_head)]
    head: u8,
}

impl Drive {
    fn has_head(&self, _version_id: u32) -> bool {
        true
    }
    fn post_load(&mut self, _version_id: u32) -> Result<(), String> {
        Ok(())
    }
}

fn main() {}
