use vmstate_core::VmState;

#[derive(VmState)]
#[vmstate(name = "other")]
struct Other {
    a: u32,
}

#[derive(VmState)]
#[vmstate(name = "dev")]
struct Dev<S> {
    a: u32,
    #[vmstate(subsection)]
    s: S,
}

fn main() {
    let mut d = Dev {
        a: 0,
        s: Other { a: 0 },
    };
    let _ = vmstate_core::save_to_vec(&mut d);
}
