use vmstate_core::VmState;

#[derive(VmState)]
struct Dev {
    #[vmstate(name = "type")]
    kind: u8,
    r#type: u8,
}

fn main() {}
