//! A SQLite catalog copied into a new PostgreSQL catalog (`niem catalog
//! migrate-to`), and the copy checked row by row.
//!
//! The copy is one PostgreSQL transaction: the baseline is made (or found
//! empty), every table is streamed across with binary `COPY` in the order the
//! baseline creates them (so rows that reference others come after them;
//! PostgreSQL checks each table's references at the end of its `COPY`), the
//! ledger's head and the job ids' sequence are set from the rows, and the
//! whole commits or nothing does. SQLite's 0/1 flags become BOOLEANs; any
//! other value that does not fit its PostgreSQL column stops the copy, naming
//! the table and column.
//!
//! [`check`] then reads both catalogs in full and compares each table's row
//! count and a SHA-256 over its rows (sorted, each value typed), so a copy that
//! lost, changed or added a row is caught. Checking the ledger against the
//! store's signed checkpoints is the caller's part (it needs the store).
//!
//! What it is not: a sync. The SQLite catalog must not change while it runs
//! (the command holds the service's lock), and the target must be empty.

use super::migrate;
use archive::catalog::CatalogError;
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::{ToSql, Type};
use ring::digest::{Context, SHA256};
use rusqlite::types::Value;

/// Tables PostgreSQL keeps for itself: the steps recorded by its own
/// baseline, and what SQLite's single writer does not need.
const NOT_COPIED: &[&str] = &["schema_migrations", "ledger_head", "mirror_lease"];

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error("SQLite catalog: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("PostgreSQL catalog: {0}")]
    Postgres(#[from] postgres::Error),
    #[error(
        "the PostgreSQL catalog already holds data ({0}): migrate into an empty database (createdb a new one), never over a catalog in use"
    )]
    NotEmpty(String),
    #[error("{table}.{column}: {problem}")]
    Value { table: String, column: String, problem: String },
    #[error("the copy differs from the SQLite catalog: {0}")]
    Differs(String),
}

/// One table's rows as both catalogs hold them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableCheck {
    pub table: String,
    pub rows: u64,
    /// SHA-256 over the table's rows, sorted, each value typed.
    pub digest: String,
}

/// A PostgreSQL column and its type, which decides how SQLite's value converts.
struct Column {
    name: String,
    ty: Type,
}

/// Copies the catalog at `from` into the PostgreSQL catalog at `to`, made
/// with this release's baseline if missing, which must hold no data. Returns
/// each table's row count.
pub fn copy(from: &rusqlite::Connection, to: &mut postgres::Client) -> Result<Vec<(String, u64)>, CopyError> {
    migrate(to)?;
    let mut tx = to.transaction()?;
    refuse_unless_empty(&mut tx)?;
    // The baseline's one mirror row: replaced by SQLite's.
    tx.execute("DELETE FROM ledger_mirror", &[])?;
    let mut copied = Vec::new();
    for table in tables(&mut tx)? {
        let columns = columns(&mut tx, &table)?;
        let n = copy_table(from, &mut tx, &table, &columns)?;
        copied.push((table, n));
    }
    tx.batch_execute(
        "UPDATE ledger_head SET seq = l.seq, hash = l.hash, ts = l.ts
             FROM (SELECT seq, hash, ts FROM ledger ORDER BY seq DESC LIMIT 1) l WHERE ledger_head.one;
         SELECT setval(pg_get_serial_sequence('jobs', 'id'), COALESCE(MAX(id), 1), MAX(id) IS NOT NULL) FROM jobs;",
    )?;
    tx.commit()?;
    Ok(copied)
}

/// Makes the catalog at `to` if missing, and refuses one that holds data:
/// checked before a long job that ends in [`copy`] (a restore).
pub fn require_empty(to: &mut postgres::Client) -> Result<(), CopyError> {
    migrate(to)?;
    let mut tx = to.transaction()?;
    refuse_unless_empty(&mut tx)?;
    Ok(tx.commit()?)
}

fn refuse_unless_empty(tx: &mut postgres::Transaction<'_>) -> Result<(), CopyError> {
    for table in ["ledger", "users", "orgs", "recordings"] {
        let n: i64 = tx.query_one(&format!("SELECT COUNT(*) FROM {table}"), &[])?.get(0);
        if n > 0 {
            return Err(CopyError::NotEmpty(format!("{n} rows in {table}")));
        }
    }
    Ok(())
}

