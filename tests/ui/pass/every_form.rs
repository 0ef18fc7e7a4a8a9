//! Every field form of the attribute table in one struct.
use std::collections::{BTreeMap, VecDeque};

use vmstate_core::forms::TmpState;
use vmstate_core::{Timer, VmState};

#[derive(VmState, Clone, Copy, Default, PartialEq, Debug)]
#[repr(u8)]
enum Mode {
    #[default]
    Off,
    On = 3,
}

#[derive(VmState, Clone, Default)]
#[vmstate(name = "elem", version = 2, minimum_version = 1)]
struct Elem {
    a: u32,
}

#[derive(VmState, Clone, Default)]
#[vmstate(name = "all/tmp")]
struct Tmp {
    doubled: u64,
}

impl TmpState<All> for Tmp {
    fn from_parent(p: &All) -> vmstate_core::Result<Self> {
        Ok(Tmp {
            doubled: u64::from(p.plain) * 2,
        })
    }
    fn into_parent(self, p: &mut All) -> vmstate_core::Result<()> {
        p.plain = (self.doubled / 2) as u32;
        Ok(())
    }
}

#[derive(VmState, Clone, Default)]
#[vmstate(name = "all/sub", version = 1, needed = Sub::needed)]
struct Sub {
    x: u8,
}

impl Sub {
    fn needed(&self) -> bool {
        self.x != 0
    }
}

const VERSION: u32 = 3;

#[derive(VmState, Clone, Default)]
#[vmstate(
    name = "all",
    version = VERSION,
    minimum_version = 1,
    pre_save = All::pre_save,
    post_save = All::post_save,
    pre_load = All::pre_load,
    post_load = All::post_load,
)]
struct All {
    plain: u32,
    #[vmstate(name = "renamed")]
    other: i64,
    #[vmstate(since = 2)]
    newer: u16,
    #[vmstate(exists = All::has_flag)]
    flag: bool,
    #[vmstate(skip)]
    host_only: String,
    #[vmstate(equal)]
    id: u32,
    #[vmstate(le)]
    level: i32,
    #[vmstate(buffer)]
    raw: [u8; 4],
    n: u8,
    #[vmstate(buffer, len = n)]
    vbuf: Vec<u8>,
    #[vmstate(len = n)]
    varr: [u16; 8],
    #[vmstate(len = n)]
    vvec: Vec<Elem>,
    #[vmstate(buffer)]
    boxed_raw: Box<[u8; 4]>,
    #[vmstate(buffer, len = n)]
    boxed_vbuf: Box<[u8; 8]>,
    #[vmstate(len = n)]
    boxed_varr: Box<[u16; 8]>,
    nbits: u32,
    #[vmstate(bitmap, bits = nbits)]
    bits: Vec<u64>,
    #[vmstate(unused = 4)]
    _pad: (),
    #[vmstate(struct_version = 1)]
    pinned: Elem,
    #[vmstate(qtailq)]
    queue: VecDeque<Elem>,
    #[vmstate(qlist, since = 1)]
    list: Vec<Elem>,
    #[vmstate(gtree)]
    tree: BTreeMap<u64, Elem>,
    #[vmstate(auto_alloc)]
    slots: [Option<Elem>; 2],
    #[vmstate(tmp = Tmp)]
    _tmp: (),
    #[vmstate(validate = All::valid)]
    _check: (),
    mode: Mode,
    timer: Timer,
    matrix: [[u8; 2]; 2],
    boxed: Box<Elem>,
    pointers: [Option<Box<u32>>; 2],
    float: f64,
    #[vmstate(subsection, needed = All::sub_needed)]
    sub: Sub,
}

impl All {
    fn pre_save(&mut self) -> Result<(), String> {
        Ok(())
    }
    fn post_save(&mut self) {}
    fn pre_load(&mut self) -> vmstate_core::Result<()> {
        Ok(())
    }
    fn post_load(&mut self, _version: u32) -> Result<(), &'static str> {
        Ok(())
    }
    fn has_flag(&self, version: u32) -> bool {
        version >= 2
    }
    fn valid(&self, _version: u32) -> bool {
        self.n <= 8
    }
    fn sub_needed(&self) -> bool {
        true
    }
}

fn main() {
    let mut all = All::default();
    let bytes = vmstate_core::save_to_vec(&mut all).unwrap();
    vmstate_core::load_from_slice(&mut all, &bytes, VERSION).unwrap();
}
