//! Finding fields in a packet without parsing it: the relay's hot path reads
//! ids and numbers in place.

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    let first = needle[0];
    let last = hay.len() - needle.len();
    let mut i = 0;
    while i <= last {
        match hay[i..=last].iter().position(|&b| b == first) {
            None => return None,
            Some(p) => {
                i += p;
                if &hay[i..i + needle.len()] == needle {
                    return Some(i);
                }
                i += 1;
            }
        }
    }
    None
}

/// The string value following `key` (which includes the opening quote), up to
/// the next `"`. Ids and numbers we look for never contain escapes.
pub fn extract_str<'a>(t: &'a [u8], key: &[u8]) -> Option<&'a [u8]> {
    let p = find(t, key)? + key.len();
    let e = t[p..].iter().position(|&b| b == b'"')?;
    Some(&t[p..p + e])
}

pub fn parse_u64(b: &[u8]) -> Option<u64> {
    if b.is_empty() {
        return None;
    }
    let mut v: u64 = 0;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((c - b'0') as u64)?;
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_found_in_place() {
        let t = br#"42["webrtc:ice",{"fromPeerId":"a1","targetPeerId":"b2"}]"#;
        assert_eq!(extract_str(t, b"\"fromPeerId\":\""), Some(&b"a1"[..]));
        assert_eq!(extract_str(t, b"\"nope\":\""), None);
        assert_eq!(find(b"abcabd", b"abd"), Some(3));
        assert_eq!(find(b"ab", b"abc"), None);
        assert_eq!(parse_u64(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_u64(b"18446744073709551616"), None);
        assert_eq!(parse_u64(b"12a"), None);
        assert_eq!(parse_u64(b""), None);
    }
}
