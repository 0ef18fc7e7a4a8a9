use vmstate_core::VmState;

#[derive(VmState)]
struct Dev {
    #[vmstate(skip, equal)]
    a: u32,
    #[vmstate(qtailq, gtree)]
    b: Vec<u32>,
}

fn main() {}
