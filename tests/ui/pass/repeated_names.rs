//! Repeated wire names are allowed, as in QEMU (e1000 sends `mac_reg` three
//! times, the x86 CPU `env.xmm_regs` twice): however the name is given
//! (the Rust name, a literal, a constant, a raw identifier) and whether or
//! not the fields are conditional. Descriptions number the repeats
//! (`mac_reg[0]`, `mac_reg[1]`, ...) as QEMU's vmdesc does.
use vmstate_core::VmState;

const MAC_REG: &str = "mac_reg";

#[derive(VmState, Clone, Default)]
#[vmstate(name = "e1000", version = 2)]
struct E1000 {
    mac_reg: [u32; 4],
    #[vmstate(name = "mac_reg")]
    mta: [u32; 2],
    #[vmstate(name = MAC_REG)]
    vfta: [u32; 2],
    #[vmstate(name = "mac_reg", since = 0)]
    again: u32,
    #[vmstate(name = "mac_reg", exists = E1000::yes)]
    maybe: u32,
}

impl E1000 {
    fn yes(&self, _: u32) -> bool {
        true
    }
}

#[derive(VmState, Clone, Default)]
struct Dev {
    #[vmstate(name = "type")]
    kind: u8,
    r#type: u8,
}

fn main() {
    let d = <E1000 as VmState>::DESCRIPTION;
    assert_eq!(d.unique_name(0), "mac_reg[0]");
    assert_eq!(d.unique_name(4), "mac_reg[4]");
    assert_eq!(<Dev as VmState>::DESCRIPTION.unique_name(1), "type[1]");
}
