//! Tokens: numbers, quoted text, words, backtick-quoted names and symbols, each with its char
//! span.

use super::error::{ExprError, error};

pub(super) const KEYWORDS: &[&str] = &[
    "and", "or", "not", "is", "null", "in", "between", "true", "false",
];

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
    Int(i64),
    Float(f64),
    Str(String),
    /// A bare word: a keyword, a function name or a column.
    Word(String),
    /// A backtick-quoted column name.
    Quoted(String),
    Sym(&'static str),
    End,
}

#[derive(Debug, Clone)]
pub(super) struct Token {
    pub(super) tok: Tok,
    pub(super) start: usize,
    pub(super) end: usize,
}

/// The tokens of `chars`, ending with [`Tok::End`].
pub(super) fn lex(chars: &[char]) -> Result<Vec<Token>, ExprError> {
    let mut tokens = Vec::new();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        let start = i;
        let tok = if c.is_whitespace() {
            i += 1;
            continue;
        } else if c.is_ascii_digit()
            || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            lex_number(chars, &mut i)?
        } else if matches!(c, '\'' | '"' | '`') {
            let text = lex_quoted(chars, &mut i)?;
            if c == '`' {
                Tok::Quoted(text)
            } else {
                Tok::Str(text)
            }
        } else if c.is_ascii_alphabetic() || c == '_' {
            while chars
                .get(i)
                .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_')
            {
                i += 1;
            }
            Tok::Word(chars[start..i].iter().collect())
        } else {
            Tok::Sym(lex_symbol(chars, &mut i)?)
        };
        tokens.push(Token { tok, start, end: i });
    }
    tokens.push(Token {
        tok: Tok::End,
        start: chars.len(),
        end: chars.len(),
    });
    Ok(tokens)
}

fn lex_number(chars: &[char], i: &mut usize) -> Result<Tok, ExprError> {
    let start = *i;
    let digit = |at: usize| chars.get(at).is_some_and(char::is_ascii_digit);
    let mut float = false;
    while digit(*i) {
        *i += 1;
    }
    if chars.get(*i) == Some(&'.') && digit(*i + 1) {
        float = true;
        *i += 1;
        while digit(*i) {
            *i += 1;
        }
    }
    if matches!(chars.get(*i), Some('e' | 'E')) {
        let sign = usize::from(matches!(chars.get(*i + 1), Some('+' | '-')));
        if digit(*i + 1 + sign) {
            float = true;
            *i += 1 + sign;
            while digit(*i) {
                *i += 1;
            }
        }
    }
    let text: String = chars[start..*i].iter().collect();
    if float {
        text.parse()
            .map(Tok::Float)
            .map_err(|_| error(format!("`{text}` is not a number"), start))
    } else {
        text.parse().map(Tok::Int).map_err(|_| {
            error(
                format!("`{text}` is too large for a whole number; write it as `{text}.0`"),
                start,
            )
        })
    }
}

/// Reads a quoted string or backtick-quoted name; the quote is written twice inside.
fn lex_quoted(chars: &[char], i: &mut usize) -> Result<String, ExprError> {
    let start = *i;
    let quote = chars[start];
    let mut text = String::new();
    *i += 1;
    loop {
        match chars.get(*i) {
            None => {
                let what = if quote == '`' {
                    "column name"
                } else {
                    "string"
                };
                return Err(error(
                    format!(
                        "unterminated {what}: the {quote} at position {start} is never closed; \
                         end it with {quote} (write {quote}{quote} for a {quote} inside)"
                    ),
                    start,
                ));
            }
            Some(&c) if c == quote => {
                if chars.get(*i + 1) == Some(&quote) {
                    text.push(quote);
                    *i += 2;
                } else {
                    *i += 1;
                    return Ok(text);
                }
            }
            Some(&c) => {
                text.push(c);
                *i += 1;
            }
        }
    }
}

fn lex_symbol(chars: &[char], i: &mut usize) -> Result<&'static str, ExprError> {
    let start = *i;
    let next = chars.get(start + 1).copied();
    let two = match (chars[start], next) {
        ('=', Some('=')) => Some("=="),
        ('!', Some('=')) => Some("!="),
        ('<', Some('>')) => Some("<>"),
        ('<', Some('=')) => Some("<="),
        ('>', Some('=')) => Some(">="),
        _ => None,
    };
    if let Some(sym) = two {
        *i += 2;
        return Ok(sym);
    }
    let one = match chars[start] {
        '=' => "=",
        '<' => "<",
        '>' => ">",
        '+' => "+",
        '-' => "-",
        '*' => "*",
        '/' => "/",
        '%' => "%",
        '(' => "(",
        ')' => ")",
        ',' => ",",
        c => {
            let hint = match (c, next) {
                ('&', Some('&')) => "; write `and`".to_owned(),
                ('|', Some('|')) => "; write `or`, or concat(a, b) to join text".to_owned(),
                ('!', _) => "; write `!=` or `not`".to_owned(),
                (c, _) if c.is_alphanumeric() => {
                    "; put a column name with such characters in backticks: `my column`".to_owned()
                }
                _ => String::new(),
            };
            return Err(error(
                format!("unexpected character `{c}` at position {start}{hint}"),
                start,
            ));
        }
    };
    *i += 1;
    Ok(one)
}
