//! W3C Trace Context (<https://www.w3.org/TR/trace-context/>): the
//! `traceparent` and `tracestate` headers a caller sends so that the run it
//! asks for joins its trace.
//!
//! As the recommendation says, a header that does not parse is ignored (the
//! run starts a trace of its own), never an error: a proxy that mangles it
//! must not make job submission fail.

use crate::events::records::TraceParent;

/// Longest `tracestate` passed on: the recommendation's 32 members of at
/// most 256 characters each, plus separators, is about 8 kB; a caller's
/// state beyond 512 characters is dropped whole (the recommendation allows
/// dropping, not cutting a member in half).
const MAX_TRACE_STATE: usize = 512;

/// The caller's trace from its headers, if `traceparent` is valid.
pub fn parse(traceparent: &str, tracestate: Option<&str>) -> Option<TraceParent> {
    let t = traceparent.trim_matches([' ', '\t']);
    let mut parts = t.split('-');
    let (version, trace_id, parent, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let rest = parts.next();
    if version.len() != 2 || !is_lower_hex(version) || version == "ff" {
        return None;
    }
    // Version 00 is exactly four fields; a later version may add fields,
    // which a 00 parser skips.
    if version == "00" && rest.is_some() {
        return None;
    }
    let valid = |s: &str, len| s.len() == len && is_lower_hex(s) && s.bytes().any(|b| b != b'0');
    if !valid(trace_id, 32) || !valid(parent, 16) || flags.len() != 2 || !is_lower_hex(flags) {
        return None;
    }
    let flags = u8::from_str_radix(flags, 16).ok()?;
    let state = tracestate
        .map(|s| s.trim_matches([' ', '\t']))
        .filter(|s| !s.is_empty() && s.len() <= MAX_TRACE_STATE && s.is_ascii())
        .map(str::to_string);
    Some(TraceParent {
        trace_id: trace_id.to_string(),
        parent_span_id: parent.to_string(),
        sampled: flags & 1 == 1,
        state,
    })
}

fn is_lower_hex(s: &str) -> bool {
    s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Hex digits to bytes: `N` bytes from `2N` lowercase hex digits.
pub fn bytes<const N: usize>(hex: &str) -> Option<[u8; N]> {
    if hex.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const PARENT: &str = "00f067aa0ba902b7";

    #[test]
    fn the_recommendations_example_parses_with_its_sampled_flag() {
        let t = parse(
            &format!("00-{TRACE}-{PARENT}-01"),
            Some("congo=t61rcWkgMzE"),
        )
        .unwrap();
        assert_eq!(t.trace_id, TRACE);
        assert_eq!(t.parent_span_id, PARENT);
        assert!(t.sampled);
        assert_eq!(t.state.as_deref(), Some("congo=t61rcWkgMzE"));
        let unsampled = parse(&format!("00-{TRACE}-{PARENT}-00"), None).unwrap();
        assert!(!unsampled.sampled);
        assert_eq!(unsampled.state, None);
    }

    #[test]
    fn a_later_version_may_carry_more_fields_but_version_00_may_not() {
        assert!(parse(&format!("01-{TRACE}-{PARENT}-01-what-comes"), None).is_some());
        assert!(parse(&format!("00-{TRACE}-{PARENT}-01-extra"), None).is_none());
    }

    #[test]
    fn malformed_headers_are_ignored() {
        for bad in [
            String::new(),
            "garbage".into(),
            format!("ff-{TRACE}-{PARENT}-01"),
            format!("00-{}-{PARENT}-01", "0".repeat(32)),
            format!("00-{TRACE}-{}-01", "0".repeat(16)),
            format!("00-{}-{PARENT}-01", TRACE.to_uppercase()),
            format!("00-{TRACE}-{PARENT}-1"),
            format!("00-{TRACE}-{PARENT}-zz"),
            format!("00-{}-{PARENT}-01", &TRACE[1..]),
            format!("0-{TRACE}-{PARENT}-01"),
            format!("00-{TRACE}-{PARENT}"),
        ] {
            assert_eq!(parse(&bad, None), None, "{bad}");
        }
    }

    #[test]
    fn an_overlong_or_empty_tracestate_is_dropped_whole() {
        let long = "a=".to_string() + &"b".repeat(MAX_TRACE_STATE);
        let t = parse(&format!("00-{TRACE}-{PARENT}-01"), Some(&long)).unwrap();
        assert_eq!(t.state, None);
        let t = parse(&format!("00-{TRACE}-{PARENT}-01"), Some("  ")).unwrap();
        assert_eq!(t.state, None);
    }

    #[test]
    fn hex_turns_into_bytes_and_back() {
        let b: [u8; 8] = bytes(PARENT).unwrap();
        assert_eq!(b, [0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7]);
        assert_eq!(bytes::<8>("00f0"), None);
        assert_eq!(bytes::<2>("zzzz"), None);
    }
}
