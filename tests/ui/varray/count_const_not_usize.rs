use vmstate_core::VmState;

const FIFO: u32 = 4;

#[derive(VmState)]
struct Dev {
    #[vmstate(buffer, len = FIFO)]
    fifo: [u8; 4],
}

fn main() {}
