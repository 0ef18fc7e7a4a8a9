use vmstate_core::VmState;

#[derive(VmState)]
struct Dev {
    #[vmstate(len = Dev::capacity())]
    fifo: Vec<u8>,
}

impl Dev {
    fn capacity() -> usize {
        16
    }
}

fn main() {}
