use vmstate_core::VmState;

#[derive(VmState)]
#[vmstate(name = "dev", version = 1)]
struct Dev {
    #[vmstate(buffer, context = 1u8)]
    data: [u8; 4],
}

fn main() {}
