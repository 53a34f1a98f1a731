//! Users, scopes, tokens, sessions and admin requests on PostgreSQL.

use super::{parse, unsigned, Postgres};
use crate::catalog::{Account, Accounts, NewAccount, Request, Result, StoredRequest, Token, User};
use crate::principal::Role;
use crate::schema::{TokenId, UserId};
use postgres::GenericClient;

/// The advisory lock every sign-in charge holds for its transaction: SQLite's
/// IMMEDIATE write lock, in PostgreSQL's terms.
const SIGN_IN_LOCK: i64 = 7236982012;

fn role(s: &str) -> Result<Role> {
    Role::parse(s).ok_or_else(|| crate::catalog::Error::malformed(format!("an unknown role {s:?}")))
}

type AccountRow = (String, String, String, bool, Option<String>);

fn account((id, name, r, disabled, password_hash): AccountRow) -> Result<Account> {
    Ok(Account { id: parse("user id", &id)?, name, role: role(&r)?, disabled, password_hash })
}

impl<C: GenericClient> Postgres<'_, C> {
    fn account_where(&self, column: &str, value: &str) -> Result<Option<Account>> {
        let sql = format!("SELECT id, name, role, disabled, password_hash FROM users WHERE {column} = $1");
        let row = self.c.borrow_mut().query_opt(&sql, &[&value])?;
        row.map(|r| account((r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))).transpose()
    }
}

