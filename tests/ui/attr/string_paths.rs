use vmstate_core::VmState;

#[derive(VmState)]
#[vmstate(pre_save = "Dev::pre_save", crate = "vmstate_core")]
struct Dev {
    #[vmstate(exists = "Dev::has_a")]
    a: u32,
}

fn main() {}
