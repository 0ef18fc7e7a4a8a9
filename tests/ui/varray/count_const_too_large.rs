use vmstate_core::VmState;

const FIFO: usize = 8;

#[derive(VmState)]
struct Dev {
    #[vmstate(len = FIFO)]
    fifo: [u8; 4],
}

fn main() {}
