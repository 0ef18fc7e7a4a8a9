use vmstate_core::VmState;

#[derive(VmState)]
#[vmstate(version = V)]
struct Dev<const V: u32> {
    a: u32,
    #[vmstate(since = 2)]
    b: u32,
}

fn main() {
    let mut d = Dev::<1> { a: 0, b: 0 };
    let _ = vmstate_core::save_to_vec(&mut d);
}