impl<C: GenericClient> Accounts for Postgres<'_, C> {
    fn charge_sign_in(&self, keys: &[String], limit: u32, since: &str, now: &str) -> Result<bool> {
        let mut c = self.c.borrow_mut();
        let mut tx = c.transaction()?;
        // Under READ COMMITTED, attempts racing on other connections would all
        // read the same count and pass the limit together. One lock for every
        // charge serialises them as SQLite's single writer does: the counts are
        // read after it is taken, and it is held until commit or rollback. It
        // also covers keys with no row yet, which a row lock cannot.
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SIGN_IN_LOCK])?;
        tx.execute("DELETE FROM sign_in_attempts WHERE since <= $1", &[&since])?;
        for key in keys {
            let count = tx.query_opt("SELECT count FROM sign_in_attempts WHERE key = $1", &[key])?;
            if count.is_some_and(|r| r.get::<_, i64>(0) >= i64::from(limit)) {
                return Ok(false);
            }
        }
        for key in keys {
            tx.execute(
                "INSERT INTO sign_in_attempts (key, count, since) VALUES ($1, 1, $2)
                 ON CONFLICT (key) DO UPDATE SET count = sign_in_attempts.count + 1",
                &[key, &now],
            )?;
        }
        tx.commit()?;
        Ok(true)
    }

    fn refund_sign_in(&self, key: &str, n: Option<u32>) -> Result<()> {
        let mut c = self.c.borrow_mut();
        match n {
            None => c.execute("DELETE FROM sign_in_attempts WHERE key = $1", &[&key])?,
            Some(n) => c.execute(
                "UPDATE sign_in_attempts SET count = GREATEST(count - $2, 0) WHERE key = $1",
                &[&key, &i64::from(n)],
            )?,
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
        Ok(unsigned(self.c.borrow_mut().query_one("SELECT COUNT(*) FROM users", &[])?.get::<_, i64>(0)))
    }

    fn users(&self) -> Result<Vec<User>> {
        // An array, where SQLite builds a JSON one: ordered by org as SQLite
        // reads them off the (user_id, org) key.
        let rows = self.c.borrow_mut().query(
            "SELECT u.id, u.name, u.role, u.disabled, u.password_hash IS NOT NULL,
                    ARRAY(SELECT org FROM user_scopes WHERE user_id = u.id ORDER BY org)
             FROM users u ORDER BY u.name",
            &[],
        )?;
        rows.iter()
            .map(|r| {
                let (id, name, disabled, has_password, scopes) = (r.get(0), r.get(1), r.get(3), r.get(4), r.get(5));
                Ok(User { id, name, role: role(r.get(2))?, disabled, has_password, scopes })
            })
            .collect()
    }

    fn insert_user(&self, u: &NewAccount<'_>) -> Result<()> {
        self.c.borrow_mut().execute(
            "INSERT INTO users (id, name, role, created_at, password_hash) VALUES ($1, $2, $3, $4, $5)",
            &[&u.id.to_string(), &u.name, &u.role.as_str(), &u.created_at, &u.password_hash],
        )?;
        Ok(())
    }

    fn set_disabled(&self, id: UserId, disabled: bool) -> Result<()> {
        self.c.borrow_mut().execute("UPDATE users SET disabled = $2 WHERE id = $1", &[&id.to_string(), &disabled])?;
        Ok(())
    }

    fn set_role(&self, id: UserId, role: Role) -> Result<()> {
        self.c.borrow_mut().execute("UPDATE users SET role = $2 WHERE id = $1", &[&id.to_string(), &role.as_str()])?;
        Ok(())
    }

    fn set_password_hash(&self, id: UserId, hash: &str) -> Result<()> {
        self.c.borrow_mut().execute("UPDATE users SET password_hash = $2 WHERE id = $1", &[&id.to_string(), &hash])?;
        Ok(())
    }

    fn clear_scopes(&self, id: UserId) -> Result<()> {
        self.c.borrow_mut().execute("DELETE FROM user_scopes WHERE user_id = $1", &[&id.to_string()])?;
        Ok(())
    }

    fn add_scope(&self, id: UserId, org: &str) -> Result<()> {
        self.c
            .borrow_mut()
            .execute("INSERT INTO user_scopes (user_id, org) VALUES ($1, $2)", &[&id.to_string(), &org])?;
        Ok(())
    }

    fn scope_paths(&self, id: UserId) -> Result<Vec<String>> {
        let rows = self.c.borrow_mut().query(
            "SELECT o.path FROM user_scopes s JOIN orgs o ON o.id = s.org WHERE s.user_id = $1 ORDER BY o.path",
            &[&id.to_string()],
        )?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    fn insert_token(&self, id: TokenId, user: UserId, secret_sha256: &[u8], now: &str) -> Result<()> {
        self.c.borrow_mut().execute(
            "INSERT INTO tokens (id, user_id, secret_sha256, created_at) VALUES ($1, $2, $3, $4)",
            &[&id.to_string(), &user.to_string(), &secret_sha256, &now],
        )?;
        Ok(())
    }

    fn token(&self, id: TokenId) -> Result<Option<Token>> {
        let row = self.c.borrow_mut().query_opt(
            "SELECT user_id, secret_sha256, revoked_at IS NOT NULL FROM tokens WHERE id = $1",
            &[&id.to_string()],
        )?;
        row.map(|r| Ok(Token { owner: parse("token owner", r.get(0))?, secret_sha256: r.get(1), revoked: r.get(2) }))
            .transpose()
    }

    fn revoke_token(&self, id: TokenId, now: &str) -> Result<()> {
        self.c.borrow_mut().execute("UPDATE tokens SET revoked_at = $2 WHERE id = $1", &[&id.to_string(), &now])?;
        Ok(())
    }

    fn insert_session(&self, secret_sha256: &[u8], user: UserId, csrf: &str, now: &str, expires: &str) -> Result<()> {
        self.c.borrow_mut().execute(
            "INSERT INTO sessions (secret_sha256, user_id, csrf, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
            &[&secret_sha256, &user.to_string(), &csrf, &now, &expires],
        )?;
        Ok(())
    }

    fn live_session(&self, secret_sha256: &[u8], now: &str) -> Result<Option<(UserId, String)>> {
        let row = self.c.borrow_mut().query_opt(
            "SELECT user_id, csrf FROM sessions WHERE secret_sha256 = $1 AND expires_at > $2",
            &[&secret_sha256, &now],
        )?;
        row.map(|r| Ok((parse("session user", r.get(0))?, r.get(1)))).transpose()
    }

    fn delete_session(&self, secret_sha256: &[u8]) -> Result<()> {
        self.c.borrow_mut().execute("DELETE FROM sessions WHERE secret_sha256 = $1", &[&secret_sha256])?;
        Ok(())
    }

    fn end_sessions(&self, user: UserId) -> Result<()> {
        self.c.borrow_mut().execute("DELETE FROM sessions WHERE user_id = $1", &[&user.to_string()])?;
        Ok(())
    }

    fn insert_request(&self, r: &Request, password_hash: Option<&str>) -> Result<()> {
        self.c.borrow_mut().execute(
            "INSERT INTO user_requests (id, user_id, change, name, password_hash, requested_by, requested_at, approve_before, state)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending')",
            &[
                &r.id,
                &r.user,
                &r.change.to_string(),
                &r.name,
                &password_hash,
                &r.requested_by,
                &r.requested_at,
                &r.approve_before,
            ],
        )?;
        Ok(())
    }

    fn requests(&self, now: &str) -> Result<Vec<Request>> {
        let rows = self.c.borrow_mut().query(
            "SELECT id, user_id, name, change, requested_by, requested_at, approve_before,
                    CASE WHEN state = 'pending' AND approve_before <= $1 THEN 'expired' ELSE state END, decided_by
             FROM user_requests ORDER BY requested_at DESC",
            &[&now],
        )?;
        Ok(rows
            .iter()
            .map(|r| Request {
                id: r.get(0),
                user: r.get(1),
                name: r.get(2),
                change: serde_json::from_str(r.get(3)).unwrap_or_default(),
                requested_by: r.get(4),
                requested_at: r.get(5),
                approve_before: r.get(6),
                state: r.get(7),
                decided_by: r.get(8),
            })
            .collect())
    }

    fn request(&self, id: &str) -> Result<Option<StoredRequest>> {
        let row = self.c.borrow_mut().query_opt(
            "SELECT user_id, change, name, password_hash, requested_by, approve_before, state
             FROM user_requests WHERE id = $1",
            &[&id],
        )?;
        let Some(r) = row else {
            return Ok(None);
        };
        let change = serde_json::from_str(r.get(1)).map_err(|e| crate::catalog::Error::Engine(Box::new(e)))?;
        let user = parse("request user", r.get(0))?;
        let (name, password_hash, requested_by, approve_before, state) =
            (r.get(2), r.get(3), r.get(4), r.get(5), r.get(6));
        Ok(Some(StoredRequest { user, change, name, password_hash, requested_by, approve_before, state }))
    }

    fn approve_request(&self, id: &str, by: &str, now: &str) -> Result<()> {
        self.c.borrow_mut().execute(
            "UPDATE user_requests SET state = 'approved', decided_by = $2, decided_at = $3 WHERE id = $1 AND state = 'pending'",
            &[&id, &by, &now],
        )?;
        Ok(())
    }
}
