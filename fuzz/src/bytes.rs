//! The byte reader both targets decode their input with: one byte at a time, zero once the
//! input is used up, so that every input decodes and short hand-written seeds stay meaningful.

/// The unread rest of an input.
pub struct Bytes<'a>(pub &'a [u8]);

impl Bytes<'_> {
    /// The next byte, or zero at the end.
    pub fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }

    /// Whether the input is used up.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Implements `Arbitrary` for a target's input type, whose `decode(&[u8]) -> Self` takes any
/// bytes: the fuzzer's whole input goes to `decode`, the way the committed seeds do.
macro_rules! arbitrary_via_decode {
    ($input:ty) => {
        impl<'a> ::arbitrary::Arbitrary<'a> for $input {
            fn arbitrary(u: &mut ::arbitrary::Unstructured<'a>) -> ::arbitrary::Result<Self> {
                Ok(<$input>::decode(u.bytes(u.len())?))
            }
        }
    };
}
pub(crate) use arbitrary_via_decode;
