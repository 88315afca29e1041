//! Lexical rules of RFC 3261 §25.1 shared by every header parser: tokens,
//! quoted strings, linear white space (folds included), comma-separated lists
//! and `;name=value` parameters.
//!
//! Header values handed to these functions are the raw text between the colon
//! and the end of the (possibly folded) header line. A fold is CRLF followed by
//! white space, so inside a value CR and LF only ever occur as part of one and
//! count as white space.

use std::borrow::Cow;

/// `token` characters (RFC 3261 §25.1).
#[inline]
pub fn is_token_char(b: u8) -> bool {
    CLASS[b as usize] & TOKEN != 0
}

/// Characters of a parameter value that is not quoted: token characters
/// plus those of a host (IPv6 reference included) and a few that stacks put
/// in values in practice.
#[inline]
fn is_param_value_char(b: u8) -> bool {
    CLASS[b as usize] & PARAM_VALUE != 0
}

/// Characters of a host name or IPv4 address (IPv6 references aside).
#[inline]
pub fn is_host_char(b: u8) -> bool {
    CLASS[b as usize] & HOST != 0
}

const TOKEN: u8 = 1;
const PARAM_VALUE: u8 = 2;
const HOST: u8 = 4;
/// Where [`param_value`]'s plain reading stops: `;`, `"` and white space.
const PARAM_STOP: u8 = 8;

/// Character classes, one table lookup per byte on the hot path.
static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        let token = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
            );
        if token {
            t[i] = TOKEN | PARAM_VALUE;
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_') {
                t[i] |= HOST;
            }
        } else if matches!(b, b'[' | b']' | b':' | b'/' | b'@' | b'?') {
            t[i] = PARAM_VALUE;
        } else if matches!(b, b';' | b'"' | b' ' | b'\t' | b'\r' | b'\n') {
            t[i] = PARAM_STOP;
        }
        i += 1;
    }
    t
};

/// True when `s` is a non-empty `token`.
pub fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token_char)
}

/// Linear white space inside a header value: SP, HTAB and the CR/LF of a fold.
pub fn is_lws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// `s` without leading and trailing linear white space.
pub fn trim_lws(s: &str) -> &str {
    let b = s.as_bytes();
    let start = b.iter().position(|&c| !is_lws(c)).unwrap_or(b.len());
    let end = b.iter().rposition(|&c| !is_lws(c)).map_or(start, |e| e + 1);
    // Both ends sit next to ASCII white space or at the ends: char boundaries.
    &s[start..end]
}

/// Why a piece of header text could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextError {
    /// A quoted string has no closing quote.
    UnterminatedQuote,
    /// A `<` has no matching `>`.
    UnterminatedAngle,
    /// A parameter has no name (`;;` or `;=x`).
    EmptyParameter,
    /// A parameter name is not a token.
    BadParameterName,
    /// A parameter value is neither a token, a quoted string nor a host.
    BadParameterValue,
}

impl TextError {
    /// A reason phrase fragment a person can read.
    pub fn describe(self) -> &'static str {
        match self {
            TextError::UnterminatedQuote => "unterminated quoted string",
            TextError::UnterminatedAngle => "'<' without matching '>'",
            TextError::EmptyParameter => "empty parameter",
            TextError::BadParameterName => "parameter name is not a token",
            TextError::BadParameterValue => "malformed parameter value",
        }
    }
}

/// Length in bytes of the quoted string that starts at `s[0] == '"'`,
/// closing quote included. Backslash escapes any octet (`quoted-pair`).
pub fn quoted_len(s: &[u8]) -> Result<usize, TextError> {
    debug_assert_eq!(s.first(), Some(&b'"'));
    let mut i = 1;
    while i < s.len() {
        match s[i] {
            b'\\' => i += 2,
            b'"' => return Ok(i + 1),
            _ => i += 1,
        }
    }
    Err(TextError::UnterminatedQuote)
}

