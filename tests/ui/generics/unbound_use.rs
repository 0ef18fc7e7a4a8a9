use vmstate_core::VmState;

#[derive(VmState)]
struct Wrapper<T> {
    inner: T,
}

fn main() {
    let mut w = Wrapper {
        inner: String::new(),
    };
    let _ = vmstate_core::save_to_vec(&mut w);
}
