//! Tuple structs, unit structs, raw identifiers, nested subsections and
//! deep nesting.
use vmstate_core::VmState;

#[derive(VmState, Clone, Default)]
struct Tuple(u8, #[vmstate(len = 0)] [u32; 4], #[vmstate(skip)] String);

#[derive(VmState, Clone, Default)]
struct Unit;

#[derive(VmState, Clone, Default)]
struct Empty {}

#[derive(VmState, Clone, Default)]
#[vmstate(name = "raw")]
struct r#Raw {
    r#type: u8,
    r#match: u16,
    #[vmstate(len = r#type)]
    r#loop: Vec<u8>,
}

#[derive(VmState, Clone, Default)]
#[vmstate(name = "dev/a/b", version = 1)]
struct Grandchild {
    x: u8,
}

#[derive(VmState, Clone, Default)]
#[vmstate(name = "dev/a", version = 1)]
struct Child {
    x: u8,
    #[vmstate(subsection)]
    grandchild: Grandchild,
}

#[derive(VmState, Clone, Default)]
#[vmstate(name = "dev", version = 1)]
struct Dev {
    #[vmstate(subsection)]
    child: Child,
    nested: L1,
    raw: r#Raw,
    tuple: Tuple,
    unit: Unit,
    empty: Empty,
}

#[derive(VmState, Clone, Default)]
struct L1 {
    l2: [L2; 2],
}

#[derive(VmState, Clone, Default)]
struct L2 {
    l3: L3,
}

#[derive(VmState, Clone, Default)]
struct L3 {
    l4: [[L4; 2]; 1],
}

#[derive(VmState, Clone, Default)]
struct L4 {
    x: u64,
}

mod inner {
    use vmstate_core::VmState;

    #[derive(VmState, Clone, Default)]
    pub struct Public {
        pub a: u32,
        private: Private,
    }

    #[derive(VmState, Clone, Default)]
    struct Private {
        b: u8,
    }
}

fn main() {
    let mut dev = Dev::default();
    let bytes = vmstate_core::save_to_vec(&mut dev).unwrap();
    vmstate_core::load_from_slice(&mut dev, &bytes, 1).unwrap();
    let _ = vmstate_core::save_to_vec(&mut inner::Public::default());
}
