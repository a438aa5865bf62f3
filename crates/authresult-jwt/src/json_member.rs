//! A streaming scan for one top-level string member of a JSON object body
//! (DataCollect's `configId`), fed chunk by chunk as the body arrives.
//!
//! The scan keeps no tree: a few bytes of state, a bit per open bracket (at
//! most [`MAX_DEPTH`]), and the member's decoded value (at most
//! [`MAX_VALUE_LEN`] bytes). It reads the top-level object to its closing
//! brace, so a member given twice is seen (and refused: a parser that keeps
//! the last one, as JavaScript's `JSON.parse` does, must not disagree with
//! the app the request was authenticated for), and stops there.
//!
//! It is not a second copy of `strict_json.rs`, the crate's strict reader
//! of whole JSON objects: a request body arrives in chunks and may be
//! large, so only this member is decoded and kept, and only its duplicate
//! matters (the body's other members are the application's to read).

/// Deepest nesting the scan follows (`serde_json`'s own limit).
pub(crate) const MAX_DEPTH: usize = 128;
/// Longest member value, in bytes once decoded.
pub(crate) const MAX_VALUE_LEN: usize = 256;

/// Why the body cannot name its app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScanError {
    /// Not JSON, or cut off before the top-level object closed.
    Invalid,
    /// The member is given more than once.
    Duplicate,
    /// The member is not a string.
    NotString,
    /// The member's value is longer than [`MAX_VALUE_LEN`].
    TooLong,
    /// Nested deeper than [`MAX_DEPTH`].
    TooDeep,
}

/// What the scan has found so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Scan {
    /// More bytes are needed.
    More,
    /// The answer: the member's value (`None`: the body is not an object,
    /// or has no such member, or it is the empty string); the bytes after
    /// the one that decided it are not needed.
    Done(Result<Option<String>, ScanError>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the top-level value.
    Start,
    /// In the top-level object, before a key or `}` (`first`: nothing yet).
    Key { first: bool },
    /// In a top-level key's string.
    KeyString,
    /// After a top-level key, before `:`.
    Colon,
    /// After `:`, before a top-level member's value.
    Value,
    /// In the wanted member's string value.
    ValueString,
    /// In a top-level scalar (number, `true`, ...) being skipped.
    Scalar,
    /// In a nested array or object being skipped.
    Nested,
    /// In a string inside a nested value.
    NestedString,
    /// After a top-level member's value, before `,` or `}`.
    Next,
    /// Finished (the answer was given).
    Done,
}

/// The decoder of one JSON string's escapes, shared by keys and values.
#[derive(Debug, Clone, Default)]
struct Unescape {
    /// After a backslash.
    escape: bool,
    /// Hex digits still expected in `\uXXXX`, and the code unit so far.
    hex: Option<(u8, u16)>,
    /// A leading surrogate waiting for its trailing one.
    high: Option<u16>,
}

/// What one byte inside a string did.
enum Step {
    /// Part of an escape: nothing to append yet.
    Pending,
    /// Append these bytes (a character, possibly decoded).
    Bytes([u8; 4], usize),
    /// The closing quote.
    End,
    /// Not valid inside a JSON string.
    Invalid,
}

impl Unescape {
    fn step(&mut self, byte: u8) -> Step {
        if let Some((left, unit)) = self.hex {
            let Some(digit) = (byte as char).to_digit(16) else {
                return Step::Invalid;
            };
            // `digit` < 16.
            let unit = (unit << 4) | digit as u16;
            if left > 1 {
                self.hex = Some((left - 1, unit));
                return Step::Pending;
            }
            self.hex = None;
            return self.unit(unit);
        }
        if self.escape {
            self.escape = false;
            let decoded = match byte {
                b'"' => b'"',
                b'\\' => b'\\',
                b'/' => b'/',
                b'b' => 0x08,
                b'f' => 0x0c,
                b'n' => b'\n',
                b'r' => b'\r',
                b't' => b'\t',
                b'u' => {
                    self.hex = Some((4, 0));
                    return Step::Pending;
                }
                _ => return Step::Invalid,
            };
            return self.plain(decoded);
        }
        match byte {
            b'\\' => {
                self.escape = true;
                Step::Pending
            }
            b'"' if self.high.is_none() => Step::End,
            byte if byte < 0x20 => Step::Invalid,
            byte => self.plain(byte),
        }
    }

