use vmstate_core::VmState;

#[derive(VmState)]
#[vmstate(name = "dev", version = 1)]
struct Dev {
    #[vmstate(default = -1)]
    write_cmd: i32,
}

fn main() {}
