//! `crate = path` when vmstate_core is reached under another name.
use ::vmstate_core as vmc;

mod reexport {
    pub use ::vmstate_core as core_again;
}

#[derive(vmc::VmState, Default)]
#[vmstate(crate = vmc, name = "renamed")]
struct Renamed {
    a: u32,
}

#[derive(vmc::VmState, Default, Clone, Copy)]
#[vmstate(crate = crate::reexport::core_again)]
#[repr(u16)]
enum Mode {
    #[default]
    A,
}

#[derive(vmc::VmState, Default)]
#[vmstate(crate = ::vmstate_core)]
struct Absolute {
    mode: Mode,
    r: Renamed,
}

fn main() {
    let _ = vmc::save_to_vec(&mut Absolute::default());
}
