//! Users, their scopes, API tokens, web sessions and the four-eyes requests over
//! who is an admin, as the catalog keeps them.

use super::Result;
use crate::principal::Role;
use crate::schema::{TokenId, UserId};
use serde::Serialize;

/// A user as the rules need them: who, which role, whether they may sign in.
#[derive(Debug, Clone)]
pub struct Account {
    pub id: UserId,
    pub name: String,
    pub role: Role,
    pub disabled: bool,
    /// The argon2id PHC string of their web password, if they have one.
    pub password_hash: Option<String>,
}

/// A user about to be added.
#[derive(Debug, Clone)]
pub struct NewAccount<'a> {
    pub id: UserId,
    pub name: &'a str,
    pub role: Role,
    pub password_hash: Option<&'a str>,
    pub created_at: &'a str,
}

/// A user as admins list them.
#[derive(Debug, Serialize)]
pub struct User {
    pub id: String,
    pub name: String,
    pub role: Role,
    pub disabled: bool,
    pub has_password: bool,
    /// Org ids whose subtrees an inspector or recorder is bound to.
    pub scopes: Vec<String>,
}

/// An API token as stored: never the secret, only its SHA-256.
#[derive(Debug, Clone)]
pub struct Token {
    pub owner: UserId,
    pub secret_sha256: Vec<u8>,
    pub revoked: bool,
}

/// A change of who is an admin, waiting for a second admin.
#[derive(Debug, Clone, Serialize)]
pub struct Request {
    pub id: String,
    /// The account it creates or changes.
    pub user: String,
    /// For a new account: its name.
    pub name: Option<String>,
    /// `create`, `role` or `disabled`, and the value asked for.
    pub change: serde_json::Value,
    pub requested_by: String,
    pub requested_at: String,
    pub approve_before: String,
    pub state: String,
    pub decided_by: Option<String>,
}

/// A request as its approval reads it, with the new account's password hash.
#[derive(Debug, Clone)]
pub struct StoredRequest {
    pub user: UserId,
    pub change: serde_json::Value,
    pub name: Option<String>,
    pub password_hash: Option<String>,
    pub requested_by: String,
    pub approve_before: String,
    /// As stored: `pending`, or how it was decided.
    pub state: String,
}

pub trait Accounts {
    fn user_by_name(&self, name: &str) -> Result<Option<Account>>;
    fn user_by_id(&self, id: UserId) -> Result<Option<Account>>;
    fn user_count(&self) -> Result<u64>;
    /// Every user by name, with the org ids of their scopes.
    fn users(&self) -> Result<Vec<User>>;
    fn insert_user(&self, user: &NewAccount<'_>) -> Result<()>;
    fn set_disabled(&self, id: UserId, disabled: bool) -> Result<()>;
    fn set_role(&self, id: UserId, role: Role) -> Result<()>;
    fn set_password_hash(&self, id: UserId, hash: &str) -> Result<()>;
    fn clear_scopes(&self, id: UserId) -> Result<()>;
    /// Binds `id` to the subtree of org `org` (whose existence the caller checked).
    fn add_scope(&self, id: UserId, org: &str) -> Result<()>;
    /// The paths of the orgs `id` is bound to, in tree order.
    fn scope_paths(&self, id: UserId) -> Result<Vec<String>>;

    fn insert_token(&self, id: TokenId, user: UserId, secret_sha256: &[u8], now: &str) -> Result<()>;
    fn token(&self, id: TokenId) -> Result<Option<Token>>;
    fn revoke_token(&self, id: TokenId, now: &str) -> Result<()>;

    fn insert_session(&self, secret_sha256: &[u8], user: UserId, csrf: &str, now: &str, expires: &str) -> Result<()>;
    /// The (user, CSRF token) of a session that has not expired at `now`.
    fn live_session(&self, secret_sha256: &[u8], now: &str) -> Result<Option<(UserId, String)>>;
    fn delete_session(&self, secret_sha256: &[u8]) -> Result<()>;
    /// Ends every session of `user` (disabled, or a new password).
    fn end_sessions(&self, user: UserId) -> Result<()>;

    fn insert_request(&self, r: &Request, password_hash: Option<&str>) -> Result<()>;
    /// Every request, newest first; a pending one past its deadline reads `expired`.
    fn requests(&self, now: &str) -> Result<Vec<Request>>;
    fn request(&self, id: &str) -> Result<Option<StoredRequest>>;
    /// Marks a still pending request approved by `by`.
    fn approve_request(&self, id: &str, by: &str, now: &str) -> Result<()>;
    /// Charges one sign-in attempt to each of `keys`, unless one of them holds
    /// `limit` attempts charged after `since` (older ones are forgotten first):
    /// then false, and nothing is charged. One transaction, so attempts that
    /// race cannot pass the limit together.
    fn charge_sign_in(&self, keys: &[String], limit: u32, since: &str, now: &str) -> Result<bool>;
    /// Takes back `n` attempts charged to `key` (None: all of them).
    fn refund_sign_in(&self, key: &str, n: Option<u32>) -> Result<()>;
}
