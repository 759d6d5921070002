//! Raw records as the rejects tables keep them: exactly the bytes read,
//! quoting and line ending included, as text.
//!
//! A reject must let a person find and mend the record, so nothing is
//! trimmed, re-joined or replaced. Text columns cannot hold arbitrary
//! bytes, so a byte that is not part of valid UTF-8 is written `\xNN`
//! (the rest of the record stays as it was); the mapping is one to one
//! for every record that holds no literal `\x` sequence of its own.

/// The UTF-8 byte order mark some editors put at the start of a file.
pub const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// The record's bytes as text: valid UTF-8 as is, every other byte as `\xNN`.
pub fn raw_text(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02X}"));
        }
    }
    out
}

/// The byte offset of the first byte that is not valid UTF-8, if any.
pub fn invalid_utf8_at(bytes: &[u8]) -> Option<usize> {
    std::str::from_utf8(bytes).err().map(|e| e.valid_up_to())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_text_is_kept_byte_for_byte() {
        let line = "1,\"Heat, The (1995)\",Action\r\n";
        assert_eq!(raw_text(line.as_bytes()), line);
        assert_eq!(raw_text("Café ☕\n".as_bytes()), "Café ☕\n");
    }

    #[test]
    fn invalid_bytes_are_escaped_not_replaced() {
        assert_eq!(raw_text(b"ab\xff\xfec\n"), "ab\\xFF\\xFEc\n");
        // A truncated multi-byte sequence: each of its bytes is escaped.
        assert_eq!(raw_text(b"x\xE2\x82"), "x\\xE2\\x82");
        assert_eq!(invalid_utf8_at(b"ab\xffc"), Some(2));
        assert_eq!(invalid_utf8_at(b"abc"), None);
    }
}
