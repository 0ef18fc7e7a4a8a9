use vmstate_core::VmState;

#[derive(VmState)]
#[vmstate(name = "uart/xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", version = 1)]
struct Fifo {
    a: u32,
}

#[derive(VmState)]
#[vmstate(name = "uart", version = 1)]
struct Uart {
    a: u32,
    #[vmstate(subsection)]
    fifo: Fifo,
}

fn main() {}
