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
pub fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
        )
}

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
    s.trim_matches(|c: char| c.is_ascii() && is_lws(c as u8))
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
    while i < b.len() {
        match b[i] {
            c if c == needle => return Ok(Some(i)),
            b'"' => i += quoted_len(&b[i..])?,
            b'<' => match memchr::memchr(b'>', &b[i..]) {
                Some(end) => i += end + 1,
                None => return Err(TextError::UnterminatedAngle),
            },
            _ => i += 1,
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
    /// `Some(None)` for a parameter without a value.
    pub fn find(self, name: &str) -> Option<Option<&'a str>> {
        for p in self {
            match p {
                Ok(p) if p.name.eq_ignore_ascii_case(name) => return Some(p.value),
                Ok(_) => {}
                Err(_) => return None,
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
}

impl<'a> Iterator for ParamIter<'a> {
    type Item = Result<Param<'a>, TextError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let b = self.rest.as_bytes();
        // The parameter ends at the next ';' outside a quoted string.
        let mut i = 0;
        let mut eq = None;
        while i < b.len() && b[i] != b';' {
            match b[i] {
                b'"' => match quoted_len(&b[i..]) {
                    Ok(n) => i += n,
                    Err(e) => {
                        self.done = true;
                        return Some(Err(e));
                    }
                },
                b'=' if eq.is_none() => {
                    eq = Some(i);
                    i += 1
                }
                _ => i += 1,
            }
        }
        let item = &self.rest[..i];
        if i < b.len() {
            self.rest = &self.rest[i + 1..];
        } else {
            self.done = true;
        }
        let (name, value) = match eq {
            Some(at) => (trim_lws(&item[..at]), Some(trim_lws(&item[at + 1..]))),
            None => (trim_lws(item), None),
        };
        if name.is_empty() {
            self.done = true;
            return Some(Err(TextError::EmptyParameter));
        }
        if !is_token(name) {
            self.done = true;
            return Some(Err(TextError::BadParameterName));
        }
        if let Some(v) = value {
            let ok = if v.starts_with('"') {
                quoted_len(v.as_bytes()) == Ok(v.len())
            } else {
                // token, host (IPv6 reference included) or the odd value some
                // stacks send; refuse only what cannot be a parameter value.
                !v.is_empty()
                    && v.bytes().all(|c| {
                        is_token_char(c) || matches!(c, b'[' | b']' | b':' | b'/' | b'@' | b'?')
                    })
            };
            if !ok {
                self.done = true;
                return Some(Err(TextError::BadParameterValue));
            }
        }
        Some(Ok(Param { name, value }))
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
