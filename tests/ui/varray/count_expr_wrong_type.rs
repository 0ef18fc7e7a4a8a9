use vmstate_core::VmState;

#[derive(VmState)]
struct Dev {
    #[vmstate(skip)]
    ports: Vec<u8>,
    #[vmstate(len = self.ports.is_empty())]
    port: [u32; 4],
}

fn main() {}
