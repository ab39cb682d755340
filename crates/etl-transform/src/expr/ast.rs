//! The syntax tree: each node with its char span in the text, for messages.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Logic {
    And,
    Or,
}

impl Logic {
    pub(super) fn word(self) -> &'static str {
        match self {
            Logic::And => "and",
            Logic::Or => "or",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Arith {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

impl Arith {
    pub(super) fn from_sym(sym: &str) -> Option<Self> {
        Some(match sym {
            "+" => Arith::Add,
            "-" => Arith::Sub,
            "*" => Arith::Mul,
            "/" => Arith::Div,
            "%" => Arith::Rem,
            _ => return None,
        })
    }

    pub(super) fn sym(self) -> &'static str {
        match self {
            Arith::Add => "+",
            Arith::Sub => "-",
            Arith::Mul => "*",
            Arith::Div => "/",
            Arith::Rem => "%",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cmp {
    Eq,
    NotEq,
    Lt,
    LtEq,
    Gt,
    GtEq,
}

impl Cmp {
    pub(super) fn from_sym(sym: &str) -> Option<Self> {
        Some(match sym {
            "=" | "==" => Cmp::Eq,
            "!=" | "<>" => Cmp::NotEq,
            "<" => Cmp::Lt,
            "<=" => Cmp::LtEq,
            ">" => Cmp::Gt,
            ">=" => Cmp::GtEq,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone)]
pub(super) struct Node {
    pub(super) kind: Kind,
    /// Char span in the text, end excluded.
    pub(super) start: usize,
    pub(super) end: usize,
}

#[derive(Debug, Clone)]
pub(super) enum Kind {
    Int(i64),
    Float(f64),
    Str(String),
    Bool(bool),
    Null,
    Column(String),
    Neg(Box<Node>),
    Not(Box<Node>),
    /// `a and b and c`: kept flat so a long chain does not nest.
    Logic(Logic, Vec<Node>),
    /// `a + b - c`: the first operand, then each operator (with its position) and operand.
    Arith(Box<Node>, Vec<(Arith, usize, Node)>),
    Compare {
        op: Cmp,
        at: usize,
        lhs: Box<Node>,
        rhs: Box<Node>,
    },
    IsNull {
        value: Box<Node>,
        negated: bool,
    },
    In {
        value: Box<Node>,
        list: Vec<Node>,
        negated: bool,
    },
    Between {
        value: Box<Node>,
        low: Box<Node>,
        high: Box<Node>,
        negated: bool,
        at: usize,
    },
    Call {
        name: String,
        args: Vec<Node>,
    },
}
