//! What is wrong in an expression, and where.

/// A problem in an expression: what is wrong and what to write instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ExprError {
    /// What is wrong and what to write instead.
    pub message: String,
    /// char offset in `text` where the problem is
    pub position: usize,
}

pub(super) fn error(message: impl Into<String>, position: usize) -> ExprError {
    ExprError {
        message: message.into(),
        position,
    }
}
