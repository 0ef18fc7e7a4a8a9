use vmstate_core::VmState;

#[derive(VmState)]
struct Dev {
    #[vmstate(equal)]
    a: bool,
    #[vmstate(equal)]
    b: i16,
}

fn main() {}
