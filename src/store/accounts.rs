//! A read-through cache of account rows and live sessions for authentication, so a protected
//! request does not read its caller's row or session from the database.
//!
//! Freshness: every write to the `users` table and every session revocation in this process
//! goes through [`super::users`] or [`super::tokens`], whose writers hold an [`AccountsWrite`]
//! guard; dropping it (after the write committed) moves the epoch, and an entry read under an
//! older epoch is a miss. An entry is read under the epoch taken *before* the read, so a write
//! that commits during the read leaves a stale entry that is never served. Changes made by
//! another process are applied when announced ([`super::notify`], Postgres: milliseconds),
//! and in any case within [`MAX_AGE`] (the bound on SQLite, where `warden admin
//! reset-password` is the other process).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

pub use super::cache::MAX_AGE;
use super::cache::Table;

use crate::policy::AttrValue;

/// A stored account (the password hash never leaves the auth module).
#[derive(Debug, Clone, PartialEq)]
pub struct UserRow {
    /// Primary key.
    pub id: i64,
    /// The name as registered.
    pub username: String,
    /// Lower-cased name; what the policy sees.
    pub username_key: String,
    /// Optional e-mail.
    pub email: Option<String>,
    /// Optional display name.
    pub display_name: Option<String>,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Disabled accounts can neither log in nor use their tokens.
    pub disabled: bool,
    /// Token generation; tokens carrying an older one are rejected.
    pub token_generation: i64,
    /// Attributes the policy reads.
    pub attributes: BTreeMap<String, AttrValue>,
    /// Scopes this user may request.
    pub scopes: Vec<String>,
    /// A person or a service.
    pub kind: AccountKind,
}

/// What an account is: a person (password grant, console) or a service (client_credentials
/// only). Tokens carry it (`kind` claim) and the policy reads it as `r.sub.kind`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum AccountKind {
    /// A person: signs in with a password.
    #[default]
    User,
    /// A non-human principal: authenticates with a client id and secret.
    Service,
}

impl AccountKind {
    /// `user` or `service`: the stored and the policy's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            AccountKind::User => "user",
            AccountKind::Service => "service",
        }
    }

    /// The stored spelling back; None for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "user" => Some(AccountKind::User),
            "service" => Some(AccountKind::Service),
            _ => None,
        }
    }
}

pub use crate::policy::KIND_ATTRIBUTE;

impl UserRow {
    /// The policy's subject for this user holding `scopes`: its attributes plus `kind`, which
    /// always says what the account is (an attribute of that name cannot be stored, and would
    /// be overridden here if it were).
    pub fn subject(&self, scopes: Vec<String>) -> crate::policy::Subject {
        let mut attributes = self.attributes.clone();
        attributes.insert(
            KIND_ATTRIBUTE.to_owned(),
            AttrValue::Str(self.kind.as_str().to_owned()),
        );
        crate::policy::Subject {
            principal: format!("user:{}", self.username_key),
            name: self.username_key.clone(),
            scopes,
            tenant: crate::policy::rule::DEFAULT_TENANT.into(),
            attributes,
            roles: Vec::new(),
        }
    }
}

/// The cache; one per database handle. Account rows by user id, and the sessions (refresh
/// families) found live, by family id with their user. Revoking a session is an accounts write.
#[derive(Debug, Default)]
pub struct Accounts {
    epoch: AtomicU64,
    /// The database is unreachable and `--on-store-loss serve` is on: entries are served
    /// whatever their age (still never across a write or announcement seen by this process).
    store_lost: AtomicBool,
    /// `--on-store-loss serve`: a read that fails because the database is unreachable may be
    /// answered from the cache whatever the entry's age (and marks the store lost).
    serve_on_loss: AtomicBool,
    rows: Table<i64, Arc<UserRow>>,
    /// Family id -> its user: keyed by the id alone so a probe borrows the token's `sid`.
    live_sessions: Table<String, i64>,
}

impl Accounts {
    /// The current epoch: take it before reading what you then `put`.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// A fresh row for `id`, if one is cached.
    pub fn get(&self, id: i64) -> Option<Arc<UserRow>> {
        self.rows.get(&id, self.epoch(), self.store_lost())
    }

    /// Caches `row`, read under `epoch`.
    pub fn put(&self, row: Arc<UserRow>, epoch: u64) {
        self.rows.put(row.id, row, epoch);
    }

    /// Whether the session was found live since the last accounts write (and recently).
    pub fn session_live(&self, user_id: i64, family_id: &str) -> bool {
        self.live_sessions
            .get(family_id, self.epoch(), self.store_lost())
            == Some(user_id)
    }

    /// Records a session found live under `epoch`. Dead sessions are never cached: a token
    /// of a revoked session is rejected by a read every time.
    pub fn put_live_session(&self, user_id: i64, family_id: &str, epoch: u64) {
        self.live_sessions.put(family_id.to_owned(), user_id, epoch);
    }

