// A duplicate-name error inside the subsection `cpu/avx512` is reported
// once, there: the parent `cpu` sees the subsection's real name and has
// nothing to add.
use vmstate_core::VmState;

#[derive(VmState)]
#[vmstate(name = "cpu/avx512/zmm", version = 1)]
struct Zmm {
    lo: u64,
}

#[derive(VmState)]
#[vmstate(name = "cpu/avx512/zmm", version = 1)]
struct ZmmHi {
    hi: u64,
}

#[derive(VmState)]
#[vmstate(name = "cpu/avx512", version = 1)]
struct Avx512 {
    opmask: u64,
    #[vmstate(subsection)]
    zmm: Zmm,
    #[vmstate(subsection)]
    zmm_hi: ZmmHi,
}

#[derive(VmState)]
#[vmstate(name = "cpu", version = 1)]
struct Cpu {
    eax: u32,
    #[vmstate(subsection)]
    avx512: Avx512,
}

fn main() {}
