//! The two engines.
//!
//! Each engine has its own implementation, compiled against its own sqlx
//! driver and its concrete types — never the `Any` driver, which would bring
//! both down to what they share at run time. Most statements are the same
//! SQL on both (see [`sql`]), so the repository code is one text,
//! `repositories.rs`, `include!`d into each engine's module and type-checked
//! there; what differs — connecting, pragmas, transactions, migrations and
//! the bulk writes of the call journal — is written out in each module.

pub(crate) mod postgres;
mod sql;
pub(crate) mod sqlite;
mod token;