    /// While set, entries older than [`MAX_AGE`] are served too: the database cannot be read
    /// and `--on-store-loss serve` keeps answering the accounts seen before the loss as they
    /// were then (accounts not cached get 503).
    pub fn serve_stale(&self, store_lost: bool) {
        self.store_lost.store(store_lost, Ordering::Release);
    }

    /// Sets the `--on-store-loss` mode: `serve` (true) lets [`Accounts::stale_on_error`]
    /// answer; `deny` (false, the default for a bare handle) never does.
    pub fn serve_on_store_loss(&self, serve: bool) {
        self.serve_on_loss.store(serve, Ordering::Release);
    }

    /// After a read failed because the database is unreachable: in `serve` mode, marks the
    /// store lost and answers whether `fallback` (a cache probe, any age) may stand in.
    pub fn stale_on_error<T>(&self, fallback: impl FnOnce(&Self) -> Option<T>) -> Option<T> {
        if !self.serve_on_loss.load(Ordering::Acquire) {
            return None;
        }
        self.serve_stale(true);
        fallback(self)
    }

    fn store_lost(&self) -> bool {
        self.store_lost.load(Ordering::Acquire)
    }

    /// Forgets every entry: another instance changed accounts or sessions, or may have while
    /// its announcements could not be received.
    pub fn invalidate(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
    }

    /// Marks the start of a write to accounts or sessions; the epoch moves when the guard is
    /// dropped.
    pub fn write(self: &Arc<Self>) -> AccountsWrite {
        AccountsWrite(self.clone())
    }
}

/// Held by a writer of the `users` table or of a session's revocation; moves the epoch on
/// drop (after the commit, and on every error path too).
#[derive(Debug)]
pub struct AccountsWrite(Arc<Accounts>);

impl Drop for AccountsWrite {
    fn drop(&mut self) {
        self.0.epoch.fetch_add(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64) -> Arc<UserRow> {
        Arc::new(UserRow {
            id,
            username: "u".into(),
            username_key: "u".into(),
            email: None,
            display_name: None,
            password_hash: String::new(),
            disabled: false,
            token_generation: 0,
            attributes: Default::default(),
            scopes: Vec::new(),
            kind: AccountKind::User,
        })
    }

    #[test]
    fn a_subject_always_says_what_kind_of_account_it_is() {
        let mut user = UserRow::clone(&row(1));
        user.attributes
            .insert("kind".into(), AttrValue::Str("service".into()));
        let sub = user.subject(Vec::new());
        assert_eq!(
            sub.attributes.get("kind"),
            Some(&AttrValue::Str("user".into()))
        );
        user.kind = AccountKind::Service;
        let sub = user.subject(Vec::new());
        assert_eq!(
            sub.attributes.get("kind"),
            Some(&AttrValue::Str("service".into()))
        );
        for k in [AccountKind::User, AccountKind::Service] {
            assert_eq!(AccountKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(AccountKind::parse("robot"), None);
    }

    #[test]
    fn a_row_read_before_a_write_is_never_served_after_it() {
        let cache = Arc::new(Accounts::default());
        let epoch = cache.epoch();
        drop(cache.write()); // a write commits while the row is being read
        cache.put(row(1), epoch);
        assert!(cache.get(1).is_none());
    }

    #[test]
    fn a_row_read_after_the_last_write_is_served() {
        let cache = Arc::new(Accounts::default());
        drop(cache.write());
        cache.put(row(1), cache.epoch());
        assert_eq!(cache.get(1).map(|r| r.id), Some(1));
        assert!(cache.get(2).is_none());
        drop(cache.write());
        assert!(
            cache.get(1).is_none(),
            "any account write empties the cache"
        );
    }

    #[test]
    fn entries_outlive_their_age_only_while_the_store_is_lost_and_never_a_write() {
        let cache = Arc::new(Accounts::default());
        cache.rows.put(1, row(1), cache.epoch());
        // age the entry past MAX_AGE
        if let Some(e) = cache.rows.0.write().expect("lock").get_mut(&1) {
            e.read_at -= MAX_AGE;
        }
        assert!(cache.get(1).is_none(), "too old");
        cache.serve_stale(true);
        assert_eq!(
            cache.get(1).map(|r| r.id),
            Some(1),
            "old, but the store is lost"
        );
        drop(cache.write());
        assert!(cache.get(1).is_none(), "never across a write");
        cache.serve_stale(false);
    }

    #[test]
    fn a_live_session_stays_live_only_until_the_next_write() {
        let cache = Arc::new(Accounts::default());
        cache.put_live_session(1, "fam", cache.epoch());
        assert!(cache.session_live(1, "fam"));
        assert!(!cache.session_live(2, "fam"));
        assert!(!cache.session_live(1, "other"));
        drop(cache.write()); // a revocation
        assert!(!cache.session_live(1, "fam"));
    }
}