/// The catalog's tables in the order the baseline made them.
fn tables(tx: &mut postgres::Transaction<'_>) -> Result<Vec<String>, CopyError> {
    let rows = tx.query(
        "SELECT c.relname::text FROM pg_class c WHERE c.relkind = 'r' AND c.relnamespace = 'public'::regnamespace
         ORDER BY c.oid",
        &[],
    )?;
    Ok(rows.iter().map(|r| r.get::<_, String>(0)).filter(|t| !NOT_COPIED.contains(&t.as_str())).collect())
}

fn columns(tx: &mut postgres::Transaction<'_>, table: &str) -> Result<Vec<Column>, CopyError> {
    let rows = tx.query(
        "SELECT a.attname::text, a.atttypid FROM pg_attribute a
         WHERE a.attrelid = ('public.' || quote_ident($1))::regclass AND a.attnum > 0 AND NOT a.attisdropped
         ORDER BY a.attnum",
        &[&table],
    )?;
    rows.iter()
        .map(|r| {
            let name: String = r.get(0);
            let oid: u32 = r.get(1);
            let ty = Type::from_oid(oid).ok_or_else(|| CopyError::Value {
                table: table.into(),
                column: name.clone(),
                problem: format!("a PostgreSQL type (oid {oid}) the copy does not know"),
            })?;
            Ok(Column { name, ty })
        })
        .collect()
}

/// `"a", "b", ...`: quoted, since a column may be a reserved word (`offset`).
fn column_list(columns: &[Column]) -> String {
    columns.iter().map(|c| format!("\"{}\"", c.name)).collect::<Vec<_>>().join(", ")
}

fn copy_table(
    from: &rusqlite::Connection,
    tx: &mut postgres::Transaction<'_>,
    table: &str,
    columns: &[Column],
) -> Result<u64, CopyError> {
    let list = column_list(columns);
    let mut stmt = from.prepare(&format!("SELECT {list} FROM \"{table}\""))?;
    let mut rows = stmt.query([])?;
    let types: Vec<Type> = columns.iter().map(|c| c.ty.clone()).collect();
    let sink = tx.copy_in(&format!("COPY \"{table}\" ({list}) FROM STDIN BINARY"))?;
    let mut writer = BinaryCopyInWriter::new(sink, &types);
    let mut n = 0u64;
    while let Some(row) = rows.next()? {
        let values = columns
            .iter()
            .enumerate()
            .map(|(i, col)| convert(row.get::<_, Value>(i)?, col).map_err(|problem| value_error(table, col, problem)))
            .collect::<Result<Vec<_>, CopyError>>()?;
        let refs: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| v.as_ref()).collect();
        writer.write(&refs)?;
        n += 1;
    }
    writer.finish()?;
    Ok(n)
}

fn value_error(table: &str, col: &Column, problem: String) -> CopyError {
    CopyError::Value { table: table.into(), column: col.name.clone(), problem }
}

/// SQLite's value as its PostgreSQL column takes it.
fn convert(v: Value, col: &Column) -> Result<Box<dyn ToSql + Sync>, String> {
    let wrong = |v: &Value| format!("a {} where PostgreSQL has {}", v.data_type(), col.ty);
    Ok(match (col.ty.clone(), v) {
        (Type::INT8, Value::Integer(i)) => Box::new(i),
        (Type::INT8, Value::Null) => Box::new(None::<i64>),
        (Type::BOOL, Value::Integer(i @ (0 | 1))) => Box::new(i == 1),
        (Type::BOOL, Value::Null) => Box::new(None::<bool>),
        (Type::TEXT, Value::Text(s)) => Box::new(s),
        (Type::TEXT, Value::Null) => Box::new(None::<String>),
        (Type::BYTEA, Value::Blob(b)) => Box::new(b),
        (Type::BYTEA, Value::Null) => Box::new(None::<Vec<u8>>),
        (_, v) => return Err(wrong(&v)),
    })
}

