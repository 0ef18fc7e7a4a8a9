//! Generated code neither sees nor is shadowed by the user's names: paths
//! passed through `macro_rules!`, items named like primitives or like the
//! derive's locals.
#![allow(non_camel_case_types, dead_code)]

use vmstate_core::VmState;

mod shadowing {
    use vmstate_core::VmState;

    // Items named like the primitives the generated signatures use.
    pub struct u32;
    pub struct bool;
    pub struct usize;
    pub struct str;

    fn __v(_: &Dev, _: ::core::primitive::u32) -> ::core::primitive::bool {
        true
    }

    #[derive(VmState, Default, Clone)]
    #[vmstate(name = "dev", version = 1)]
    pub struct Dev {
        a: u8,
        #[vmstate(exists = __v)]
        b: u8,
    }
}

fn pred(_: &S, version: u32) -> bool {
    version >= 1
}

fn check(_: &S, _: u32) -> bool {
    true
}

fn want(_: &S) -> bool {
    true
}

macro_rules! device {
    ($name:ident, $exists:path, $validate:path, $needed:path) => {
        #[derive(VmState, Default, Clone)]
        #[vmstate(name = "s", version = 1)]
        pub struct $name {
            a: u8,
            #[vmstate(exists = $exists)]
            b: u8,
            #[vmstate(validate = $validate)]
            _ok: (),
            #[vmstate(subsection, needed = $needed)]
            sub: Sub,
        }
    };
}

#[derive(VmState, Default, Clone)]
#[vmstate(name = "s/sub", version = 1)]
pub struct Sub {
    c: u8,
}

device!(S, pred, check, want);

fn main() {
    let mut s = S::default();
    let bytes = vmstate_core::save_to_vec(&mut s).unwrap();
    vmstate_core::load_from_slice(&mut s, &bytes, 1).unwrap();
    let mut d = shadowing::Dev::default();
    let _ = vmstate_core::save_to_vec(&mut d).unwrap();
}

macro_rules! typed_device {
    ($name:ident, $field:ty, $sub:ty, $list:ty) => {
        #[derive(VmState, Default, Clone)]
        #[vmstate(name = "t", version = 1)]
        pub struct $name {
            a: $field,
            n: u8,
            #[vmstate(len = n)]
            items: Vec<$field>,
            #[vmstate(qtailq)]
            list: $list,
            #[vmstate(subsection)]
            sub: $sub,
        }
    };
}

#[derive(VmState, Default, Clone)]
#[vmstate(name = "t/sub", version = 1)]
pub struct TSub {
    c: u8,
}

typed_device!(T, u16, TSub, Vec<Sub>);

pub fn use_t() {
    let mut t = T::default();
    let _ = vmstate_core::save_to_vec(&mut t);
}
