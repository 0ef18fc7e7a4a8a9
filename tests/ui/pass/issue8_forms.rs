//! The forms of issue 8 together, with generics: counts that are not
//! migrated, views, inline subsections, contexts and `default`.

use vmstate_core::{VmState, VmStateField};

/// A register file of `N` registers, partly sent, re-sent whole in an
/// inline subsection; the FIFO's length is configuration.
#[derive(VmState, Clone)]
#[vmstate(name = "gen", version = 2, default)]
struct Regs<T, const N: usize> {
    #[vmstate(skip)]
    file: [T; N],
    #[vmstate(view = file, index = [0, N - 1])]
    _ends: (),
    #[vmstate(view = file, start = 1, len = N - 2)]
    _middle: (),
    #[vmstate(skip, default = 4)]
    fifo_len: usize,
    #[vmstate(buffer, len = fifo_len)]
    fifo: Vec<u8>,
    #[vmstate(len = N)]
    shadow: Vec<T>,
    #[vmstate(subsection = "gen/all", version = 1, needed = Regs::all_needed)]
    _all: (),
    #[vmstate(view = file)]
    _file: (),
    #[vmstate(since = 1)]
    tail: u8,
}

impl<T, const N: usize> Regs<T, N> {
    fn all_needed(&self) -> bool {
        N > 2
    }
}

/// A generic struct with a context.
#[derive(VmState, Clone, Default)]
#[vmstate(name = "leaf", version = 1, context = u32, needed = Leaf::needed)]
struct Leaf<T> {
    #[vmstate(exists = Leaf::present)]
    v: T,
}

impl<T> Leaf<T> {
    fn needed(&self, _cx: &u32) -> bool {
        true
    }
    fn present(&self, _version_id: u32, cx: &u32) -> bool {
        *cx > 0
    }
}

/// A context field gets no inferred bound: the element's is written here.
#[derive(VmState, Clone, Default)]
#[vmstate(name = "tree", version = 1)]
struct Tree<T: Default + VmStateField> {
    #[vmstate(skip)]
    depth: u32,
    #[vmstate(context = self.depth)]
    leaves: Box<[Leaf<T>; 3]>,
}

fn main() {
    let mut r = Regs::<u16, 5>::default();
    r.shadow = vec![0; 5];
    assert_eq!(r.fifo.len(), 0);
    r.fifo = vec![0; 4];
    let bytes = vmstate_core::save_to_vec(&mut r).unwrap();
    assert_eq!(bytes.len(), 2 * 2 + 3 * 2 + 4 + 5 * 2 + 1 + (2 + 7 + 4) + 5 * 2);
    let _: &vmstate_core::Layout = &<Regs<u16, 5> as VmStateField>::LAYOUT;
    let mut t = Tree::<u8> {
        depth: 1,
        ..Tree::default()
    };
    assert_eq!(vmstate_core::save_to_vec(&mut t).unwrap(), [0, 0, 0]);
}
