use vmstate_core::VmState;

#[derive(VmState)]
struct Dev {
    num: u64,
    #[vmstate(len = num)]
    a: [u32; 4],
    bits: usize,
    #[vmstate(bitmap, bits = bits)]
    map: Vec<u64>,
}

fn main() {}