    /// A byte as itself (UTF-8 is checked once the string is complete).
    fn plain(&mut self, byte: u8) -> Step {
        if self.high.is_some() {
            // A leading surrogate not followed by `\u` + a trailing one.
            return Step::Invalid;
        }
        Step::Bytes([byte, 0, 0, 0], 1)
    }

    /// A `\uXXXX` code unit.
    fn unit(&mut self, unit: u16) -> Step {
        let code = match (self.high.take(), unit) {
            (None, 0xD800..=0xDBFF) => {
                self.high = Some(unit);
                return Step::Pending;
            }
            (Some(high), 0xDC00..=0xDFFF) => {
                0x10000 + ((u32::from(high) - 0xD800) << 10) + (u32::from(unit) - 0xDC00)
            }
            (Some(_), _) | (None, 0xDC00..=0xDFFF) => return Step::Invalid,
            (None, unit) => u32::from(unit),
        };
        let Some(c) = char::from_u32(code) else {
            return Step::Invalid;
        };
        let mut out = [0; 4];
        let len = c.encode_utf8(&mut out).len();
        Step::Bytes(out, len)
    }
}

/// The scan of one body for one top-level member.
#[derive(Debug, Clone)]
pub(crate) struct MemberScan {
    member: Box<[u8]>,
    state: State,
    /// Open brackets below the top level: bit set for an object.
    brackets: u128,
    /// How many are open below the top level.
    depth: usize,
    unescape: Unescape,
    /// The current top-level key so far; `None` once it cannot be the member.
    key: Option<Vec<u8>>,
    /// The member's value so far.
    value: Vec<u8>,
    /// The member's value once complete.
    found: Option<String>,
    /// The member was seen (even as the empty string).
    seen: bool,
}

impl MemberScan {
    /// A scan for the top-level string member `member`.
    pub(crate) fn new(member: &str) -> Self {
        MemberScan {
            member: member.as_bytes().into(),
            state: State::Start,
            brackets: 0,
            depth: 0,
            unescape: Unescape::default(),
            key: None,
            value: Vec::new(),
            found: None,
            seen: false,
        }
    }

    /// Feeds the next bytes of the body; returns how many were used (all of
    /// them unless the scan finished inside the chunk) and what is known.
    pub(crate) fn feed(&mut self, chunk: &[u8]) -> (usize, Scan) {
        for (i, &byte) in chunk.iter().enumerate() {
            if let Some(answer) = self.byte(byte) {
                self.state = State::Done;
                return (i + 1, Scan::Done(answer));
            }
        }
        (chunk.len(), Scan::More)
    }

    /// The answer at the end of the body.
    pub(crate) fn finish(&mut self) -> Result<Option<String>, ScanError> {
        match self.state {
            // An empty (or blank) body names no app.
            State::Start => Ok(None),
            _ => Err(ScanError::Invalid),
        }
    }

