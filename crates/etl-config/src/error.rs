//! The one error type of every crate's config stage.

use std::fmt;

use crate::KeyPath;

/// A problem in a pipeline file found without touching the network: where (a key path), what
/// is wrong, and what to do.
///
/// Shown as "`key.path`: message; hint". `token` is the word, written at or below `key`, to
/// underline in the excerpt (a column name inside an expression, a wrong value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub key: KeyPath,
    pub message: String,
    pub hint: Option<String>,
    pub token: Option<String>,
}

impl ConfigError {
    pub fn new(key: impl Into<KeyPath>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
            hint: None,
            token: None,
        }
    }

    /// What to do about it, shown after the message.
    #[must_use]
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        let hint = hint.into();
        self.hint = (!hint.is_empty()).then_some(hint);
        self
    }

    /// The word to underline.
    #[must_use]
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// The same error with `parent` in front of its key (a step's error placed in its
    /// transform).
    #[must_use]
    pub fn under(mut self, parent: &KeyPath) -> Self {
        self.key = parent.join(&self.key);
        self
    }

    /// The message and hint, without the key: "message; hint".
    pub fn text(&self) -> String {
        match &self.hint {
            Some(hint) => format!("{}; {hint}", self.message),
            None => self.message.clone(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.key.is_root() {
            write!(f, "`{}`: ", self.key)?;
        }
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "; {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_key_message_and_hint() {
        let e = ConfigError::new(
            "http.pagination.limit_parm",
            "`limit_parm` is not a key here",
        )
        .with_hint("did you mean `limit_param`?");
        assert_eq!(
            e.to_string(),
            "`http.pagination.limit_parm`: `limit_parm` is not a key here; did you mean `limit_param`?"
        );
        assert_eq!(
            ConfigError::new("", "whole file").with_hint("").to_string(),
            "whole file"
        );
        let placed = ConfigError::new("steps.[0]", "x").under(&"transforms.t".into());
        assert_eq!(placed.key.to_string(), "transforms.t.steps.[0]");
    }
}
