//! What can go wrong, in words an operator or a developer can act on.

use sqlx::error::ErrorKind;

/// Shorthand for this crate's results.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Why a store operation did not happen. Every variant except `Database`
/// means nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// What the operation needs is not there ("member 9 does not exist").
    #[error("{what}")]
    NotFound { what: String },

    /// The operation would break a uniqueness rule ("number 4420… is held by
    /// member 7").
    #[error("{what}")]
    Conflict { what: String },

    /// The input was refused before it reached the database.
    #[error("invalid {field}: {reason}")]
    Invalid { field: &'static str, reason: String },

    /// `Store::open` could not make sense of its target, or could not create
    /// the data directory.
    #[error("cannot open the store at {target}: {reason}")]
    Open { target: String, reason: String },

    /// The schema migrations failed; the database is left at the last
    /// migration that completed.
    #[error("migrating the {engine} schema failed: {source}")]
    Migrate {
        engine: &'static str,
        source: sqlx::migrate::MigrateError,
    },

    /// The database itself failed (unreachable, disk full, a constraint the
    /// checks above did not foresee). A write that failed this way was
    /// rolled back.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

impl StoreError {
    pub(crate) fn not_found(what: impl Into<String>) -> Self {
        StoreError::NotFound { what: what.into() }
    }

    pub(crate) fn conflict(what: impl Into<String>) -> Self {
        StoreError::Conflict { what: what.into() }
    }

    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        StoreError::Invalid {
            field,
            reason: reason.into(),
        }
    }
}

/// Which integrity rule, if any, the database said an error broke. Both
/// engines' drivers report the same kinds, so callers can decide once.
pub(crate) fn violation(err: &sqlx::Error) -> Option<ErrorKind> {
    match err {
        sqlx::Error::Database(db) => Some(db.kind()),
        _ => None,
    }
}
