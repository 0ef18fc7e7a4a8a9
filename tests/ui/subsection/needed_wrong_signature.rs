use vmstate_core::VmState;

#[derive(VmState)]
#[vmstate(name = "uart/fifo")]
struct Fifo {
    a: u32,
}

#[derive(VmState)]
#[vmstate(name = "uart")]
struct Uart {
    a: u32,
    #[vmstate(subsection, needed = Uart::fifo_needed)]
    fifo: Fifo,
}

impl Uart {
    fn fifo_needed(&self, _version: u32) -> bool {
        true
    }
}

fn main() {}
