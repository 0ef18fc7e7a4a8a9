use vmstate_core::VmState;

#[derive(VmState)]
#[vmstate(name = "uart")]
struct Fifo {
    a: u32,
}

#[derive(VmState)]
#[vmstate(name = "uart")]
struct Uart {
    a: u32,
    #[vmstate(subsection)]
    fifo: Fifo,
}

fn main() {}
