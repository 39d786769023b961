//! Little-endian encoding helpers shared by the WAL and the manifest.
//! Decoding never panics: every read is bounds-checked and reports the offset.

/// A decoding failure at `offset` (relative to the decoded buffer).
#[derive(Debug)]
pub(crate) struct DecodeError {
    pub offset: usize,
    pub cause: String,
}

pub(crate) struct Writer {
    pub buf: Vec<u8>,
}

impl Writer {
    pub fn with_capacity(capacity: usize) -> Self {
        Writer {
            buf: Vec::with_capacity(capacity),
        }
    }

    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    pub fn raw(&mut self, v: &[u8]) {
        self.buf.extend_from_slice(v);
    }

    /// `u32` length, then the bytes. Callers check `v.len() <= u32::MAX`.
    pub fn bytes(&mut self, v: &[u8]) {
        self.u32(v.len() as u32);
        self.raw(v);
    }
}

pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub fn pos(&self) -> usize {
        self.pos
    }

    pub fn is_empty(&self) -> bool {
        self.pos == self.buf.len()
    }

    pub fn error(&self, cause: impl Into<String>) -> DecodeError {
        DecodeError {
            offset: self.pos,
            cause: cause.into(),
        }
    }

    pub fn raw(&mut self, n: usize, what: &str) -> Result<&'a [u8], DecodeError> {
        let rest = self.buf.len() - self.pos;
        if n > rest {
            return Err(self.error(format!("{what}: needs {n} bytes, only {rest} left")));
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    pub fn u8(&mut self, what: &str) -> Result<u8, DecodeError> {
        Ok(self.raw(1, what)?[0])
    }

    pub fn u32(&mut self, what: &str) -> Result<u32, DecodeError> {
        let b = self.raw(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn u64(&mut self, what: &str) -> Result<u64, DecodeError> {
        let b = self.raw(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    /// A `u32` length, then that many bytes.
    pub fn bytes(&mut self, what: &str) -> Result<&'a [u8], DecodeError> {
        let len = self.u32(what)? as usize;
        self.raw(len, what)
    }

    pub fn string(&mut self, what: &str) -> Result<String, DecodeError> {
        let start = self.pos;
        let b = self.bytes(what)?;
        String::from_utf8(b.to_vec()).map_err(|_| DecodeError {
            offset: start,
            cause: format!("{what} is not valid UTF-8"),
        })
    }

    /// A flag byte that must be 0 or 1.
    pub fn bool(&mut self, what: &str) -> Result<bool, DecodeError> {
        match self.u8(what)? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(DecodeError {
                offset: self.pos - 1,
                cause: format!("{what}: expected 0 or 1, found {other}"),
            }),
        }
    }
}