/// Each copied table's rows as both catalogs hold them now: an error naming
/// the first table whose count or content differs.
pub fn check(from: &rusqlite::Connection, to: &mut postgres::Client) -> Result<Vec<TableCheck>, CopyError> {
    let mut tx = to.transaction()?;
    let mut checks = Vec::new();
    for table in tables(&mut tx)? {
        let columns = columns(&mut tx, &table)?;
        let lite = sqlite_rows(from, &table, &columns)?;
        let pg = postgres_rows(&mut tx, &table, &columns)?;
        let (a, b) = (summary(&table, lite), summary(&table, pg));
        if a != b {
            return Err(CopyError::Differs(format!(
                "table {table}: SQLite has {} rows (sha256 {}), PostgreSQL {} (sha256 {})",
                a.rows, a.digest, b.rows, b.digest
            )));
        }
        checks.push(a);
    }
    tx.commit()?;
    Ok(checks)
}

/// A table's rows, sorted, as one digest: the order each engine returns them
/// in does not matter, their content does.
fn summary(table: &str, mut rows: Vec<Vec<u8>>) -> TableCheck {
    rows.sort_unstable();
    let mut ctx = Context::new(&SHA256);
    for row in &rows {
        ctx.update(&(row.len() as u64).to_be_bytes());
        ctx.update(row);
    }
    TableCheck { table: table.into(), rows: rows.len() as u64, digest: hex::encode(ctx.finish()) }
}

/// One value, typed and length-prefixed, appended to a row's encoding.
fn encode(out: &mut Vec<u8>, tag: u8, bytes: &[u8]) {
    out.push(tag);
    out.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
    out.extend_from_slice(bytes);
}

fn sqlite_rows(from: &rusqlite::Connection, table: &str, columns: &[Column]) -> Result<Vec<Vec<u8>>, CopyError> {
    let mut stmt = from.prepare(&format!("SELECT {} FROM \"{table}\"", column_list(columns)))?;
    let mut rows = stmt.query([])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let mut enc = Vec::new();
        for (i, col) in columns.iter().enumerate() {
            match (row.get::<_, Value>(i)?, &col.ty) {
                (Value::Null, _) => encode(&mut enc, b'n', &[]),
                (Value::Integer(v), &Type::BOOL) => encode(&mut enc, b'b', &[u8::from(v != 0)]),
                (Value::Integer(v), _) => encode(&mut enc, b'i', &v.to_be_bytes()),
                (Value::Text(s), _) => encode(&mut enc, b't', s.as_bytes()),
                (Value::Blob(b), _) => encode(&mut enc, b'x', &b),
                (Value::Real(_), _) => return Err(value_error(table, col, "a REAL, which no column holds".into())),
            }
        }
        out.push(enc);
    }
    Ok(out)
}

fn postgres_rows(
    tx: &mut postgres::Transaction<'_>,
    table: &str,
    columns: &[Column],
) -> Result<Vec<Vec<u8>>, CopyError> {
    let rows = tx.query(&format!("SELECT {} FROM \"{table}\"", column_list(columns)), &[])?;
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        let mut enc = Vec::new();
        for (i, col) in columns.iter().enumerate() {
            match col.ty {
                Type::INT8 => match row.try_get::<_, Option<i64>>(i)? {
                    Some(v) => encode(&mut enc, b'i', &v.to_be_bytes()),
                    None => encode(&mut enc, b'n', &[]),
                },
                Type::BOOL => match row.try_get::<_, Option<bool>>(i)? {
                    Some(v) => encode(&mut enc, b'b', &[u8::from(v)]),
                    None => encode(&mut enc, b'n', &[]),
                },
                Type::TEXT => match row.try_get::<_, Option<String>>(i)? {
                    Some(v) => encode(&mut enc, b't', v.as_bytes()),
                    None => encode(&mut enc, b'n', &[]),
                },
                Type::BYTEA => match row.try_get::<_, Option<Vec<u8>>>(i)? {
                    Some(v) => encode(&mut enc, b'x', &v),
                    None => encode(&mut enc, b'n', &[]),
                },
                ref other => return Err(value_error(table, col, format!("a {other} column the check does not know"))),
            }
        }
        out.push(enc);
    }
    Ok(out)
}
