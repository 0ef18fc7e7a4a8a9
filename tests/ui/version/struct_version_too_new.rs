use vmstate_core::VmState;

#[derive(VmState)]
#[vmstate(name = "inner", version = 1)]
struct Inner {
    a: u32,
}

#[derive(VmState)]
struct Dev {
    #[vmstate(struct_version = 2)]
    inner: Inner,
}

fn main() {}
