//! Users, scopes, tokens, sessions and admin requests on SQLite.

use super::{parse, Sqlite};
use crate::catalog::{Account, Accounts, NewAccount, Request, Result, StoredRequest, Token, User};
use crate::principal::Role;
use crate::schema::{TokenId, UserId};
use rusqlite::{params, OptionalExtension};

fn role(s: &str) -> Result<Role> {
    Role::parse(s).ok_or_else(|| crate::catalog::Error::malformed(format!("an unknown role {s:?}")))
}

type AccountRow = (String, String, String, bool, Option<String>);

fn account((id, name, r, disabled, password_hash): AccountRow) -> Result<Account> {
    Ok(Account { id: parse("user id", &id)?, name, role: role(&r)?, disabled, password_hash })
}

impl Sqlite<'_> {
    fn account_where(&self, column: &str, value: &str) -> Result<Option<Account>> {
        let sql = format!("SELECT id, name, role, disabled, password_hash FROM users WHERE {column} = ?1");
        let row: Option<AccountRow> = self
            .conn
            .query_row(&sql, [value], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
            .optional()?;
        row.map(account).transpose()
    }
}

impl Accounts for Sqlite<'_> {
    fn charge_sign_in(&self, keys: &[String], limit: u32, since: &str, now: &str) -> Result<bool> {
        // IMMEDIATE: the write lock is taken before the counts are read.
        let tx = rusqlite::Transaction::new_unchecked(self.conn, rusqlite::TransactionBehavior::Immediate)?;
        tx.execute("DELETE FROM sign_in_attempts WHERE since <= ?1", [since])?;
        for key in keys {
            let count: Option<u32> =
                tx.query_row("SELECT count FROM sign_in_attempts WHERE key = ?1", [key], |r| r.get(0)).optional()?;
            if count.is_some_and(|n| n >= limit) {
                return Ok(false);
            }
        }
        for key in keys {
            tx.execute(
                "INSERT INTO sign_in_attempts (key, count, since) VALUES (?1, 1, ?2)
                 ON CONFLICT (key) DO UPDATE SET count = count + 1",
                params![key, now],
            )?;
        }
        tx.commit()?;
        Ok(true)
    }

    fn refund_sign_in(&self, key: &str, n: Option<u32>) -> Result<()> {
        match n {
            None => self.conn.execute("DELETE FROM sign_in_attempts WHERE key = ?1", [key])?,
            Some(n) => self
                .conn
                .execute("UPDATE sign_in_attempts SET count = MAX(count - ?2, 0) WHERE key = ?1", params![key, n])?,
        };
        Ok(())
    }

    fn user_by_name(&self, name: &str) -> Result<Option<Account>> {
        self.account_where("name", name)
    }

    fn user_by_id(&self, id: UserId) -> Result<Option<Account>> {
        self.account_where("id", &id.to_string())
    }

    fn user_count(&self) -> Result<u64> {
        Ok(self.conn.query_row("SELECT COUNT(*) FROM users", [], |r| r.get(0))?)
    }

    fn users(&self) -> Result<Vec<User>> {
        let mut stmt = self.conn.prepare(
            "SELECT u.id, u.name, u.role, u.disabled, u.password_hash IS NOT NULL,
                    (SELECT json_group_array(org) FROM user_scopes WHERE user_id = u.id)
             FROM users u ORDER BY u.name",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, bool>(3)?,
                r.get::<_, bool>(4)?,
                r.get::<_, String>(5)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, name, r, disabled, has_password, scopes) = row?;
            let scopes = serde_json::from_str(&scopes).unwrap_or_default();
            out.push(User { id, name, role: role(&r)?, disabled, has_password, scopes });
        }
        Ok(out)
    }

    fn insert_user(&self, u: &NewAccount<'_>) -> Result<()> {
        self.conn.execute(
            "INSERT INTO users (id, name, role, created_at, password_hash) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![u.id.to_string(), u.name, u.role.as_str(), u.created_at, u.password_hash],
        )?;
        Ok(())
    }

    fn set_disabled(&self, id: UserId, disabled: bool) -> Result<()> {
        self.conn.execute("UPDATE users SET disabled = ?2 WHERE id = ?1", params![id.to_string(), disabled])?;
        Ok(())
    }

    fn set_role(&self, id: UserId, role: Role) -> Result<()> {
        self.conn.execute("UPDATE users SET role = ?2 WHERE id = ?1", params![id.to_string(), role.as_str()])?;
        Ok(())
    }

    fn set_password_hash(&self, id: UserId, hash: &str) -> Result<()> {
        self.conn.execute("UPDATE users SET password_hash = ?2 WHERE id = ?1", params![id.to_string(), hash])?;
        Ok(())
    }

    fn clear_scopes(&self, id: UserId) -> Result<()> {
        self.conn.execute("DELETE FROM user_scopes WHERE user_id = ?1", [id.to_string()])?;
        Ok(())
    }

    fn add_scope(&self, id: UserId, org: &str) -> Result<()> {
        self.conn.execute("INSERT INTO user_scopes (user_id, org) VALUES (?1, ?2)", params![id.to_string(), org])?;
        Ok(())
    }

    fn scope_paths(&self, id: UserId) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT o.path FROM user_scopes s JOIN orgs o ON o.id = s.org WHERE s.user_id = ?1 ORDER BY o.path",
        )?;
        let paths = stmt.query_map([id.to_string()], |r| r.get(0))?.collect::<Result<Vec<String>, _>>()?;
        Ok(paths)
    }

    fn insert_token(&self, id: TokenId, user: UserId, secret_sha256: &[u8], now: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO tokens (id, user_id, secret_sha256, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![id.to_string(), user.to_string(), secret_sha256, now],
        )?;
        Ok(())
    }

    fn token(&self, id: TokenId) -> Result<Option<Token>> {
        let row: Option<(String, Vec<u8>, bool)> = self
            .conn
            .query_row(
                "SELECT user_id, secret_sha256, revoked_at IS NOT NULL FROM tokens WHERE id = ?1",
                [id.to_string()],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        row.map(|(owner, secret_sha256, revoked)| {
            Ok(Token { owner: parse("token owner", &owner)?, secret_sha256, revoked })
        })
        .transpose()
    }

    fn revoke_token(&self, id: TokenId, now: &str) -> Result<()> {
        self.conn.execute("UPDATE tokens SET revoked_at = ?2 WHERE id = ?1", params![id.to_string(), now])?;
        Ok(())
    }

    fn insert_session(&self, secret_sha256: &[u8], user: UserId, csrf: &str, now: &str, expires: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO sessions (secret_sha256, user_id, csrf, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![secret_sha256, user.to_string(), csrf, now, expires],
        )?;
        Ok(())
    }

    fn live_session(&self, secret_sha256: &[u8], now: &str) -> Result<Option<(UserId, String)>> {
        let row: Option<(String, String)> = self
            .conn
            .query_row(
                "SELECT user_id, csrf FROM sessions WHERE secret_sha256 = ?1 AND expires_at > ?2",
                params![secret_sha256, now],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        row.map(|(user, csrf)| Ok((parse("session user", &user)?, csrf))).transpose()
    }

    fn delete_session(&self, secret_sha256: &[u8]) -> Result<()> {
        self.conn.execute("DELETE FROM sessions WHERE secret_sha256 = ?1", [secret_sha256])?;
        Ok(())
    }

    fn end_sessions(&self, user: UserId) -> Result<()> {
        self.conn.execute("DELETE FROM sessions WHERE user_id = ?1", [user.to_string()])?;
        Ok(())
    }

    fn insert_request(&self, r: &Request, password_hash: Option<&str>) -> Result<()> {
        self.conn.execute(
            "INSERT INTO user_requests (id, user_id, change, name, password_hash, requested_by, requested_at, approve_before, state)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'pending')",
            params![
                r.id,
                r.user,
                r.change.to_string(),
                r.name,
                password_hash,
                r.requested_by,
                r.requested_at,
                r.approve_before
            ],
        )?;
        Ok(())
    }

    fn requests(&self, now: &str) -> Result<Vec<Request>> {
        let mut stmt = self.conn.prepare(
            "SELECT id, user_id, name, change, requested_by, requested_at, approve_before,
                    CASE WHEN state = 'pending' AND approve_before <= ?1 THEN 'expired' ELSE state END, decided_by
             FROM user_requests ORDER BY requested_at DESC",
        )?;
        let rows = stmt.query_map([now], |r| {
            Ok(Request {
                id: r.get(0)?,
                user: r.get(1)?,
                name: r.get(2)?,
                change: serde_json::from_str(&r.get::<_, String>(3)?).unwrap_or_default(),
                requested_by: r.get(4)?,
                requested_at: r.get(5)?,
                approve_before: r.get(6)?,
                state: r.get(7)?,
                decided_by: r.get(8)?,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn request(&self, id: &str) -> Result<Option<StoredRequest>> {
        type Row = (String, String, Option<String>, Option<String>, String, String, String);
        let row: Option<Row> = self
            .conn
            .query_row(
                "SELECT user_id, change, name, password_hash, requested_by, approve_before, state
                 FROM user_requests WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?)),
            )
            .optional()?;
        let Some((user, change, name, password_hash, requested_by, approve_before, state)) = row else {
            return Ok(None);
        };
        let change = serde_json::from_str(&change).map_err(|e| crate::catalog::Error::Engine(Box::new(e)))?;
        let user = parse("request user", &user)?;
        Ok(Some(StoredRequest { user, change, name, password_hash, requested_by, approve_before, state }))
    }

    fn approve_request(&self, id: &str, by: &str, now: &str) -> Result<()> {
        self.conn.execute(
            "UPDATE user_requests SET state = 'approved', decided_by = ?2, decided_at = ?3 WHERE id = ?1 AND state = 'pending'",
            params![id, by, now],
        )?;
        Ok(())
    }
}
