use vmstate_core::VmState;

#[derive(VmState)]
#[vmstate(name = "dev", version = 1, minimum_version = 2, colour = "red")]
struct Dev {
    #[vmstate(since = 3)]
    a: u32,
    #[vmstate(len = count)]
    b: [u16; 4],
    #[vmstate(unused = 4)]
    pad: u32,
    #[vmstate(equal)]
    c: bool,
    #[vmstate(name = "")]
    d: u8,
    #[vmstate(skip, skip)]
    e: u8,
}

fn main() {
    // The fallback impl keeps uses of the type free of follow-on errors.
    fn takes<T: VmState>(_: &T) {}
    let _ = takes::<Dev>;
}
