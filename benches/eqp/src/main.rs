//! `eqp DB < queries`: prints `EXPLAIN QUERY PLAN` for each query read from stdin, through the
//! SQLite that inbox-exec bundles. Queries are separated by lines `-- name: NAME`. The
//! database is opened read-only; parameters are bound to NULL (the plan does not depend on them).

use std::io::Read;

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(db) = args.next() else {
        eprintln!("usage: eqp DB < queries");
        std::process::exit(2);
    };
    let conn = rusqlite::Connection::open_with_flags(
        &db,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .unwrap_or_else(|e| fail(&format!("{db}: {e}")));
    let version: String = conn
        .query_row("SELECT sqlite_version()", [], |r| r.get(0))
        .unwrap_or_else(|e| fail(&e.to_string()));
    println!("-- SQLite {version} (bundled, as in inbox-exec)");
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .unwrap_or_else(|e| fail(&e.to_string()));
    let mut name = String::from("query");
    let mut sql = String::new();
    for line in input.lines().chain(std::iter::once("-- name: end")) {
        if let Some(next) = line.strip_prefix("-- name: ") {
            if !sql.trim().is_empty() {
                plan(&conn, &name, sql.trim());
            }
            name = next.trim().to_owned();
            sql.clear();
        } else {
            sql.push_str(line);
            sql.push('\n');
        }
    }
}

fn plan(conn: &rusqlite::Connection, name: &str, sql: &str) {
    println!("\n## {name}\n");
    let flat = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    println!("    {flat}\n");
    let mut stmt = match conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")) {
        Ok(s) => s,
        Err(e) => {
            println!("    ERROR: {e}");
            return;
        }
    };
    // Every parameter NULL: the plan does not depend on the values.
    let nulls = vec![rusqlite::types::Null; stmt.parameter_count()];
    let rows = stmt
        .query_map(rusqlite::params_from_iter(nulls), |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(3)?,
            ))
        })
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>());
    let rows = match rows {
        Ok(rows) => rows,
        Err(e) => {
            println!("    ERROR: {e}");
            return;
        }
    };
    // Indent each node under its parent, as the sqlite3 shell does.
    let mut depth: Vec<(i64, usize)> = Vec::new();
    for (id, parent, detail) in rows {
        let level = depth
            .iter()
            .find(|(i, _)| *i == parent)
            .map_or(0, |(_, d)| d + 1);
        depth.push((id, level));
        let flag = scan_flag(&detail);
        println!("    {}{detail}{flag}", "  ".repeat(level));
    }
}

/// A mark for a node that walks a whole table or index: `SCAN x` visits every row of `x`
/// (every entry of the index when it says `USING ... INDEX`), where `SEARCH` seeks a range.
fn scan_flag(detail: &str) -> &'static str {
    let Some(rest) = detail.strip_prefix("SCAN ") else {
        return "";
    };
    if rest.starts_with("CONSTANT ROW") || rest.starts_with('(') {
        ""
    } else if rest.contains(" USING ") {
        "   <-- SCAN of a whole index (reads every entry)"
    } else {
        "   <-- FULL TABLE SCAN"
    }
}

fn fail(msg: &str) -> ! {
    eprintln!("eqp: {msg}");
    std::process::exit(1);
}
