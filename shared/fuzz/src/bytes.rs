//! Choices from fuzz bytes: a small stand-in for the `arbitrary` crate (one less
//! dependency); running out of bytes gives zeros, so every input is a valid program.

/// Reads choices off the front of the fuzz input.
pub struct Bytes<'a> {
    data: &'a [u8],
}

impl<'a> Bytes<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Self { data }
    }

    /// Whether any byte is left.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// One byte (0 once exhausted).
    pub fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((b, rest)) => {
                self.data = rest;
                *b
            }
            None => 0,
        }
    }

    /// A number below `n` (`n` > 0), from one or two bytes.
    pub fn below(&mut self, n: u32) -> u32 {
        let raw = if n > 256 { u32::from(self.byte()) << 8 | u32::from(self.byte()) } else { u32::from(self.byte()) };
        raw % n.max(1)
    }

    /// The rest of the input.
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.data)
    }
}
