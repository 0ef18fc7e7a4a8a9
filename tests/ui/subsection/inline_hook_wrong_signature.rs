use vmstate_core::VmState;

#[derive(VmState)]
#[vmstate(name = "dev", version = 1)]
struct Dev {
    a: u8,
    #[vmstate(subsection = "dev/b", version = 1, needed = Dev::b_needed, post_load = Dev::b_loaded)]
    _b: (),
    b: u8,
}

impl Dev {
    fn b_needed(&mut self) -> bool {
        true
    }
    fn b_loaded(&mut self) -> Result<(), String> {
        Ok(())
    }
}

fn main() {}
