//! The parser: one method per precedence level, loosest first.

use super::ast::{Arith, Cmp, Kind, Logic, Node};
use super::error::{ExprError, error};
use super::functions::function;
use super::lex::{KEYWORDS, Tok, Token, lex};

/// Nesting (parentheses, calls, `not`, unary minus) deeper than this is refused, so neither
/// the parser nor polars can run out of stack.
const MAX_DEPTH: usize = 64;

/// The syntax tree of `chars`; the whole text must be one expression.
pub(super) fn parse(chars: &[char]) -> Result<Node, ExprError> {
    let tokens = lex(chars)?;
    let mut parser = Parser {
        chars,
        tokens,
        at: 0,
        depth: 0,
    };
    let tree = parser.expr()?;
    let next = parser.peek();
    if next.tok != Tok::End {
        return Err(parser.unexpected(next));
    }
    Ok(tree)
}

#[derive(Debug)]
struct Parser<'a> {
    chars: &'a [char],
    tokens: Vec<Token>,
    at: usize,
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> &Token {
        &self.tokens[self.at]
    }

    fn peek_at(&self, ahead: usize) -> &Token {
        let last = self.tokens.len() - 1;
        &self.tokens[(self.at + ahead).min(last)]
    }

    /// Takes the current token; the closing `End` is never passed.
    fn next(&mut self) -> Token {
        let token = self.tokens[self.at].clone();
        if self.at + 1 < self.tokens.len() {
            self.at += 1;
        }
        token
    }

    fn is_word_at(&self, ahead: usize, word: &str) -> bool {
        matches!(&self.peek_at(ahead).tok, Tok::Word(w) if w.eq_ignore_ascii_case(word))
    }

    fn is_word(&self, word: &str) -> bool {
        self.is_word_at(0, word)
    }

    fn is_sym(&self, sym: &str) -> bool {
        matches!(self.peek().tok, Tok::Sym(s) if s == sym)
    }

    fn text(&self, token: &Token) -> String {
        self.chars[token.start..token.end].iter().collect()
    }

    fn unexpected(&self, token: &Token) -> ExprError {
        if token.tok == Tok::End {
            return self.early_end();
        }
        error(
            format!(
                "unexpected `{}` at position {}",
                self.text(token),
                token.start
            ),
            token.start,
        )
    }

    fn early_end(&self) -> ExprError {
        if self.at == 0 {
            return error(
                "empty expression; write a condition such as `status = 'paid'`",
                0,
            );
        }
        let before = self.text(&self.tokens[self.at - 1]);
        error(
            format!("the expression ends too early: expected a value after `{before}`"),
            self.chars.len(),
        )
    }

    fn nested<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, ExprError>,
    ) -> Result<T, ExprError> {
        if self.depth >= MAX_DEPTH {
            return Err(error(
                format!("the expression nests more than {MAX_DEPTH} levels deep; simplify it"),
                self.peek().start,
            ));
        }
        self.depth += 1;
        let result = f(self);
        self.depth -= 1;
        result
    }

    fn expr(&mut self) -> Result<Node, ExprError> {
        self.nested(Self::or)
    }

    fn or(&mut self) -> Result<Node, ExprError> {
        self.logic(Logic::Or, Self::and)
    }

    fn and(&mut self) -> Result<Node, ExprError> {
        self.logic(Logic::And, Self::not)
    }

    fn logic(
        &mut self,
        op: Logic,
        operand: fn(&mut Self) -> Result<Node, ExprError>,
    ) -> Result<Node, ExprError> {
        let first = operand(self)?;
        if !self.is_word(op.word()) {
            return Ok(first);
        }
        let start = first.start;
        let mut items = vec![first];
        while self.is_word(op.word()) {
            self.next();
            items.push(operand(self)?);
        }
        let end = items.last().map_or(start, |n| n.end);
        Ok(Node {
            kind: Kind::Logic(op, items),
            start,
            end,
        })
    }

    fn not(&mut self) -> Result<Node, ExprError> {
        if !self.is_word("not") {
            return self.comparison();
        }
        let start = self.next().start;
        let inner = self.nested(Self::not)?;
        Ok(Node {
            end: inner.end,
            kind: Kind::Not(Box::new(inner)),
            start,
        })
    }

    fn at_comparison(&self) -> bool {
        matches!(&self.peek().tok, Tok::Sym(s) if Cmp::from_sym(s).is_some())
            || self.is_word("is")
            || self.is_word("in")
            || self.is_word("between")
            || (self.is_word("not") && (self.is_word_at(1, "in") || self.is_word_at(1, "between")))
    }

    fn comparison(&mut self) -> Result<Node, ExprError> {
        let lhs = self.additive()?;
        if !self.at_comparison() {
            return Ok(lhs);
        }
        let node = self.comparison_tail(lhs)?;
        if self.at_comparison() {
            return Err(error(
                "comparisons cannot be chained; join them with `and`, as in `a < b and b < c`",
                self.peek().start,
            ));
        }
        Ok(node)
    }

    /// What follows the left side of a comparison: an operator and the right side, `is [not]
    /// null`, `[not] in (...)` or `[not] between ... and ...`.
    fn comparison_tail(&mut self, lhs: Node) -> Result<Node, ExprError> {
        let start = lhs.start;
        if let Tok::Sym(sym) = self.peek().tok
            && let Some(op) = Cmp::from_sym(sym)
        {
            let at = self.next().start;
            let rhs = self.additive()?;
            return Ok(Node {
                end: rhs.end,
                kind: Kind::Compare {
                    op,
                    at,
                    lhs: Box::new(lhs),
                    rhs: Box::new(rhs),
                },
                start,
            });
        }
        if self.is_word("is") {
            return self.is_null(lhs);
        }
        let negated = self.is_word("not");
        if negated {
            self.next();
        }
        if self.is_word("in") {
            return self.in_list(lhs, negated);
        }
        // Only `between` is left: `at_comparison` said so.
        self.between(lhs, negated)
    }

    /// `is null`, `is not null`.
    fn is_null(&mut self, lhs: Node) -> Result<Node, ExprError> {
        self.next();
        let negated = self.is_word("not");
        if negated {
            self.next();
        }
        if !self.is_word("null") {
            return Err(error(
                "expected `null` or `not null` after `is`, as in `email is not null`",
                self.peek().start,
            ));
        }
        let end = self.next().end;
        Ok(Node {
            start: lhs.start,
            kind: Kind::IsNull {
                value: Box::new(lhs),
                negated,
            },
            end,
        })
    }

    /// `in (a, b, ...)`, after an optional `not`.
    fn in_list(&mut self, lhs: Node, negated: bool) -> Result<Node, ExprError> {
        self.next();
        if !self.is_sym("(") {
            return Err(error(
                "expected `(` after `in`, as in `status in ('paid', 'sent')`",
                self.peek().start,
            ));
        }
        let open = self.next().start;
        if self.is_sym(")") {
            return Err(error(
                "an `in` list needs at least one value, as in `status in ('paid')`",
                self.peek().start,
            ));
        }
        let mut list = vec![self.additive()?];
        while self.is_sym(",") {
            self.next();
            list.push(self.additive()?);
        }
        if !self.is_sym(")") {
            return Err(error(
                format!("expected `,` or `)` in the `in` list opened at position {open}"),
                self.peek().start,
            ));
        }
        let end = self.next().end;
        Ok(Node {
            start: lhs.start,
            kind: Kind::In {
                value: Box::new(lhs),
                list,
                negated,
            },
            end,
        })
    }

    /// `between low and high`, after an optional `not`.
    fn between(&mut self, lhs: Node, negated: bool) -> Result<Node, ExprError> {
        let at = self.next().start;
        let low = self.additive()?;
        if !self.is_word("and") {
            return Err(error(
                "expected `and` after the lower bound of `between`, as in `qty between 1 and 10`",
                self.peek().start,
            ));
        }
        self.next();
        let high = self.additive()?;
        Ok(Node {
            start: lhs.start,
            end: high.end,
            kind: Kind::Between {
                value: Box::new(lhs),
                low: Box::new(low),
                high: Box::new(high),
                negated,
                at,
            },
        })
    }

    fn additive(&mut self) -> Result<Node, ExprError> {
        self.arith(&["+", "-"], Self::multiplicative)
    }

    fn multiplicative(&mut self) -> Result<Node, ExprError> {
        self.arith(&["*", "/", "%"], Self::unary)
    }

    fn arith(
        &mut self,
        ops: &[&str],
        operand: fn(&mut Self) -> Result<Node, ExprError>,
    ) -> Result<Node, ExprError> {
        let first = operand(self)?;
        let mut rest = Vec::new();
        while let Tok::Sym(sym) = self.peek().tok
            && ops.contains(&sym)
            && let Some(op) = Arith::from_sym(sym)
        {
            let at = self.next().start;
            rest.push((op, at, operand(self)?));
        }
        if rest.is_empty() {
            return Ok(first);
        }
        let start = first.start;
        let end = rest.last().map_or(first.end, |(_, _, n)| n.end);
        Ok(Node {
            kind: Kind::Arith(Box::new(first), rest),
            start,
            end,
        })
    }

    fn unary(&mut self) -> Result<Node, ExprError> {
        if !self.is_sym("-") {
            return self.primary();
        }
        let start = self.next().start;
        let inner = self.nested(Self::unary)?;
        let end = inner.end;
        let kind = match inner.kind {
            Kind::Int(v) => Kind::Int(-v),
            Kind::Float(v) => Kind::Float(-v),
            _ => Kind::Neg(Box::new(inner)),
        };
        Ok(Node { kind, start, end })
    }

    fn primary(&mut self) -> Result<Node, ExprError> {
        let token = self.peek().clone();
        let leaf = |kind| Node {
            kind,
            start: token.start,
            end: token.end,
        };
        let node = match &token.tok {
            Tok::Int(v) => leaf(Kind::Int(*v)),
            Tok::Float(v) => leaf(Kind::Float(*v)),
            Tok::Str(s) => leaf(Kind::Str(s.clone())),
            Tok::Quoted(name) => leaf(Kind::Column(name.clone())),
            Tok::Word(word) => {
                let lower = word.to_ascii_lowercase();
                match lower.as_str() {
                    "true" => leaf(Kind::Bool(true)),
                    "false" => leaf(Kind::Bool(false)),
                    "null" => leaf(Kind::Null),
                    k if KEYWORDS.contains(&k) => return Err(self.unexpected(&token)),
                    _ if self.peek_at(1).tok == Tok::Sym("(") => return self.call(),
                    _ => leaf(Kind::Column(word.clone())),
                }
            }
            Tok::Sym("(") => {
                self.next();
                let inner = self.expr()?;
                if !self.is_sym(")") {
                    return Err(error(
                        format!("expected `)` to close the `(` at position {}", token.start),
                        self.peek().start,
                    ));
                }
                let end = self.next().end;
                return Ok(Node {
                    start: token.start,
                    end,
                    ..inner
                });
            }
            Tok::End => return Err(self.early_end()),
            Tok::Sym(_) => return Err(self.unexpected(&token)),
        };
        self.next();
        Ok(node)
    }

    fn call(&mut self) -> Result<Node, ExprError> {
        let name_token = self.next();
        let written = self.text(&name_token);
        let lower = written.to_ascii_lowercase();
        let name = if function(&lower).is_some() {
            lower
        } else {
            written
        };
        self.next(); // `(`
        let mut args = Vec::new();
        if !self.is_sym(")") {
            args.push(self.expr()?);
            while self.is_sym(",") {
                self.next();
                args.push(self.expr()?);
            }
        }
        if !self.is_sym(")") {
            let message = if self.peek().tok == Tok::End {
                format!("expected `)` after the arguments of `{name}`")
            } else {
                format!(
                    "expected `,` or `)` after an argument of `{name}`, not `{}`",
                    self.text(self.peek())
                )
            };
            return Err(error(message, self.peek().start));
        }
        let end = self.next().end;
        Ok(Node {
            kind: Kind::Call { name, args },
            start: name_token.start,
            end,
        })
    }
}
