// A mistake inside a subsection's (or a pinned struct's) own derive is
// reported there only: the parent's checks of the subsection's name and of
// `struct_version` do not fire on the placeholder the failed derive leaves.
use vmstate_core::VmState;

#[derive(VmState)]
#[vmstate(name = "cpu/avx512", version = 1)]
struct Avx512 {
    #[vmstate(bogus)]
    zmm: u64,
}

#[derive(VmState)]
#[vmstate(name = "segment", version = 3, minimum_version = 2)]
struct Segment {
    #[vmstate(since = 2, since = 3)]
    base: u64,
}

#[derive(VmState)]
#[vmstate(name = "cpu", version = 1)]
struct Cpu {
    a: u32,
    #[vmstate(struct_version = 2)]
    cs: Segment,
    #[vmstate(subsection)]
    avx512: Avx512,
}

fn main() {}
