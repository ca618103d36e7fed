//! Escaping for every place a string from a run lands: HTML text and attributes, links to
//! files in the results tree, and lines printed to a terminal. Run names, file names, node
//! names and error messages come from the system under test or whoever can write into
//! the results tree, so none of them is trusted.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Escapes text for HTML element content.
pub fn html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Escapes text for a quoted HTML attribute (either quote).
pub fn attr(s: &str) -> String {
    html(s).replace('"', "&quot;").replace('\'', "&#39;")
}

/// Percent-encodes everything but RFC 3986's unreserved characters, so a segment can
/// hold no `/`, `?`, `#`, `:` or `%` of its own: `javascript:x` becomes `javascript%3Ax`.
pub fn url_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// An `href` attribute value for the relative path `segments` (a trailing `""` gives a
/// trailing slash): each segment percent-encoded, the whole starting with `./` so it can
/// never be read as a scheme or a host, then escaped for the attribute.
pub fn href(segments: &[&str]) -> String {
    let path: Vec<String> = segments.iter().map(|s| url_segment(s)).collect();
    attr(&format!("./{}", path.join("/")))
}

/// A line safe to print to a terminal: control characters (C0, DEL, C1) and the
/// bidirectional overrides that reorder what is shown are written as escapes (`\x1b`,
/// `\n`, `\u{9b}`, `\u{202e}`), so text from a run cannot move the cursor, erase or
/// rewrite a line, or set the window title.
pub fn terminal(s: &str) -> Cow<'_, str> {
    if !s.chars().any(needs_escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if needs_escape(c) && (c as u32) < 0x80 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if needs_escape(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// The `href` of every `<a` tag in `html`, unescaped only of `&amp;`; panics unless
/// each tag is exactly `<a href="…">`, so no name added an attribute of its own.
#[cfg(test)]
pub fn hrefs(html: &str) -> Vec<String> {
    html.split("<a ")
        .skip(1)
        .map(|rest| {
            let tag = &rest[..rest.find('>').expect("a closed tag")];
            let value = tag
                .strip_prefix("href=\"")
                .and_then(|v| v.strip_suffix('"'))
                .filter(|v| !v.contains('"'))
                .unwrap_or_else(|| panic!("not a plain link: <a {tag}>"));
            value.replace("&amp;", "&")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hrefs_cannot_name_a_scheme_a_host_or_leave_the_attribute() {
        assert_eq!(
            href(&["javascript:alert(1)", "timeline.html"]),
            "./javascript%3Aalert%281%29/timeline.html"
        );
        assert_eq!(href(&["//evil.example", ""]), "./%2F%2Fevil.example/");
        assert_eq!(href(&["a\"b'c<d>&e f"]), "./a%22b%27c%3Cd%3E%26e%20f");
        assert_eq!(href(&["run-1", "nodes", ""]), "./run-1/nodes/");
        assert_eq!(attr("\"'<&"), "&quot;&#39;&lt;&amp;");
    }

    #[test]
    fn terminal_lines_carry_no_control_characters() {
        assert!(matches!(terminal("n1 leader"), Cow::Borrowed("n1 leader")));
        let hostile = "n1\x1b[2K\r\x1b[1AVALID\u{9b}31m\u{202e}x\x07\nnext";
        let shown = terminal(hostile);
        assert_eq!(
            shown,
            "n1\\x1b[2K\\r\\x1b[1AVALID\\u{9b}31m\\u{202e}x\\x07\\nnext"
        );
        assert!(!shown.chars().any(needs_escape));
        assert_eq!(terminal("ümlaut — …"), "ümlaut — …");
    }
}
