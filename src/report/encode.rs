//! Compact encodings for the data a timeline embeds: varint columns, zlib, base64.
//!
//! A column of integers becomes LEB128 varints (deltas and small codes take one or two
//! bytes), the columns are concatenated, zlib-compressed and base64-encoded into the page,
//! where the browser's `DecompressionStream("deflate")` undoes the compression. This keeps
//! a million-op history to tens of megabytes of HTML without any network or library.

use std::io::Write;

/// A column of non-negative integers, stored as LEB128 varints.
#[derive(Default)]
pub struct Column {
    bytes: Vec<u8>,
    len: usize,
}

impl Column {
    /// Appends `v`. Values above 2^53 would lose precision in JavaScript's doubles.
    pub fn push(&mut self, v: u64) {
        debug_assert!(v < (1u64 << 53), "column value {v} exceeds 2^53");
        let mut v = v;
        while v >= 0x80 {
            self.bytes.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.bytes.push(v as u8);
        self.len += 1;
    }

    /// Appends a signed value, zigzag-encoded so small magnitudes stay small.
    pub fn push_signed(&mut self, v: i64) {
        self.push(((v << 1) ^ (v >> 63)) as u64);
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn byte_len(&self) -> usize {
        self.bytes.len()
    }
}

/// Concatenates named columns into one blob; returns the blob and each column's
/// `(name, count, byte length)` so the page can slice it apart.
pub fn pack(columns: Vec<(&'static str, Column)>) -> (Vec<u8>, Vec<(String, usize, usize)>) {
    let total = columns.iter().map(|(_, c)| c.byte_len()).sum();
    let mut blob = Vec::with_capacity(total);
    let mut layout = Vec::with_capacity(columns.len());
    for (name, column) in columns {
        layout.push((name.to_string(), column.len(), column.byte_len()));
        blob.extend_from_slice(&column.bytes);
    }
    (blob, layout)
}

/// zlib-compresses `bytes` (the "deflate" format of the Compression Streams API).
pub fn zlib(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::ZlibEncoder::new(
        Vec::with_capacity(bytes.len() / 4),
        flate2::Compression::fast(),
    );
    // Writing into a Vec cannot fail.
    encoder.write_all(bytes).expect("in-memory zlib write");
    encoder.finish().expect("in-memory zlib finish")
}

const BASE64_ALPHABET: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
pub fn base64(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(BASE64_ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Serializes `value` as JSON that is safe inside an HTML `<script>` element: `<` only
/// ever occurs inside JSON strings, where `\u003c` means the same.
pub fn json_for_script<T: serde::Serialize>(value: &T) -> serde_json::Result<String> {
    Ok(serde_json::to_string(value)?.replace('<', "\\u003c"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_varints(bytes: &[u8]) -> Vec<u64> {
        let mut out = Vec::new();
        let (mut v, mut shift) = (0u64, 0);
        for &b in bytes {
            v |= u64::from(b & 0x7f) << shift;
            shift += 7;
            if b < 0x80 {
                out.push(v);
                v = 0;
                shift = 0;
            }
        }
        out
    }

    #[test]
    fn varints_round_trip() {
        let values = [0u64, 1, 127, 128, 300, 1 << 40, (1 << 53) - 1];
        let mut c = Column::default();
        for v in values {
            c.push(v);
        }
        assert_eq!(c.len(), values.len());
        assert_eq!(decode_varints(&c.bytes), values);
    }

    #[test]
    fn zigzag_keeps_small_magnitudes_small() {
        let mut c = Column::default();
        c.push_signed(-1);
        c.push_signed(1);
        c.push_signed(-64);
        assert_eq!(decode_varints(&c.bytes), [1, 2, 127]);
    }

    #[test]
    fn base64_matches_the_standard() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn script_json_cannot_close_the_element() {
        let s = json_for_script(&"</script><b>").unwrap();
        assert!(!s.contains('<'));
        assert_eq!(serde_json::from_str::<String>(&s).unwrap(), "</script><b>");
    }
}
