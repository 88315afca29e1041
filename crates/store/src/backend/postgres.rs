//! PostgreSQL: the scale-out engine, one database shared by every node.
//!
//! A commit is durable when it returns (PostgreSQL's defaults:
//! `fsync=on`, `synchronous_commit=on`; the operator must not turn them
//! off for a database that holds CDRs). Every node migrates on start;
//! sqlx serialises concurrent migrations with an advisory lock.
//!
//! Uniqueness holds across nodes because the database enforces it: two
//! nodes granting one number, or closing one call, race on a unique key
//! and exactly one wins.

use std::str::FromStr;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::{Connection, Transaction};

type Db = sqlx::Postgres;
type ThisStore = PgStore;

static MIGRATOR: Migrator = sqlx_macros::migrate!("migrations/postgres");

const CONNECTIONS: u32 = 10;

/// The store on a PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects to `url` (`postgres://user@host:port/database`; libpq-style
    /// parameters such as `options=-c search_path=…` are honoured) and
    /// brings the schema up to date.
    pub async fn connect(url: &str) -> Result<Self> {
        let options = PgConnectOptions::from_str(url).map_err(|err| StoreError::Open {
            target: redact_password(url),
            reason: err.to_string(),
        })?;
        Self::connect_with(options).await
    }

    pub async fn connect_with(options: PgConnectOptions) -> Result<Self> {
        let target = format!(
            "postgres://{}@{}:{}/{}",
            options.get_username(),
            options.get_host(),
            options.get_port(),
            options.get_database().unwrap_or_default()
        );
        // One connection first, without the pool's retries: an unreachable
        // server or a refused login is reported at once, not after the
        // pool's acquire timeout.
        let probe = PgConnection::connect_with(&options)
            .await
            .map_err(|err| StoreError::Open {
                target,
                reason: err.to_string(),
            })?;
        // Closing is a courtesy to the server; the connection goes either way.
        let _ = probe.close().await;
        let pool = PgPoolOptions::new()
            .max_connections(CONNECTIONS)
            .connect_lazy_with(options);
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|source| StoreError::Migrate {
                engine: "PostgreSQL",
                source,
            })?;
        Ok(PgStore { pool })
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    fn reader(&self) -> &PgPool {
        &self.pool
    }

    fn writer(&self) -> &PgPool {
        &self.pool
    }

    async fn begin_write(&self) -> Result<Transaction<'static, Db>> {
        Ok(self.pool.begin().await?)
    }
}

/// `url` with its password, if any, replaced by `***`, for error messages.
pub(crate) fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***@{host}{path}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

// The call journal's bulk writes, a whole batch per statement: every
// statement is a network round trip, so a batch is sent as one array per
// column and unnested by the server.

async fn insert_active_calls(conn: &mut PgConnection, calls: &[ActiveCall]) -> Result<u64> {
    if calls.is_empty() {
        return Ok(0);
    }
    let column = |field: fn(&ActiveCall) -> &str| calls.iter().map(field).collect::<Vec<_>>();
    let optional =
        |field: fn(&ActiveCall) -> Option<&str>| calls.iter().map(field).collect::<Vec<_>>();
    let inserted = sqlx::query(sql::INSERT_ACTIVE_CALLS_UNNEST)
        .bind(column(|c| &c.call_id))
        .bind(column(|c| &c.node))
        .bind(column(|c| &c.a_leg_call_id))
        .bind(optional(|c| c.b_leg_call_id.as_deref()))
        .bind(column(|c| &c.caller))
        .bind(column(|c| &c.callee_dialled))
        .bind(optional(|c| c.callee_presented.as_deref()))
        .bind(optional(|c| c.decision.as_deref()))
        .bind(calls.iter().map(|c| c.start_at).collect::<Vec<_>>())
        .bind(calls.iter().map(|c| c.answer_at).collect::<Vec<_>>())
        .execute(&mut *conn)
        .await?;
    Ok(inserted.rows_affected())
}

