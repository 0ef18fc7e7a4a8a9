use vmstate_core::VmState;

#[derive(Default)]
struct Inner {
    a: u32,
}

#[derive(VmState)]
struct Dev {
    inner: Inner,
}

fn main() {}