    /// One byte; `Some` when it decides the answer.
    fn byte(&mut self, byte: u8) -> Option<Result<Option<String>, ScanError>> {
        let blank = matches!(byte, b' ' | b'\t' | b'\n' | b'\r');
        match self.state {
            State::Start => match byte {
                _ if blank => None,
                b'{' => {
                    self.state = State::Key { first: true };
                    None
                }
                // Another top-level value has no members.
                _ => Some(Ok(None)),
            },
            State::Key { first } => match byte {
                _ if blank => None,
                b'"' => {
                    self.key = Some(Vec::with_capacity(self.member.len()));
                    self.unescape = Unescape::default();
                    self.state = State::KeyString;
                    None
                }
                b'}' if first => Some(Ok(self.found.take())),
                _ => Some(Err(ScanError::Invalid)),
            },
            State::KeyString => match self.unescape.step(byte) {
                Step::Pending => None,
                Step::Bytes(bytes, len) => {
                    let still = self.key.as_mut().is_some_and(|key| {
                        key.extend_from_slice(&bytes[..len]);
                        self.member.starts_with(key)
                    });
                    if !still {
                        self.key = None;
                    }
                    None
                }
                Step::End => {
                    self.state = State::Colon;
                    None
                }
                Step::Invalid => Some(Err(ScanError::Invalid)),
            },
            State::Colon => match byte {
                _ if blank => None,
                b':' => {
                    self.state = State::Value;
                    None
                }
                _ => Some(Err(ScanError::Invalid)),
            },
            State::Value => {
                if blank {
                    return None;
                }
                let wanted = self.key.take().is_some_and(|key| *key == *self.member);
                if wanted {
                    if self.seen {
                        return Some(Err(ScanError::Duplicate));
                    }
                    self.seen = true;
                    if byte != b'"' {
                        return Some(Err(ScanError::NotString));
                    }
                    self.value.clear();
                    self.unescape = Unescape::default();
                    self.state = State::ValueString;
                    return None;
                }
                match byte {
                    b'"' => {
                        self.unescape = Unescape::default();
                        self.depth = 0;
                        self.state = State::NestedString;
                        None
                    }
                    b'{' | b'[' => self.open(byte),
                    b'-' | b'0'..=b'9' | b't' | b'f' | b'n' => {
                        self.state = State::Scalar;
                        None
                    }
                    _ => Some(Err(ScanError::Invalid)),
                }
            }
            State::ValueString => match self.unescape.step(byte) {
                Step::Pending => None,
                Step::Bytes(bytes, len) => {
                    if self.value.len() + len > MAX_VALUE_LEN {
                        return Some(Err(ScanError::TooLong));
                    }
                    self.value.extend_from_slice(&bytes[..len]);
                    None
                }
                Step::End => {
                    let value = std::mem::take(&mut self.value);
                    match String::from_utf8(value) {
                        Ok(value) => {
                            self.found = Some(value).filter(|v| !v.is_empty());
                            self.state = State::Next;
                            None
                        }
                        Err(_) => Some(Err(ScanError::Invalid)),
                    }
                }
                Step::Invalid => Some(Err(ScanError::Invalid)),
            },
            State::Scalar => match byte {
                b',' | b'}' => self.next(byte),
                _ if blank => {
                    self.state = State::Next;
                    None
                }
                b'"' | b'{' | b'[' | b']' | b':' => Some(Err(ScanError::Invalid)),
                _ => None,
            },
            State::Nested => match byte {
                b'"' => {
                    self.unescape = Unescape::default();
                    self.state = State::NestedString;
                    None
                }
                b'{' | b'[' => self.open(byte),
                b'}' | b']' => self.close(byte),
                _ => None,
            },
            State::NestedString => match self.unescape.step(byte) {
                Step::Pending | Step::Bytes(..) => None,
                Step::End => {
                    self.state = if self.depth == 0 {
                        State::Next
                    } else {
                        State::Nested
                    };
                    None
                }
                Step::Invalid => Some(Err(ScanError::Invalid)),
            },
            State::Next => self.next(byte),
            State::Done => Some(Err(ScanError::Invalid)),
        }
    }

    /// After a top-level value: `,` or the end of the object.
    fn next(&mut self, byte: u8) -> Option<Result<Option<String>, ScanError>> {
        match byte {
            b' ' | b'\t' | b'\n' | b'\r' => {
                self.state = State::Next;
                None
            }
            b',' => {
                self.state = State::Key { first: false };
                None
            }
            b'}' => Some(Ok(self.found.take())),
            _ => Some(Err(ScanError::Invalid)),
        }
    }

    fn open(&mut self, byte: u8) -> Option<Result<Option<String>, ScanError>> {
        if self.depth >= MAX_DEPTH {
            return Some(Err(ScanError::TooDeep));
        }
        let bit = 1u128 << self.depth;
        if byte == b'{' {
            self.brackets |= bit;
        } else {
            self.brackets &= !bit;
        }
        self.depth += 1;
        self.state = State::Nested;
        None
    }

    fn close(&mut self, byte: u8) -> Option<Result<Option<String>, ScanError>> {
        let Some(top) = self.depth.checked_sub(1) else {
            return Some(Err(ScanError::Invalid));
        };
        let object = self.brackets & (1u128 << top) != 0;
        if object != (byte == b'}') {
            return Some(Err(ScanError::Invalid));
        }
        self.depth = top;
        if top == 0 {
            self.state = State::Next;
        }
        None
    }
}

/// Scans a whole body at once.
pub(crate) fn scan_all(body: &[u8], member: &str) -> Result<Option<String>, ScanError> {
    let mut scan = MemberScan::new(member);
    match scan.feed(body) {
        (_, Scan::Done(answer)) => answer,
        (_, Scan::More) => scan.finish(),
    }
}

#[cfg(test)]
mod tests;
