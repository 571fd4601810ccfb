use std::path::PathBuf;

/// Errors of the model layer. Each names the file, tensor or setting at fault.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{}: {why}", path.display())]
    Config { path: PathBuf, why: String },
    #[error("{what}: {why}")]
    Input { what: String, why: String },
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

impl ModelError {
    pub fn input(what: impl Into<String>, why: impl Into<String>) -> Self {
        Self::Input {
            what: what.into(),
            why: why.into(),
        }
    }
}

pub type Result<T> = std::result::Result<T, ModelError>;
