//! Runs one test body against each engine.
//!
//! - SQLite: a fresh data directory in a temporary directory.
//! - PostgreSQL: `postgres://postgres@127.0.0.1:5432/test` (trust auth), or
//!   `CALLEX_TEST_POSTGRES_URL`; each test gets a schema of its own
//!   (`store_test_<pid>_<n>`) through the connection's `search_path`, so
//!   tests run in parallel without seeing each other, and the schema is
//!   dropped afterwards, even when the test fails. An unreachable server
//!   fails the test, saying so: it is never skipped.

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::{Connection, Executor, PgConnection};
use store::Store;
use tempfile::TempDir;

pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// Where a test's store lives; open it as many times as the test needs
/// (a reopen is a restart).
pub struct TestDb {
    target: String,
    _dir: Option<TempDir>,
}

impl TestDb {
    /// What `Store::open` takes for this database.
    pub fn target(&self) -> &str {
        &self.target
    }

    pub async fn open(&self) -> Store {
        Store::open(&self.target)
            .await
            .unwrap_or_else(|err| panic!("opening the test store: {err}"))
    }
}

macro_rules! on_both_engines {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    crate::support::on_sqlite(crate::$test).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    crate::support::on_postgres(crate::$test).await
                }
            )*
        }
    };
}
pub(crate) use on_both_engines;

pub async fn on_sqlite<F, Fut>(test: F)
where
    F: FnOnce(TestDb) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().expect("a temporary directory");
    let target = dir
        .path()
        .join("data")
        .to_str()
        .expect("a UTF-8 temporary path")
        .to_owned();
    test(TestDb {
        target,
        _dir: Some(dir),
    })
    .await
}

pub fn postgres_url() -> String {
    std::env::var("CALLEX_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned())
}

pub async fn on_postgres<F, Fut>(test: F)
where
    F: FnOnce(TestDb) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let base = postgres_url();
    let mut admin = PgConnection::connect(&base).await.unwrap_or_else(|err| {
        panic!(
            "the PostgreSQL store tests need a server at {base} (database `test`, trust auth; \
             set CALLEX_TEST_POSTGRES_URL to use another), and it is unreachable: {err}"
        )
    });
    let schema = format!(
        "store_test_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    admin
        .execute(format!("DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}").as_str())
        .await
        .expect("creating the test schema");
    let separator = if base.contains('?') { '&' } else { '?' };
    let target = format!("{base}{separator}options[search_path]={schema}");

    // Spawned, so that a failing test still gets its schema dropped.
    let outcome = tokio::spawn(test(TestDb { target, _dir: None })).await;
    admin
        .execute("SET lock_timeout = '10s'")
        .await
        .expect("setting a lock timeout");
    admin
        .execute(format!("DROP SCHEMA {schema} CASCADE").as_str())
        .await
        .expect("dropping the test schema");
    if let Err(err) = outcome {
        std::panic::resume_unwind(err.into_panic());
    }
}
