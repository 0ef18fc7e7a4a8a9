//! The states of the BER codec benchmark (`benches/ber.rs`), shared with
//! the instruction-count driver (`examples/ber_profile.rs`) so that both
//! measure the same thing.

#![allow(dead_code)]

use vmstate_core::VmState;
use vmstate_tests::devices::i8259::{I8259, I8259Ltim};

macro_rules! scalars_and_buffer {
    ($($f:ident)*) => {
        /// 100 `u32` fields and a 4096-byte buffer.
        #[derive(VmState, Clone, Debug, PartialEq)]
        #[vmstate(name = "scalars", version = 1, minimum_version = 1)]
        pub struct Scalars {
            $(pub $f: u32,)*
            /// The buffer.
            #[vmstate(buffer)]
            pub buf: [u8; 4096],
        }

        impl Scalars {
            /// Distinct values in every field.
            pub fn sample() -> Self {
                let mut i = 0u32;
                let mut next = || {
                    i += 1;
                    i.wrapping_mul(0x9e37_79b9)
                };
                let mut buf = [0u8; 4096];
                for (k, b) in buf.iter_mut().enumerate() {
                    *b = (k as u8).wrapping_mul(31).wrapping_add(7);
                }
                Scalars { $($f: next(),)* buf }
            }
        }
    };
}

scalars_and_buffer!(
    f00 f01 f02 f03 f04 f05 f06 f07 f08 f09 f10 f11 f12 f13 f14 f15 f16 f17 f18 f19
    f20 f21 f22 f23 f24 f25 f26 f27 f28 f29 f30 f31 f32 f33 f34 f35 f36 f37 f38 f39
    f40 f41 f42 f43 f44 f45 f46 f47 f48 f49 f50 f51 f52 f53 f54 f55 f56 f57 f58 f59
    f60 f61 f62 f63 f64 f65 f66 f67 f68 f69 f70 f71 f72 f73 f74 f75 f76 f77 f78 f79
    f80 f81 f82 f83 f84 f85 f86 f87 f88 f89 f90 f91 f92 f93 f94 f95 f96 f97 f98 f99
);

/// 64 KiB of `uint8` behind a `Box`.
#[derive(VmState, Clone, Debug, PartialEq)]
#[vmstate(name = "bytes64k", version = 1, minimum_version = 1)]
pub struct BoxedBytes {
    /// The bytes.
    pub data: Box<[u8; 65536]>,
}

/// `[u32; 1024]`.
#[derive(VmState, Clone, Debug, PartialEq)]
#[vmstate(name = "u32x1024", version = 1, minimum_version = 1)]
pub struct Words {
    /// The words.
    pub words: [u32; 1024],
}

/// Case (b): the i8259 with its `ltim` subsection sent.
pub fn i8259() -> I8259 {
    I8259 {
        irr: 0x10,
        imr: 0xb8,
        elcr: 0x0c,
        ltim: I8259Ltim { ltim: 1 },
        ..I8259::default()
    }
}

/// Case (c).
pub fn boxed_bytes() -> BoxedBytes {
    let mut data: Box<[u8; 65536]> = Box::new([0u8; 65536]);
    for (k, x) in data.iter_mut().enumerate() {
        *x = (k as u8) ^ ((k >> 8) as u8);
    }
    BoxedBytes { data }
}

/// Case (d).
pub fn words() -> Words {
    let mut words = [0u32; 1024];
    for (k, w) in words.iter_mut().enumerate() {
        *w = (k as u32).wrapping_mul(0x0101_0101) ^ 0xdead_beef;
    }
    Words { words }
}
