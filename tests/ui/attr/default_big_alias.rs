use vmstate_core::VmState;

/// Behind an alias the derive cannot see an array: Rust's `Default` is used,
/// which stops at 32 elements; `default = ..` gives the value.
type Regs = [u32; 64];

#[derive(VmState)]
#[vmstate(name = "dev", version = 1, default)]
struct Dev {
    regs: Regs,
}

fn main() {}
