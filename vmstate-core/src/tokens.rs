//! A visitor that records the walk as tokens, independent of any wire
//! format, in the manner of `serde_test`: for testing what a type visits,
//! in which order, under which names.
//!
//! ```
//! use vmstate_core::tokens::{tokens, Token};
//! use vmstate_core::VmState;
//!
//! #[derive(VmState, Default)]
//! #[vmstate(name = "pit", version = 1)]
//! struct Pit {
//!     mode: u8,
//!     count: [u16; 2],
//! }
//!
//! let mut pit = Pit { mode: 3, count: [1, 2] };
//! assert_eq!(
//!     tokens(&mut pit)?,
//!     [
//!         Token::Struct { name: "pit", description: "pit", version_id: 1 },
//!         Token::U8("mode", 3),
//!         Token::Array { name: "count", len: 2 },
//!         Token::Element(0),
//!         Token::U16("count", 1),
//!         Token::ElementEnd,
//!         Token::Element(1),
//!         Token::U16("count", 2),
//!         Token::ElementEnd,
//!         Token::ArrayEnd,
//!         Token::StructEnd,
//!     ]
//! );
//! # Ok::<(), vmstate_core::Error>(())
//! ```

use crate::{Description, Result, Timer, Visitor, VmState, visit_struct};

/// One visitor call.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)] // Each variant is the visitor method of the same name.
pub enum Token<'d> {
    Bool(&'d str, bool),
    I8(&'d str, i8),
    I16(&'d str, i16),
    I32(&'d str, i32),
    I64(&'d str, i64),
    U8(&'d str, u8),
    U16(&'d str, u16),
    U32(&'d str, u32),
    U64(&'d str, u64),
    F64(&'d str, f64),
    Timer(&'d str, Timer),
    U8Equal(&'d str, u8),
    U16Equal(&'d str, u16),
    U32Equal(&'d str, u32),
    U64Equal(&'d str, u64),
    I32Equal(&'d str, i32),
    I32Le(&'d str, i32),
    Buffer(&'d str, Vec<u8>),
    Unused(&'d str, usize),
    BitmapWord(&'d str, u64),
    PtrMarker(&'d str, bool),
    ListMarker(&'d str, bool),
    Struct {
        name: &'d str,
        description: &'d str,
        version_id: u32,
    },
    StructEnd,
    Array {
        name: &'d str,
        len: usize,
    },
    ArrayEnd,
    Element(usize),
    ElementEnd,
    Subsection {
        name: &'d str,
        version_id: u32,
    },
    SubsectionEnd,
}

/// Records every call it receives.
#[derive(Debug, Default)]
pub struct TokenRecorder<'d> {
    tokens: Vec<Token<'d>>,
}

impl<'d> TokenRecorder<'d> {
    /// An empty recorder.
    pub fn new() -> Self {
        Self::default()
    }

    /// The tokens recorded so far.
    pub fn into_tokens(self) -> Vec<Token<'d>> {
        self.tokens
    }
}

/// The tokens of a save-direction walk of `value`. Runs no hook and leaves
/// `value` as it is (see [looking at state](crate#looking-at-state)).
pub fn tokens<T: VmState>(value: &mut T) -> Result<Vec<Token<'static>>> {
    let mut rec = TokenRecorder::new();
    visit_struct(value, &mut rec, T::DESCRIPTION.name)?;
    Ok(rec.into_tokens())
}

macro_rules! record {
    ($($method:ident($t:ty) => $tok:ident),* $(,)?) => {$(
        fn $method(&mut self, name: &'d str, v: &mut $t) -> Result<()> {
            self.tokens.push(Token::$tok(name, *v));
            Ok(())
        }
    )*};
}

impl<'d> Visitor<'d> for TokenRecorder<'d> {
    const LOADING: bool = false;

    record! {
        visit_bool(bool) => Bool, visit_i8(i8) => I8, visit_i16(i16) => I16,
        visit_i32(i32) => I32, visit_i64(i64) => I64, visit_u8(u8) => U8,
        visit_u16(u16) => U16, visit_u32(u32) => U32, visit_u64(u64) => U64,
        visit_f64(f64) => F64, visit_timer(Timer) => Timer,
        visit_u8_equal(u8) => U8Equal, visit_u16_equal(u16) => U16Equal,
        visit_u32_equal(u32) => U32Equal, visit_u64_equal(u64) => U64Equal,
        visit_i32_equal(i32) => I32Equal, visit_i32_le(i32) => I32Le,
        visit_bitmap_word(u64) => BitmapWord,
        visit_list_marker(bool) => ListMarker,
    }

    fn visit_buffer(&mut self, name: &'d str, bytes: &mut [u8]) -> Result<()> {
        self.tokens.push(Token::Buffer(name, bytes.to_vec()));
        Ok(())
    }
    fn visit_unused(&mut self, name: &'d str, len: usize) -> Result<()> {
        self.tokens.push(Token::Unused(name, len));
        Ok(())
    }
    fn visit_ptr_marker(&mut self, name: &'d str, present: &mut bool, _: bool) -> Result<()> {
        self.tokens.push(Token::PtrMarker(name, *present));
        Ok(())
    }
    fn enter_struct(
        &mut self,
        name: &'d str,
        d: &'d Description<'d>,
        version_id: u32,
    ) -> Result<()> {
        self.tokens.push(Token::Struct {
            name,
            description: d.name,
            version_id,
        });
        Ok(())
    }
    fn leave_struct(&mut self) -> Result<()> {
        self.tokens.push(Token::StructEnd);
        Ok(())
    }
    fn enter_array(&mut self, name: &'d str, len: usize, _: usize) -> Result<()> {
        self.tokens.push(Token::Array { name, len });
        Ok(())
    }
    fn leave_array(&mut self) -> Result<()> {
        self.tokens.push(Token::ArrayEnd);
        Ok(())
    }
    fn enter_element(&mut self, index: usize) -> Result<()> {
        self.tokens.push(Token::Element(index));
        Ok(())
    }
    fn leave_element(&mut self) -> Result<()> {
        self.tokens.push(Token::ElementEnd);
        Ok(())
    }
    fn enter_subsection(&mut self, d: &'d Description<'d>) -> Result<()> {
        self.tokens.push(Token::Subsection {
            name: d.name,
            version_id: d.version_id,
        });
        Ok(())
    }
    fn leave_subsection(&mut self) -> Result<()> {
        self.tokens.push(Token::SubsectionEnd);
        Ok(())
    }
}