async fn answer_calls(conn: &mut PgConnection, answers: &[Answer]) -> Result<u64> {
    if answers.is_empty() {
        return Ok(0);
    }
    let updated = sqlx::query(sql::ANSWER_CALLS_UNNEST)
        .bind(
            answers
                .iter()
                .map(|a| a.call_id.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(answers.iter().map(|a| a.answer_at).collect::<Vec<_>>())
        .bind(
            answers
                .iter()
                .map(|a| a.b_leg_call_id.as_deref())
                .collect::<Vec<_>>(),
        )
        .execute(&mut *conn)
        .await?;
    Ok(updated.rows_affected())
}

/// The CDRs that were new; a call that already had its CDR is skipped.
async fn insert_cdrs(conn: &mut PgConnection, cdrs: &[NewCdr]) -> Result<Vec<Cdr>> {
    if cdrs.is_empty() {
        return Ok(Vec::new());
    }
    let rows = cdr_insert(sql::INSERT_CDRS_UNNEST_RETURNING, cdrs)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(cdr_from_row).collect()
}

/// How many CDRs were new, without reading them back (the journal's case).
async fn count_new_cdrs(conn: &mut PgConnection, cdrs: &[NewCdr]) -> Result<u64> {
    if cdrs.is_empty() {
        return Ok(0);
    }
    let done = cdr_insert(sql::INSERT_CDRS_UNNEST, cdrs)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected())
}

/// `statement` (one of the UNNEST inserts) with the columns of `cdrs`.
fn cdr_insert<'q>(
    statement: &'q str,
    cdrs: &'q [NewCdr],
) -> sqlx::query::Query<'q, Db, sqlx::postgres::PgArguments> {
    let column = |field: fn(&NewCdr) -> &str| cdrs.iter().map(field).collect::<Vec<_>>();
    let optional = |field: fn(&NewCdr) -> Option<&str>| cdrs.iter().map(field).collect::<Vec<_>>();
    let time = |field: fn(&NewCdr) -> i64| cdrs.iter().map(field).collect::<Vec<_>>();
    sqlx::query(statement)
        .bind(column(|c| &c.call_id))
        .bind(column(|c| &c.node))
        .bind(column(|c| &c.a_leg_call_id))
        .bind(optional(|c| c.b_leg_call_id.as_deref()))
        .bind(column(|c| &c.caller))
        .bind(column(|c| &c.callee_dialled))
        .bind(optional(|c| c.callee_presented.as_deref()))
        .bind(optional(|c| c.decision.as_deref()))
        .bind(time(|c| c.start_at))
        .bind(cdrs.iter().map(|c| c.answer_at).collect::<Vec<_>>())
        .bind(time(|c| c.end_at))
        .bind(time(NewCdr::duration_ms))
        .bind(column(|c| c.disposition.as_str()))
        .bind(
            cdrs.iter()
                .map(|c| c.sip_code.map(i64::from))
                .collect::<Vec<_>>(),
        )
}

async fn delete_active_calls(conn: &mut PgConnection, closed: &[NewCdr]) -> Result<()> {
    if closed.is_empty() {
        return Ok(());
    }
    sqlx::query(sql::DELETE_ACTIVE_CALLS_ANY)
        .bind(
            closed
                .iter()
                .map(|c| c.call_id.as_str())
                .collect::<Vec<_>>(),
        )
        .execute(&mut *conn)
        .await?;
    Ok(())
}

include!("repositories.rs");

mod claims {
    use super::*;
    include!("claims.rs");
}

mod inventory {
    use super::*;
    include!("inventory.rs");
}

mod accounts {
    use super::*;
    include!("accounts.rs");
}

mod orders {
    use super::*;
    include!("orders.rs");
}

mod provisioning {
    use super::*;
    include!("provisioning.rs");
}
