//! The catalog's two engines, SQLite and PostgreSQL, behind one small SQL
//! surface for the archive's own tables (recordings, streams, chunks, keys,
//! the ledger's mirror state): a statement is written once, with `$1`-style
//! parameters in PostgreSQL's spelling, and runs on either.
//!
//! - [`Conn`] is one connection of either engine; [`Conn::write`] opens the
//!   catalog's one kind of write transaction, serialised against every other
//!   writer on every node: SQLite's `BEGIN IMMEDIATE`, or in PostgreSQL a lock
//!   on the ledger's head row taken first. So a check made inside it holds
//!   until it commits, on both engines, and the ledger stays one chain.
//! - [`Tx`] is a transaction of either engine; the archive's functions take it,
//!   and the domain reaches its own engine through [`Tx::either`].
//! - [`Value`] and [`Row`] carry values across: integers are `i64` (PostgreSQL's
//!   BIGINT), flags `bool`, blobs bytes, times text.
//!
//! What is not the same in both dialects is written twice, chosen by
//! [`Tx::is_postgres`] at the statement; everything else (the job queue, the
//! domain's aggregates) has an implementation per engine in `niem_core::catalog`.
//! A statement's `$n` become SQLite's `?n`, which binds by number, so the
//! numbers may appear in any order and more than once.

use crate::catalog::CatalogError;
use postgres::types::{IsNull, ToSql, Type};
use std::cell::RefCell;

/// A value bound to a statement or read from a row.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Text(String),
    Bytes(Vec<u8>),
    Bool(bool),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}

impl From<u64> for Value {
    fn from(v: u64) -> Self {
        // Counts and lengths never reach 2^63; a bound that did would only
        // compare as the largest value.
        Value::Int(i64::try_from(v).unwrap_or(i64::MAX))
    }
}

impl From<u32> for Value {
    fn from(v: u32) -> Self {
        Value::Int(i64::from(v))
    }
}

impl From<usize> for Value {
    fn from(v: usize) -> Self {
        Value::from(v as u64)
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_string())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}

impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Value::Text(v.clone())
    }
}

impl From<&[u8]> for Value {
    fn from(v: &[u8]) -> Self {
        Value::Bytes(v.to_vec())
    }
}

impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Self {
        Value::Bytes(v)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// Parameters, each converted: `params![id.to_string(), n, None::<String>]`.
macro_rules! params {
    ($($v:expr),* $(,)?) => { &[$($crate::db::Value::from($v)),*][..] };
}
pub(crate) use params;

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(match self {
            Value::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Value::Int(i) => ToSqlOutput::Borrowed(ValueRef::Integer(*i)),
            Value::Bool(b) => ToSqlOutput::Borrowed(ValueRef::Integer(i64::from(*b))),
            Value::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Value::Bytes(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
        })
    }
}

impl ToSql for Value {
    fn to_sql(&self, ty: &Type, out: &mut bytes::BytesMut) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            // PostgreSQL infers a parameter's type from where it stands: an
            // integer compared with COUNT(*) is BIGINT, with a literal maybe INT.
            Value::Int(i) if *ty == Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
            Value::Int(i) if *ty == Type::INT2 => i16::try_from(*i)?.to_sql(ty, out),
            Value::Int(i) => i.to_sql(ty, out),
            Value::Bool(b) => b.to_sql(ty, out),
            Value::Text(s) => s.as_str().to_sql(ty, out),
            Value::Bytes(b) => b.as_slice().to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}

/// A row read from either engine.
#[derive(Debug, Clone)]
pub struct Row(Vec<Value>);

impl Row {
    /// Column `i` as `T`: an error (the catalog's fault) if it is not one.
    pub fn get<T: FromValue>(&self, i: usize) -> Result<T, CatalogError> {
        let v = self.0.get(i).ok_or_else(|| CatalogError::Value(format!("no column {i}")))?;
        T::from_value(v).ok_or_else(|| CatalogError::Value(format!("column {i} holds {v:?}")))
    }

    fn from_sqlite(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
        use rusqlite::types::ValueRef;
        let n = r.as_ref().column_count();
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            out.push(match r.get_ref(i)? {
                ValueRef::Null => Value::Null,
                ValueRef::Integer(v) => Value::Int(v),
                ValueRef::Real(v) => Value::Text(v.to_string()),
                ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
                ValueRef::Blob(b) => Value::Bytes(b.to_vec()),
            });
        }
        Ok(Row(out))
    }

    fn from_postgres(r: &postgres::Row) -> Result<Row, CatalogError> {
        let mut out = Vec::with_capacity(r.len());
        for (i, col) in r.columns().iter().enumerate() {
            let ty = col.type_();
            let v = if *ty == Type::INT8 {
                r.try_get::<_, Option<i64>>(i)?.map(Value::Int)
            } else if *ty == Type::INT4 {
                r.try_get::<_, Option<i32>>(i)?.map(|v| Value::Int(v.into()))
            } else if *ty == Type::INT2 {
                r.try_get::<_, Option<i16>>(i)?.map(|v| Value::Int(v.into()))
            } else if *ty == Type::BOOL {
                r.try_get::<_, Option<bool>>(i)?.map(Value::Bool)
            } else if *ty == Type::BYTEA {
                r.try_get::<_, Option<Vec<u8>>>(i)?.map(Value::Bytes)
            } else if *ty == Type::TEXT || *ty == Type::VARCHAR || *ty == Type::NAME {
                r.try_get::<_, Option<String>>(i)?.map(Value::Text)
            } else {
                return Err(CatalogError::Value(format!("column {} is a {ty}: cast it in the statement", col.name())));
            };
            out.push(v.unwrap_or(Value::Null));
        }
        Ok(Row(out))
    }
}

