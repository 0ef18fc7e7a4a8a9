use vmstate_core::VmState;

#[derive(VmState)]
struct Dev {
    #[vmstate(skip)]
    capacity: String,
    #[vmstate(buffer, len = capacity)]
    data: Vec<u8>,
}

fn main() {}
