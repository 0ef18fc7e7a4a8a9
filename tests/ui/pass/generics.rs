//! Generic parameters: bounds are inferred from the fields that use them.
use std::marker::PhantomData;

use vmstate_core::{VmState, VmStateField};

#[derive(VmState, Default)]
#[vmstate(name = "wrapper", version = 1)]
struct Wrapper<T> {
    head: u32,
    inner: T,
    #[vmstate(len = head)]
    items: Vec<T>,
}

/// A generic used only in a skipped field needs no bound.
#[derive(VmState)]
struct OnlySkipped<H> {
    a: u16,
    #[vmstate(skip)]
    host: H,
}

/// Lifetimes work when the borrowed data is not migrated.
#[derive(VmState)]
struct Borrowing<'a> {
    a: u32,
    #[vmstate(skip)]
    name: &'a str,
    #[vmstate(skip)]
    _marker: PhantomData<&'a ()>,
}

/// Const generics: array lengths and versions.
#[derive(VmState)]
#[vmstate(version = V, minimum_version = 1)]
struct Sized<const N: usize, const V: u32> {
    regs: [u32; N],
    #[vmstate(buffer)]
    bytes: [u8; N],
    #[vmstate(since = 1)]
    extra: u8,
}

#[derive(VmState, Default)]
#[vmstate(name = "dev/sub")]
struct Sub {
    a: u8,
}

/// A generic subsection: the prefix rule is checked per instance.
#[derive(VmState)]
#[vmstate(name = "dev")]
struct WithSub<S>
where
    S: Default,
{
    a: u32,
    #[vmstate(subsection)]
    sub: S,
}

fn roundtrip<T: VmState>(mut value: T) -> Vec<u8> {
    vmstate_core::save_to_vec(&mut value).unwrap()
}

fn field<T: VmStateField>() {}

fn main() {
    roundtrip(Wrapper {
        head: 1,
        inner: 7u8,
        items: vec![3u8],
    });
    roundtrip(Wrapper {
        head: 0,
        inner: [1u16; 2],
        items: vec![],
    });
    roundtrip(OnlySkipped {
        a: 1,
        host: String::from("not migrated"),
    });
    roundtrip(Borrowing {
        a: 1,
        name: "x",
        _marker: PhantomData,
    });
    roundtrip(Sized::<4, 2> {
        regs: [0; 4],
        bytes: [0; 4],
        extra: 1,
    });
    roundtrip(WithSub {
        a: 1,
        sub: Sub::default(),
    });
    field::<Wrapper<u64>>();
}
