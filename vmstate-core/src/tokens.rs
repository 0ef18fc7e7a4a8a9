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
//!     tokens(&mut pit).unwrap(),
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
//! ```

use crate::{Description, Result, Timer, Visitor, VmState, visit_struct};

/// One visitor call.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)] // Each variant is the visitor method of the same name.
pub enum Token {
    Bool(&'static str, bool),
    I8(&'static str, i8),
    I16(&'static str, i16),
    I32(&'static str, i32),
    I64(&'static str, i64),
    U8(&'static str, u8),
    U16(&'static str, u16),
    U32(&'static str, u32),
    U64(&'static str, u64),
    F64(&'static str, f64),
    Timer(&'static str, Timer),
    U8Equal(&'static str, u8),
    U16Equal(&'static str, u16),
    U32Equal(&'static str, u32),
    U64Equal(&'static str, u64),
    I32Equal(&'static str, i32),
    I32Le(&'static str, i32),
    Buffer(&'static str, Vec<u8>),
    Unused(&'static str, usize),
    BitmapWord(&'static str, u64),
    PtrMarker(&'static str, bool),
    ListMarker(&'static str, bool),
    Struct {
        name: &'static str,
        description: &'static str,
        version_id: u32,
    },
    StructEnd,
    Array {
        name: &'static str,
        len: usize,
    },
    ArrayEnd,
    Element(usize),
    ElementEnd,
    Subsection {
        name: &'static str,
        version_id: u32,
    },
    SubsectionEnd,
}

/// Records every call it receives.
#[derive(Debug, Default)]
pub struct TokenRecorder {
    tokens: Vec<Token>,
}

impl TokenRecorder {
    /// An empty recorder.
    pub fn new() -> Self {
        Self::default()
    }

    /// The tokens recorded so far.
    pub fn into_tokens(self) -> Vec<Token> {
        self.tokens
    }
}

/// The tokens of a save-direction walk of `value`.
pub fn tokens<T: VmState>(value: &mut T) -> Result<Vec<Token>> {
    let mut rec = TokenRecorder::new();
    visit_struct(value, &mut rec, T::DESCRIPTION.name)?;
    Ok(rec.into_tokens())
}

macro_rules! record {
    ($($method:ident($t:ty) => $tok:ident),* $(,)?) => {$(
        fn $method(&mut self, name: &'static str, v: &mut $t) -> Result<()> {
            self.tokens.push(Token::$tok(name, *v));
            Ok(())
        }
    )*};
}

impl Visitor for TokenRecorder {
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

    fn visit_buffer(&mut self, name: &'static str, bytes: &mut [u8]) -> Result<()> {
        self.tokens.push(Token::Buffer(name, bytes.to_vec()));
        Ok(())
    }
    fn visit_unused(&mut self, name: &'static str, len: usize) -> Result<()> {
        self.tokens.push(Token::Unused(name, len));
        Ok(())
    }
    fn visit_ptr_marker(&mut self, name: &'static str, present: &mut bool, _: bool) -> Result<()> {
        self.tokens.push(Token::PtrMarker(name, *present));
        Ok(())
    }
    fn enter_struct(
        &mut self,
        name: &'static str,
        d: &'static Description,
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
    fn enter_array(&mut self, name: &'static str, len: usize, _: usize) -> Result<()> {
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
    fn enter_subsection(&mut self, d: &'static Description) -> Result<()> {
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
