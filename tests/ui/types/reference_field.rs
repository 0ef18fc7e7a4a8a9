use vmstate_core::VmState;

#[derive(VmState)]
struct Dev<'a> {
    a: &'a mut u32,
}

fn main() {}
