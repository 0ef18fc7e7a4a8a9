use vmstate_core::VmState;

#[derive(VmState)]
struct Fifo {
    a: u32,
}

#[derive(VmState)]
struct Uart {
    a: u32,
    #[vmstate(subsection)]
    fifo: Fifo,
}

fn main() {}