/// What a column may be read as.
pub trait FromValue: Sized {
    fn from_value(v: &Value) -> Option<Self>;
}

impl FromValue for i64 {
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Int(i) => Some(*i),
            Value::Bool(b) => Some(i64::from(*b)),
            _ => None,
        }
    }
}

impl FromValue for u64 {
    fn from_value(v: &Value) -> Option<Self> {
        i64::from_value(v).and_then(|i| u64::try_from(i).ok())
    }
}

impl FromValue for u32 {
    fn from_value(v: &Value) -> Option<Self> {
        i64::from_value(v).and_then(|i| u32::try_from(i).ok())
    }
}

impl FromValue for usize {
    fn from_value(v: &Value) -> Option<Self> {
        i64::from_value(v).and_then(|i| usize::try_from(i).ok())
    }
}

impl FromValue for bool {
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Bool(b) => Some(*b),
            Value::Int(i) => Some(*i != 0),
            _ => None,
        }
    }
}

impl FromValue for String {
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Text(s) => Some(s.clone()),
            _ => None,
        }
    }
}

impl FromValue for Vec<u8> {
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Bytes(b) => Some(b.clone()),
            _ => None,
        }
    }
}

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Null => Some(None),
            v => T::from_value(v).map(Some),
        }
    }
}

/// `$1` … as SQLite's `?1` …, outside quoted text.
fn sqlite_sql(sql: &str) -> std::borrow::Cow<'_, str> {
    if !sql.contains('$') {
        return sql.into();
    }
    let mut out = String::with_capacity(sql.len());
    let mut quoted = false;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => quoted = !quoted,
            '$' if !quoted && chars.peek().is_some_and(char::is_ascii_digit) => {
                out.push('?');
                continue;
            }
            _ => {}
        }
        out.push(c);
    }
    out.into()
}

fn sqlite_query(c: &rusqlite::Connection, sql: &str, params: &[Value]) -> Result<Vec<Row>, CatalogError> {
    let mut stmt = c.prepare_cached(&sqlite_sql(sql))?;
    let rows = stmt.query_map(rusqlite::params_from_iter(params.iter()), Row::from_sqlite)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn sqlite_execute(c: &rusqlite::Connection, sql: &str, params: &[Value]) -> Result<u64, CatalogError> {
    let mut stmt = c.prepare_cached(&sqlite_sql(sql))?;
    Ok(stmt.execute(rusqlite::params_from_iter(params.iter()))? as u64)
}

fn pg_params(params: &[Value]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
}

fn one(mut rows: Vec<Row>) -> Result<Option<Row>, CatalogError> {
    if rows.len() > 1 {
        return Err(CatalogError::Value(format!("{} rows where one was expected", rows.len())));
    }
    Ok(rows.pop())
}

/// One connection to the catalog, of either engine.
pub enum Conn<'a> {
    Sqlite(&'a mut rusqlite::Connection),
    Postgres(&'a mut postgres::Client),
}

impl Conn<'_> {
    pub fn is_postgres(&self) -> bool {
        matches!(self, Conn::Postgres(_))
    }

    /// The catalog's write transaction: serialised against every writer of
    /// the catalog (every node's), from its first statement to its commit.
    pub fn write(&mut self) -> Result<Tx<'_>, CatalogError> {
        match self {
            Conn::Sqlite(c) => Ok(Tx {
                inner: TxInner::Sqlite(c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?),
            }),
            Conn::Postgres(c) => {
                let mut tx = c.transaction()?;
                // The head row is the one lock every ledgered write takes: taken
                // first, it orders whole transactions as SQLite's write lock does.
                tx.execute("SELECT 1 FROM ledger_head WHERE one FOR UPDATE", &[])?;
                Ok(Tx { inner: TxInner::Postgres(RefCell::new(tx)) })
            }
        }
    }

    /// A transaction that only reads (several statements, one consistent view
    /// where the engine gives one), or writes without the writers' lock.
    pub fn read(&mut self) -> Result<Tx<'_>, CatalogError> {
        match self {
            Conn::Sqlite(c) => Ok(Tx { inner: TxInner::Sqlite(c.transaction()?) }),
            Conn::Postgres(c) => {
                let tx = c.build_transaction().isolation_level(postgres::IsolationLevel::RepeatableRead).start()?;
                Ok(Tx { inner: TxInner::Postgres(RefCell::new(tx)) })
            }
        }
    }

    /// One statement in a transaction of its own.
    pub fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, CatalogError> {
        match self {
            Conn::Sqlite(c) => sqlite_execute(c, sql, params),
            Conn::Postgres(c) => Ok(c.execute(sql, &pg_params(params))?),
        }
    }

    /// One query in a transaction of its own.
    pub fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, CatalogError> {
        match self {
            Conn::Sqlite(c) => sqlite_query(c, sql, params),
            Conn::Postgres(c) => c.query(sql, &pg_params(params))?.iter().map(Row::from_postgres).collect(),
        }
    }

    /// `s` on SQLite's connection, or `p` on PostgreSQL's client.
    pub fn either<R>(
        &mut self,
        s: impl FnOnce(&mut rusqlite::Connection) -> R,
        p: impl FnOnce(&mut postgres::Client) -> R,
    ) -> R {
        match self {
            Conn::Sqlite(c) => s(c),
            Conn::Postgres(c) => p(c),
        }
    }
}

