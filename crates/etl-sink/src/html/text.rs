//! Text into HTML and SVG, and numbers for people.

use std::fmt::Write as _;

/// `text` as HTML or SVG character data or an attribute value (quoted with `"`): `&`, `<`,
/// `>`, `"` and `'` as references; a control character other than tab and line breaks (a NUL,
/// which HTML cannot carry) as its visible picture (`␀` for NUL), so that it shows instead of
/// vanishing.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    escape_into(&mut out, text);
    out
}

pub(crate) fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' | '\r' => out.push(c),
            // U+2400.. are the Control Pictures: ␀ for NUL, ␛ for ESC.
            '\0'..='\x1f' => out.push(char::from_u32(0x2400 + c as u32).unwrap_or('\u{fffd}')),
            '\x7f' => out.push('\u{2421}'),
            // C1 controls and the non-characters HTML refuses: the replacement character.
            '\u{80}'..='\u{9f}' | '\u{fdd0}'..='\u{fdef}' | '\u{fffe}' | '\u{ffff}' => {
                out.push('\u{fffd}');
            }
            c => out.push(c),
        }
    }
}

/// At most `max` characters of `text`, an ellipsis marking a cut.
pub(crate) fn clip(text: &str, max: usize) -> String {
    let mut chars = text.chars();
    let head: String = chars.by_ref().take(max).collect();
    if chars.next().is_some() {
        let mut head: String = head.chars().take(max.saturating_sub(1)).collect();
        head.push('…');
        head
    } else {
        head
    }
}

/// How numbers are written: digits after the decimal separator (floats), the separators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberFormat {
    pub float_precision: usize,
    /// Between groups of three digits; empty for none.
    pub thousands_separator: String,
    pub decimal_separator: String,
}

impl Default for NumberFormat {
    fn default() -> Self {
        Self {
            float_precision: 2,
            thousands_separator: ",".into(),
            decimal_separator: ".".into(),
        }
    }
}

impl NumberFormat {
    /// A float with `float_precision` digits: `1,234.50`; `NaN`, `∞`, `-∞` as such.
    pub(crate) fn float(&self, v: f64) -> String {
        self.float_with(v, self.float_precision)
    }

    pub(crate) fn float_with(&self, v: f64, precision: usize) -> String {
        if v.is_nan() {
            return "NaN".into();
        }
        if v.is_infinite() {
            return if v > 0.0 { "∞" } else { "-∞" }.into();
        }
        let digits = format!("{:.*}", precision, v.abs());
        // `-0.00` is `0.00`.
        let negative = v < 0.0 && digits.bytes().any(|b| b.is_ascii_digit() && b != b'0');
        self.digits(negative, &digits)
    }

    /// An integer: `1,234,567`.
    pub(crate) fn integer(&self, v: i128) -> String {
        self.digits(v < 0, &v.unsigned_abs().to_string())
    }

    /// Decimal digits as text (`-1234.50`), grouped and with this format's separators.
    pub(crate) fn decimal_text(&self, text: &str) -> String {
        let (negative, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            return text.to_owned();
        }
        self.digits(negative, digits)
    }

    /// `digits` (`1234.5`, no sign) grouped, with the separators and a sign.
    fn digits(&self, negative: bool, digits: &str) -> String {
        let (int, frac) = match digits.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (digits, None),
        };
        let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 2);
        if negative {
            out.push('-');
        }
        for (i, c) in int.chars().enumerate() {
            if i > 0 && (int.len() - i) % 3 == 0 {
                out.push_str(&self.thousands_separator);
            }
            out.push(c);
        }
        if let Some(frac) = frac {
            out.push_str(&self.decimal_separator);
            out.push_str(frac);
        }
        out
    }
}

/// The digits after the point that tell ticks `step` apart: 0 for 5, 1 for 0.5, 2 for 0.25.
pub(crate) fn step_precision(step: f64) -> usize {
    let mut precision = 0;
    let mut scaled = step.abs();
    while precision < 10 && (scaled - scaled.round()).abs() > 1e-9 * scaled.max(1.0) {
        scaled *= 10.0;
        precision += 1;
    }
    precision
}

/// `n` as `1,234`, for counts in the page's own text.
pub(crate) fn count(n: u64) -> String {
    NumberFormat::default().integer(i128::from(n))
}

/// SHA-256 as base64, for the page's Content-Security-Policy.
pub(crate) fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `write!` into a `String`, which cannot fail.
macro_rules! put {
    ($out:expr, $($arg:tt)*) => {
        { let _ = ::std::fmt::Write::write_fmt(&mut $out, ::std::format_args!($($arg)*)); }
    };
}
pub(crate) use put;

/// Formats `v` with `fmt` for an SVG coordinate: at most one decimal.
pub(crate) fn coord(v: f64) -> String {
    let mut s = String::new();
    let rounded = (v * 10.0).round() / 10.0;
    if rounded.fract() == 0.0 {
        let _ = write!(s, "{rounded:.0}");
    } else {
        let _ = write!(s, "{rounded:.1}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_text_is_inert_and_visible() {
        assert_eq!(
            escape("<img src=x onerror=\"alert('1')\">&</svg>\0\x1b\u{85}"),
            "&lt;img src=x onerror=&quot;alert(&#39;1&#39;)&quot;&gt;&amp;&lt;/svg&gt;␀␛\u{fffd}"
        );
        assert_eq!(escape("مرحبا 你好 👋"), "مرحبا 你好 👋");
    }

    #[test]
    fn numbers_are_grouped_and_rounded() {
        let f = NumberFormat::default();
        assert_eq!(f.float(1_234_567.891), "1,234,567.89");
        assert_eq!(f.float(-0.001), "0.00");
        assert_eq!(f.float(-1234.5), "-1,234.50");
        assert_eq!(f.float(f64::NAN), "NaN");
        assert_eq!(f.integer(-1_000_000), "-1,000,000");
        assert_eq!(f.integer(999), "999");
        assert_eq!(f.decimal_text("-12345.60"), "-12,345.60");
        let de = NumberFormat {
            float_precision: 1,
            thousands_separator: ".".into(),
            decimal_separator: ",".into(),
        };
        assert_eq!(de.float(1234.56), "1.234,6");
        let none = NumberFormat {
            thousands_separator: String::new(),
            ..NumberFormat::default()
        };
        assert_eq!(none.integer(123_456), "123456");
    }

    #[test]
    fn tick_precision_follows_the_step() {
        assert_eq!(step_precision(5.0), 0);
        assert_eq!(step_precision(0.5), 1);
        assert_eq!(step_precision(0.25), 2);
        assert_eq!(step_precision(2000.0), 0);
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
    fn clipped_labels_end_in_an_ellipsis() {
        assert_eq!(clip("abcdef", 4), "abc…");
        assert_eq!(clip("abcd", 4), "abcd");
    }
}
