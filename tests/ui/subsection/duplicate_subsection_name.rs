// Two subsections with one name: QEMU finds an incoming subsection by its
// name, so the second could never be loaded. Refused however the names are
// written (here one is a constant).
use vmstate_core::VmState;

const FIFO: &str = "uart/fifo";

#[derive(VmState)]
#[vmstate(name = "uart/fifo", version = 1)]
struct RxFifo {
    a: u32,
}

#[derive(VmState)]
#[vmstate(name = FIFO, version = 1)]
struct TxFifo {
    b: u32,
}

#[derive(VmState)]
#[vmstate(name = "uart", version = 1)]
struct Uart {
    a: u32,
    #[vmstate(subsection)]
    rx: RxFifo,
    #[vmstate(subsection)]
    tx: TxFifo,
}

fn main() {}
