//! PostgreSQL for the tests: a throw-away cluster of Debian's PostgreSQL
//! (`scripts/postgres.sh`), or the one `scripts/test.sh` started for the
//! whole suite (`SHIIOO_TEST_POSTGRES`).

use std::hash::{Hash, Hasher};
use std::path::Path;
use std::process::Command;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/postgres.sh");

/// The server the whole suite runs against when it runs on PostgreSQL
/// (`scripts/test.sh` sets it): `postgres://user@host:port`, no database.
pub fn suite_server() -> Option<String> {
    std::env::var("SHIIOO_TEST_POSTGRES")
        .ok()
        .filter(|u| !u.is_empty())
}

/// A cluster of this test's own, stopped as a crash would when dropped.
pub struct Postgres {
    dir: tempfile::TempDir,
    /// The server's URL, without a database.
    pub url: String,
}

fn script(args: &[&str]) -> String {
    let out = Command::new("bash")
        .arg(SCRIPT)
        .args(args)
        .env("SHIIOO_PG_OPTIONS", "-c fsync=off")
        .output()
        .expect("run scripts/postgres.sh");
    assert!(
        out.status.success(),
        "scripts/postgres.sh {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

impl Postgres {
    pub fn start() -> Postgres {
        let dir = tempfile::tempdir().unwrap();
        let url = script(&["start", dir.path().to_str().unwrap()]);
        Postgres { dir, url }
    }

    /// Stops the server (`pg_ctl -m immediate`: connections cut, as when
    /// the database's machine goes away).
    pub fn kill(&self) {
        script(&["kill", self.dir.path().to_str().unwrap()]);
    }

    /// Starts it again on the same port, with its data.
    pub fn start_again(&self) {
        script(&["start", self.dir.path().to_str().unwrap()]);
    }

    /// A new database on this server: its URL.
    pub async fn database(&self, name: &str) -> String {
        create_database(&self.url, name).await
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(SCRIPT)
            .args(["kill", self.dir.path().to_str().unwrap()])
            .output();
    }
}

/// Creates database `name` on `server` unless it exists; its URL.
pub async fn create_database(server: &str, name: &str) -> String {
    let (client, connection) =
        tokio_postgres::connect(&format!("{server}/postgres"), tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| panic!("connect to {server}: {e}"));
    let connection = tokio::spawn(connection);
    match client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
    {
        Ok(()) => {}
        Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::DUPLICATE_DATABASE) => {}
        Err(e) => panic!("CREATE DATABASE {name}: {e}"),
    }
    drop(client);
    let _ = connection.await;
    format!("{server}/{name}")
}

/// The database of a test server's data folder on the suite's server: the
/// same folder (a restart) gets the same database back.
pub async fn database_for(server: &str, data_dir: &Path) -> String {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    data_dir.hash(&mut hasher);
    create_database(server, &format!("t{:016x}", hasher.finish())).await
}
