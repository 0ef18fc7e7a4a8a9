use vmstate_core::VmState;

#[derive(VmState)]
#[vmstate(version = "2")]
struct Dev {
    #[vmstate(since = 1u8)]
    a: u32,
}

fn main() {}