/// A transaction of either engine. Dropped without [`Tx::commit`], it rolls back.
pub struct Tx<'a> {
    inner: TxInner<'a>,
}

enum TxInner<'a> {
    Sqlite(rusqlite::Transaction<'a>),
    // The driver's calls take `&mut`; the archive's functions share `&Tx`.
    Postgres(RefCell<postgres::Transaction<'a>>),
}

impl<'a> Tx<'a> {
    pub fn is_postgres(&self) -> bool {
        matches!(self.inner, TxInner::Postgres(_))
    }

    pub fn execute(&self, sql: &str, params: &[Value]) -> Result<u64, CatalogError> {
        match &self.inner {
            TxInner::Sqlite(t) => sqlite_execute(t, sql, params),
            TxInner::Postgres(t) => Ok(t.borrow_mut().execute(sql, &pg_params(params))?),
        }
    }

    pub fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, CatalogError> {
        match &self.inner {
            TxInner::Sqlite(t) => sqlite_query(t, sql, params),
            TxInner::Postgres(t) => {
                t.borrow_mut().query(sql, &pg_params(params))?.iter().map(Row::from_postgres).collect()
            }
        }
    }

    /// The one row `sql` returns, if any; more than one is an error.
    pub fn query_opt(&self, sql: &str, params: &[Value]) -> Result<Option<Row>, CatalogError> {
        one(self.query(sql, params)?)
    }

    /// The one row `sql` returns; none or more is an error.
    pub fn query_one(&self, sql: &str, params: &[Value]) -> Result<Row, CatalogError> {
        self.query_opt(sql, params)?.ok_or_else(|| CatalogError::Value("no row where one was expected".into()))
    }

    pub fn commit(self) -> Result<(), CatalogError> {
        match self.inner {
            TxInner::Sqlite(t) => Ok(t.commit()?),
            TxInner::Postgres(t) => Ok(t.into_inner().commit()?),
        }
    }

    /// `s` on SQLite's transaction, or `p` on PostgreSQL's: the domain's
    /// aggregates, written per engine, join the archive's transaction here.
    pub fn either<R>(
        &self,
        s: impl FnOnce(&rusqlite::Transaction<'a>) -> R,
        p: impl FnOnce(&mut postgres::Transaction<'a>) -> R,
    ) -> R {
        match &self.inner {
            TxInner::Sqlite(t) => s(t),
            TxInner::Postgres(t) => p(&mut t.borrow_mut()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_parameters_become_sqlites_outside_quotes() {
        assert_eq!(sqlite_sql("SELECT $2, $1 WHERE a = '$1' AND b = $10"), "SELECT ?2, ?1 WHERE a = '$1' AND b = ?10");
        assert_eq!(sqlite_sql("SELECT 1"), "SELECT 1");
    }

    #[test]
    fn sqlite_binds_by_number_in_any_order_and_reads_typed_values() {
        let mut c = rusqlite::Connection::open_in_memory().unwrap();
        c.execute_batch("CREATE TABLE t (a INTEGER, b TEXT, c BLOB, d INTEGER)").unwrap();
        let mut conn = Conn::Sqlite(&mut c);
        let tx = conn.write().unwrap();
        tx.execute("INSERT INTO t (b, a, c, d) VALUES ($2, $1, $3, $4)", params![7i64, "x", vec![1u8, 2], true])
            .unwrap();
        let row = tx.query_one("SELECT a, b, c, d FROM t WHERE a = $1 AND $1 = 7", params![7i64]).unwrap();
        assert_eq!(row.get::<i64>(0).unwrap(), 7);
        assert_eq!(row.get::<String>(1).unwrap(), "x");
        assert_eq!(row.get::<Vec<u8>>(2).unwrap(), vec![1, 2]);
        assert!(row.get::<bool>(3).unwrap());
        assert!(row.get::<String>(0).is_err(), "an integer is not text");
        assert!(tx.query_opt("SELECT a FROM t WHERE a = 8", &[]).unwrap().is_none());
        tx.commit().unwrap();
    }
}
