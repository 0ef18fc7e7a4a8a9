use vmstate_core::VmState;

#[derive(VmState)]
#[vmstate(name = "uart")]
struct Uart {
    a: u32,
    #[vmstate(subsection)]
    b: u32,
    #[vmstate(subsection)]
    c: [u8; 4],
}

fn main() {}
