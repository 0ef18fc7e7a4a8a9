//! Field-less enums of every integer repr, with explicit and implicit
//! discriminants.
use vmstate_core::VmState;

macro_rules! enums {
    ($($name:ident: $repr:ident = $min:expr;)*) => {$(
        #[derive(VmState, Clone, Copy, Default, PartialEq, Debug)]
        #[repr($repr)]
        enum $name {
            #[default]
            A = $min,
            B,
            C = 42,
        }
    )*};
}

enums! {
    EU8: u8 = 0;
    EU16: u16 = 0x100;
    EU32: u32 = 0x10000;
    EU64: u64 = 0x1_0000_0000;
    EI8: i8 = -1;
    EI16: i16 = -300;
    EI32: i32 = -70000;
    EI64: i64 = -5_000_000_000;
}

#[repr(u8)]
#[derive(VmState, Clone, Copy, Default)]
enum ReprFirst {
    #[default]
    Only,
}

#[derive(VmState, Clone, Default)]
struct All {
    u8: EU8,
    u16: EU16,
    u32: EU32,
    u64: EU64,
    i8: EI8,
    i16: EI16,
    i32: EI32,
    i64: EI64,
    repr_first: ReprFirst,
    array: [EU8; 3],
}

fn main() {
    let mut all = All::default();
    let bytes = vmstate_core::save_to_vec(&mut all).unwrap();
    vmstate_core::load_from_slice(&mut all, &bytes, 0).unwrap();
}
