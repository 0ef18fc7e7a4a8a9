use vmstate_core::VmState;

#[derive(VmState)]
struct Dev {
    #[vmstate(bitmap)]
    a: Vec<u64>,
}

fn main() {}
