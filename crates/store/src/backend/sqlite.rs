//! SQLite: the default engine, one file (`callex.db`) under the data
//! directory, for a single node.
//!
//! # Durability
//!
//! - `journal_mode=WAL`: readers never block the writer nor the writer
//!   them, and a commit is one append to the log instead of rewriting
//!   pages in place.
//! - `synchronous=FULL`: every commit is fsynced before it returns. With WAL,
//!   `NORMAL` would already survive the process being killed (the commit is
//!   in the OS's page cache), but would lose the last commits if the machine
//!   loses power or the kernel crashes. CDRs are what members are billed
//!   from, so a CDR the switch was told is written must survive that too;
//!   the fsync's cost is paid once per [`CallBatch`], not once per call,
//!   which is why the switch group-commits.
//! - `foreign_keys=ON`: a number's holder must exist, a credential's number
//!   must be held. SQLite leaves this off unless asked on every connection.
//! - `busy_timeout=5s`: another process on the same file (the CLI while
//!   `callex serve` runs) waits for the write lock instead of failing at
//!   once.
//!
//! Within one process, writes go through a pool of one connection, so they
//! queue in order in the pool rather than spinning on SQLite's lock, and
//! every write transaction is `BEGIN IMMEDIATE` (it holds the write lock
//! from its first statement, so it can never fail half-way on a lock
//! upgrade). Reads use their own pool and run beside the writer.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::Transaction;

type Db = sqlx::Sqlite;
type ThisStore = SqliteStore;

static MIGRATOR: Migrator = sqlx_macros::migrate!("migrations/sqlite");

const READERS: u32 = 4;
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The store on one SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    reader: SqlitePool,
    writer: SqlitePool,
}

impl SqliteStore {
    /// The database file's name under a data directory.
    pub const FILE_NAME: &'static str = "callex.db";

    /// Opens (creating it and its directory if missing) the database file
    /// `file`, and brings its schema up to date.
    pub async fn open(file: &Path) -> Result<Self> {
        Self::open_with(SqliteConnectOptions::new().filename(file)).await
    }

    /// Like [`open`](Self::open), from a `sqlite:` URL.
    pub async fn open_url(url: &str) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(url).map_err(|err| StoreError::Open {
            target: url.to_owned(),
            reason: err.to_string(),
        })?;
        Self::open_with(options).await
    }

    /// Opens with `options`, on which the durability settings above are
    /// imposed.
    pub async fn open_with(options: SqliteConnectOptions) -> Result<Self> {
        let file = options.get_filename().to_owned();
        let cannot_open = |reason: String| StoreError::Open {
            target: file.display().to_string(),
            reason,
        };
        if let Some(dir) = file.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|err| cannot_open(format!("cannot create {}: {err}", dir.display())))?;
        }
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);

        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .connect_with(options.clone())
            .await
            .map_err(|err| cannot_open(err.to_string()))?;
        MIGRATOR
            .run(&writer)
            .await
            .map_err(|source| StoreError::Migrate {
                engine: "SQLite",
                source,
            })?;
        let reader = SqlitePoolOptions::new()
            .max_connections(READERS)
            .connect_with(options)
            .await
            .map_err(|err| cannot_open(err.to_string()))?;
        Ok(SqliteStore { reader, writer })
    }

    /// Closes every connection, checkpointing the WAL into the database
    /// file. Not needed for durability (a store dropped without it, or a
    /// process killed, loses no commit), only for a tidy shutdown.
    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }

    fn reader(&self) -> &SqlitePool {
        &self.reader
    }

    fn writer(&self) -> &SqlitePool {
        &self.writer
    }

    async fn begin_write(&self) -> Result<Transaction<'static, Db>> {
        Ok(self.writer.begin_with("BEGIN IMMEDIATE").await?)
    }
}

// The call journal's bulk writes, as multi-row statements. SQLite runs
// in-process but sqlx talks to it through a worker thread, so each
// statement costs a thread hand-off that outweighs the row's own work:
// a batch goes in chunks of up to 64 rows, sized in powers of two so that
// a connection's statement cache holds every shape after a few batches.

const MAX_CHUNK: usize = 64;

// A statement binds at most SQLITE_MAX_VARIABLE_NUMBER values (32766 since
// SQLite 3.32; the bundled library is newer): a full chunk of the widest row,
// a CDR, must fit, whatever columns are added to it.
const MAX_VARIABLES: usize = 32_766;
const _: () = assert!(MAX_CHUNK * column_count(sql::new_cdr_columns!()) <= MAX_VARIABLES);

/// How many names a column list (`"a, b, c"`) holds.
const fn column_count(columns: &str) -> usize {
    let bytes = columns.as_bytes();
    let mut count = 1;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b',' {
            count += 1;
        }
        i += 1;
    }
    count
}

