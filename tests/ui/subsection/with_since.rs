use vmstate_core::VmState;

#[derive(VmState)]
#[vmstate(name = "uart/fifo")]
struct Fifo {
    a: u32,
}

#[derive(VmState)]
#[vmstate(name = "uart", version = 2)]
struct Uart {
    a: u32,
    #[vmstate(subsection, since = 2)]
    fifo: Fifo,
}

fn main() {}