/// The content of a quoted string with its quotes removed and `\x` pairs
/// resolved; an unquoted input is returned trimmed and unchanged.
pub fn unquote(s: &str) -> Cow<'_, str> {
    let s = trim_lws(s);
    let Some(inner) = s.strip_prefix('"').and_then(|r| r.strip_suffix('"')) else {
        return Cow::Borrowed(s);
    };
    if !inner.contains('\\') {
        return Cow::Borrowed(inner);
    }
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(next) = chars.next() {
                out.push(next);
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Writes `s` as a quoted string, escaping `"` and `\`.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Finds the first occurrence of `needle` in `s` that is outside quoted
/// strings and angle brackets.
pub fn find_unquoted(s: &str, needle: u8) -> Result<Option<usize>, TextError> {
    let b = s.as_bytes();
    let mut i = 0;
    while let Some(off) = memchr::memchr3(needle, b'"', b'<', &b[i..]) {
        i += off;
        match b[i] {
            c if c == needle => return Ok(Some(i)),
            b'"' => i += quoted_len(&b[i..])?,
            _ => match memchr::memchr(b'>', &b[i..]) {
                Some(end) => i += end + 1,
                None => return Err(TextError::UnterminatedAngle),
            },
        }
    }
    Ok(None)
}

/// Splits a list header value (`a, b, c`) at its top-level commas: commas in
/// quoted strings and inside `<…>` do not split. Items are trimmed; empty
/// items are kept so that a validator can refuse them.
pub fn split_list(value: &str) -> ListIter<'_> {
    ListIter {
        rest: Some(value),
        error: false,
    }
}

/// Iterator returned by [`split_list`].
#[derive(Clone)]
pub struct ListIter<'a> {
    rest: Option<&'a str>,
    error: bool,
}

impl<'a> Iterator for ListIter<'a> {
    type Item = Result<&'a str, TextError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.error {
            return None;
        }
        let rest = self.rest?;
        match find_unquoted(rest, b',') {
            Ok(Some(at)) => {
                self.rest = Some(&rest[at + 1..]);
                Some(Ok(trim_lws(&rest[..at])))
            }
            Ok(None) => {
                self.rest = None;
                Some(Ok(trim_lws(rest)))
            }
            Err(e) => {
                self.error = true;
                Some(Err(e))
            }
        }
    }
}

/// One `name[=value]` parameter, exactly as written (value still quoted if
/// it was).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Param<'a> {
    pub name: &'a str,
    pub value: Option<&'a str>,
}

impl<'a> Param<'a> {
    /// The value with quotes removed.
    pub fn unquoted_value(&self) -> Option<Cow<'a, str>> {
        self.value.map(unquote)
    }
}

/// Iterates the parameters of `s`, which starts right after the first `;`
/// (e.g. `branch=z9hG4bK1;rport`); an empty `s` has none. Names are not
/// lower-cased: compare them with `eq_ignore_ascii_case`.
pub fn params(s: &str) -> ParamIter<'_> {
    ParamIter {
        rest: s,
        done: s.is_empty(),
    }
}

/// Iterator returned by [`params`].
#[derive(Clone)]
pub struct ParamIter<'a> {
    rest: &'a str,
    done: bool,
}

impl<'a> ParamIter<'a> {
    /// The value of the first parameter called `name` (case-insensitive):
    /// `Some(None)` for a parameter without a value. Reads leniently (no
    /// syntax check of other parameters): use [`ParamIter::check`] to
    /// validate.
    pub fn find(mut self, name: &str) -> Option<Option<&'a str>> {
        while let Some(item) = self.next_item() {
            let (n, v) = split_param(item.ok()?);
            if n.eq_ignore_ascii_case(name) {
                return Some(v);
            }
        }
        None
    }

    /// Checks every parameter; the first error found.
    pub fn check(self) -> Result<(), TextError> {
        for p in self {
            p?;
        }
        Ok(())
    }

    /// The next raw `name[=value]` item, cut at the next `;` outside a
    /// quoted string.
    fn next_item(&mut self) -> Option<Result<&'a str, TextError>> {
        if self.done {
            return None;
        }
        let b = self.rest.as_bytes();
        let mut i = 0;
        let end = loop {
            match memchr::memchr2(b';', b'"', &b[i..]) {
                None => break b.len(),
                Some(off) if b[i + off] == b';' => break i + off,
                Some(off) => match quoted_len(&b[i + off..]) {
                    Ok(n) => i += off + n,
                    Err(e) => {
                        self.done = true;
                        return Some(Err(e));
                    }
                },
            }
        };
        let item = &self.rest[..end];
        if end < b.len() {
            self.rest = &self.rest[end + 1..];
        } else {
            self.done = true;
        }
        Some(Ok(item))
    }
}

fn split_param(item: &str) -> (&str, Option<&str>) {
    // The first '=' outside quoted strings separates name and value.
    let b = item.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => i += quoted_len(&b[i..]).unwrap_or(b.len() - i),
            b'=' => return (trim_lws(&item[..i]), Some(trim_lws(&item[i + 1..]))),
            _ => i += 1,
        }
    }
    (trim_lws(item), None)
}

impl<'a> Iterator for ParamIter<'a> {
    type Item = Result<Param<'a>, TextError>;

    fn next(&mut self) -> Option<Self::Item> {
        let item = match self.next_item()? {
            Ok(item) => item,
            Err(e) => return Some(Err(e)),
        };
        let (name, value) = split_param(item);
        let fail = |this: &mut Self, e| {
            this.done = true;
            Some(Err(e))
        };
        if name.is_empty() {
            return fail(self, TextError::EmptyParameter);
        }
        if !is_token(name) {
            return fail(self, TextError::BadParameterName);
        }
        if let Some(v) = value {
            let ok = if v.starts_with('"') {
                quoted_len(v.as_bytes()) == Ok(v.len())
            } else {
                !v.is_empty() && v.bytes().all(is_param_value_char)
            };
            if !ok {
                return fail(self, TextError::BadParameterValue);
            }
        }
        Some(Ok(Param { name, value }))
    }
}

/// The value of parameter `name` in `params` (the text after the first
/// `;`), read fast when the parameters have the plain shape nearly every
/// stack sends (`name=value;flag;…`: no white space, no quotes), and by the
/// general reader otherwise. Same answers as `params(p).find(name)`
/// flattened: `None` when absent or without a value.
pub fn param_value<'a>(params: &'a str, name: &str) -> Option<&'a str> {
    let b = params.as_bytes();
    let n = name.as_bytes();
    let mut start = 0;
    let mut i = 0;
    loop {
        // One table lookup a byte: stop only at ';', quotes and white space.
        while i < b.len() && CLASS[b[i] as usize] & PARAM_STOP == 0 {
            i += 1;
        }
        if i < b.len() && b[i] != b';' {
            // Quoted strings or white space: the general reader's business.
            return self::params(params).find(name).flatten();
        }
        let item = &b[start..i];
        if item.len() > n.len() && item[n.len()] == b'=' && item[..n.len()].eq_ignore_ascii_case(n)
        {
            return Some(&params[start + n.len() + 1..i]);
        }
        if item.eq_ignore_ascii_case(n) || i >= b.len() {
            return None; // present without a value, or absent
        }
        i += 1;
        start = i;
    }
}

/// Decodes `%HH` escapes. Invalid escapes are kept literally.
pub fn percent_decode(s: &str) -> Cow<'_, [u8]> {
    if !s.contains('%') {
        return Cow::Borrowed(s.as_bytes());
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    Cow::Owned(out)
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn param_value_agrees_with_the_general_reader_on_any_plain_text(
            p in "[abrtgnch;=]{0,30}",
            name in proptest::prop_oneof![proptest::strategy::Just("tag"), proptest::strategy::Just("branch")],
        ) {
            proptest::prop_assert_eq!(param_value(&p, name), params(&p).find(name).flatten());
        }
    }

    #[test]
    fn param_value_agrees_with_the_general_reader() {
        for p in [
            "branch=z9hG4bK1;rport",
            "rport;branch=z9hG4bK2",
            "BRANCH=x",
            "branch",
            "branch=",
            "branchx=1;branch=2",
            "a=1;;branch=3",
            "branch = 4",
            "x=\"a;branch=5\";branch=6",
            "",
            "tag=abc;tag=def",
        ] {
            assert_eq!(
                param_value(p, "branch"),
                params(p).find("branch").flatten(),
                "{p:?}"
            );
            assert_eq!(
                param_value(p, "tag"),
                params(p).find("tag").flatten(),
                "{p:?}"
            );
        }
    }

    #[test]
    fn find_reads_branch_tag_and_flags() {
        let p = "branch=z9hG4bK1 ; rport;received=10.0.0.1;x=\"a;b\";TAG = t1";
        assert_eq!(params(p).find("branch"), Some(Some("z9hG4bK1")));
        assert_eq!(params(p).find("rport"), Some(None));
        assert_eq!(params(p).find("tag"), Some(Some("t1")));
        assert_eq!(params(p).find("x"), Some(Some("\"a;b\"")));
        assert_eq!(params(p).find("b\""), None);
        assert_eq!(params(p).find("missing"), None);
    }

    #[test]
    fn list_split_respects_quotes_and_angles() {
        let items: Vec<_> = split_list(r#""a, b" <sip:x@y;p=1,2>, <sip:z>;q=0.5 , c"#)
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            items,
            vec![r#""a, b" <sip:x@y;p=1,2>"#, "<sip:z>;q=0.5", "c"]
        );
    }

    #[test]
    fn empty_list_items_are_kept_for_the_validator() {
        let items: Vec<_> = split_list("a,,b").map(Result::unwrap).collect();
        assert_eq!(items, vec!["a", "", "b"]);
    }

    #[test]
    fn params_read_quoted_values_with_semicolons() {
        let ps: Vec<_> = params(r#"a=1;b="x;y";rport"#).map(Result::unwrap).collect();
        assert_eq!(ps.len(), 3);
        assert_eq!(ps[1].value, Some(r#""x;y""#));
        assert_eq!(ps[1].unquoted_value().unwrap(), "x;y");
        assert_eq!(
            ps[2],
            Param {
                name: "rport",
                value: None
            }
        );
    }

    #[test]
    fn empty_parameters_are_errors() {
        assert_eq!(params(";").check(), Err(TextError::EmptyParameter));
        assert_eq!(params("a;").check(), Err(TextError::EmptyParameter));
        assert_eq!(params("").count(), 0);
        assert_eq!(params("a=1;;b").check(), Err(TextError::EmptyParameter));
    }

    #[test]
    fn unquote_resolves_escapes() {
        assert_eq!(unquote(r#""a\"b\\c""#), r#"a"b\c"#);
        assert_eq!(unquote(" plain "), "plain");
        assert_eq!(quote(r#"a"b"#), r#""a\"b""#);
    }

    #[test]
    fn unterminated_quote_is_an_error() {
        assert_eq!(quoted_len(br#""abc"#), Err(TextError::UnterminatedQuote));
        assert_eq!(quoted_len(br#""a\""#), Err(TextError::UnterminatedQuote));
    }

    #[test]
    fn percent_decoding_keeps_invalid_escapes() {
        assert_eq!(&*percent_decode("a%23b"), b"a#b");
        assert_eq!(&*percent_decode("%Z%45"), b"%ZE");
        assert_eq!(&*percent_decode("50%"), b"50%");
        assert_eq!(&*percent_decode("%00x"), b"\0x");
    }
}