fn chunks<T>(rows: &[T]) -> impl Iterator<Item = &[T]> {
    let mut rest = rows;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let size = MAX_CHUNK.min(1 << rest.len().ilog2());
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        Some(chunk)
    })
}

async fn insert_active_calls(conn: &mut SqliteConnection, calls: &[ActiveCall]) -> Result<u64> {
    let mut opened = 0;
    for chunk in chunks(calls) {
        let mut insert = QueryBuilder::<Db>::new(concat!(
            "INSERT INTO active_calls (",
            sql::active_call_columns!(),
            ") "
        ));
        insert.push_values(chunk, |mut row, call| {
            row.push_bind(&call.call_id)
                .push_bind(&call.node)
                .push_bind(&call.a_leg_call_id)
                .push_bind(&call.b_leg_call_id)
                .push_bind(&call.caller)
                .push_bind(&call.callee_dialled)
                .push_bind(&call.callee_presented)
                .push_bind(&call.decision)
                .push_bind(call.start_at)
                .push_bind(call.answer_at);
        });
        insert.push(" ON CONFLICT (call_id) DO NOTHING");
        opened += insert.build().execute(&mut *conn).await?.rows_affected();
    }
    Ok(opened)
}

async fn answer_calls(conn: &mut SqliteConnection, answers: &[Answer]) -> Result<u64> {
    let mut answered = 0;
    for chunk in chunks(answers) {
        let mut update = QueryBuilder::<Db>::new(
            "UPDATE active_calls \
             SET answer_at = v.column2, \
                 b_leg_call_id = COALESCE(v.column3, active_calls.b_leg_call_id) \
             FROM (",
        );
        update.push_values(chunk, |mut row, answer| {
            row.push_bind(&answer.call_id)
                .push_bind(answer.answer_at)
                .push_bind(&answer.b_leg_call_id);
        });
        update.push(
            ") AS v WHERE active_calls.call_id = v.column1 AND active_calls.answer_at IS NULL",
        );
        answered += update.build().execute(&mut *conn).await?.rows_affected();
    }
    Ok(answered)
}

/// The CDRs that were new; a call that already had its CDR is skipped.
async fn insert_cdrs(conn: &mut SqliteConnection, cdrs: &[NewCdr]) -> Result<Vec<Cdr>> {
    let mut written = Vec::with_capacity(cdrs.len());
    for chunk in chunks(cdrs) {
        let mut insert = cdr_insert(chunk);
        insert.push(concat!(" RETURNING ", sql::cdr_columns!()));
        for row in insert.build().fetch_all(&mut *conn).await? {
            written.push(cdr_from_row(&row)?);
        }
    }
    Ok(written)
}

/// How many CDRs were new, without reading them back (the journal's case).
async fn count_new_cdrs(conn: &mut SqliteConnection, cdrs: &[NewCdr]) -> Result<u64> {
    let mut written = 0;
    for chunk in chunks(cdrs) {
        written += cdr_insert(chunk)
            .build()
            .execute(&mut *conn)
            .await?
            .rows_affected();
    }
    Ok(written)
}

/// `INSERT INTO cdrs … ON CONFLICT DO NOTHING` for `chunk`.
fn cdr_insert(chunk: &[NewCdr]) -> QueryBuilder<'_, Db> {
    let mut insert =
        QueryBuilder::<Db>::new(concat!("INSERT INTO cdrs (", sql::new_cdr_columns!(), ") "));
    insert.push_values(chunk, |mut row, cdr| {
        row.push_bind(&cdr.call_id)
            .push_bind(&cdr.node)
            .push_bind(&cdr.a_leg_call_id)
            .push_bind(&cdr.b_leg_call_id)
            .push_bind(&cdr.caller)
            .push_bind(&cdr.callee_dialled)
            .push_bind(&cdr.callee_presented)
            .push_bind(&cdr.decision)
            .push_bind(cdr.start_at)
            .push_bind(cdr.answer_at)
            .push_bind(cdr.end_at)
            .push_bind(cdr.duration_ms())
            .push_bind(cdr.disposition.as_str())
            .push_bind(cdr.sip_code.map(i64::from));
    });
    insert.push(" ON CONFLICT (call_id) DO NOTHING");
    insert
}

async fn delete_active_calls(conn: &mut SqliteConnection, closed: &[NewCdr]) -> Result<()> {
    for chunk in chunks(closed) {
        let mut delete = QueryBuilder::<Db>::new("DELETE FROM active_calls WHERE call_id IN (");
        let mut ids = delete.separated(", ");
        for cdr in chunk {
            ids.push_bind(&cdr.call_id);
        }
        delete.push(")");
        delete.build().execute(&mut *conn).await?;
    }
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
