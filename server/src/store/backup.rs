//! Online backups of the SQLite event log (`shiioo backup FILE`), taken
//! while the server runs: `VACUUM INTO` copies one consistent snapshot of
//! the database (a read transaction, so the writer goes on committing),
//! compacted, into a new file that is a complete log on its own: start a
//! server with it as `shiioo.db` and it replays to the state of the moment
//! the backup began.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

/// What a backup holds, read back from the copy itself.
#[derive(Debug, PartialEq)]
pub struct Backup {
    pub events: u64,
    /// The last event in the copy (0 for an empty log).
    pub last_seq: u64,
    pub bytes: u64,
}

/// Copies the log at `db` into `dest`, which must not exist yet, and checks
/// the copy (`PRAGMA integrity_check`) before saying what it holds.
pub fn backup(db: &Path, dest: &Path) -> Result<Backup, String> {
    if !db.is_file() {
        return Err(format!("no event log at {}", db.display()));
    }
    if dest.exists() {
        return Err(format!(
            "{} exists; a backup never overwrites a file",
            dest.display()
        ));
    }
    let dest_text = dest
        .to_str()
        .ok_or_else(|| format!("{}: the path is not UTF-8", dest.display()))?;
    let source = Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| format!("opening {}: {e}", db.display()))?;
    // The writer holds its lock for a commit at a time: wait for it.
    source
        .busy_timeout(Duration::from_secs(30))
        .map_err(|e| e.to_string())?;
    source
        .execute("VACUUM INTO ?1", [dest_text])
        .map_err(|e| format!("copying into {}: {e}", dest.display()))?;
    drop(source);
    let verified = check(dest);
    if verified.is_err() {
        let _ = std::fs::remove_file(dest);
    }
    verified
}

fn check(copy: &Path) -> Result<Backup, String> {
    let conn = Connection::open_with_flags(copy, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| format!("reading the copy back: {e}"))?;
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .map_err(|e| format!("checking the copy: {e}"))?;
    if integrity != "ok" {
        return Err(format!("the copy is damaged: {integrity}"));
    }
    let (events, last_seq): (u64, u64) = conn
        .query_row(
            "SELECT count(*), coalesce(max(seq), 0) FROM events",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(|e| format!("counting the copy's events: {e}"))?;
    let bytes = std::fs::metadata(copy).map(|m| m.len()).unwrap_or(0);
    Ok(Backup {
        events,
        last_seq,
        bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backup_is_a_checked_copy_and_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("shiioo.db");
        let conn = Connection::open(&db).unwrap();
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             CREATE TABLE events (seq INTEGER PRIMARY KEY, body BLOB);
             INSERT INTO events VALUES (1, x'00'), (2, x'01'), (7, x'02');",
        )
        .unwrap();
        let dest = dir.path().join("copy.db");
        // Taken while another connection holds the log open, as the server does.
        let copy = backup(&db, &dest).unwrap();
        assert_eq!((copy.events, copy.last_seq), (3, 7));
        assert!(copy.bytes > 0);
        let again = backup(&db, &dest).unwrap_err();
        assert!(again.contains("never overwrites"), "{again}");
        let missing = backup(&dir.path().join("none.db"), &dir.path().join("x.db")).unwrap_err();
        assert!(missing.contains("no event log"), "{missing}");
        drop(conn);
    }
}
