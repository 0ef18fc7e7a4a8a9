use vmstate_core::VmState;

#[derive(VmState)]
#[vmstate(version = 1)]
struct Dev {
    n: u32,
    #[vmstate(lenght = n)]
    a: [u32; 4],
}

fn main() {}
