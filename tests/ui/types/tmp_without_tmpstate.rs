use vmstate_core::VmState;

#[derive(VmState)]
#[vmstate(name = "dev/tmp")]
struct Tmp {
    a: u32,
}

#[derive(VmState)]
#[vmstate(name = "dev")]
struct Dev {
    a: u32,
    #[vmstate(tmp = Tmp)]
    t: (),
}

fn main() {}
