//! The member directory: each tenant's enabled members in memory, as compact entries ready to
//! be decided, so a `who-can` over 100,000 accounts reads no account rows (it read them all,
//! through sqlx's SQLite driver, decoded each one's JSON attributes and built a subject per
//! account: about 1 s, BENCHMARKS.md).
//!
//! Freshness: triggers move the `account_changes` counter (migration `0012`, both backends)
//! in the transaction of every change to what a who-can reads of accounts (a new or deleted
//! account; its name, attributes, scopes, disabled flag or kind; a tenant membership), by
//! this instance, another one sharing the database, `warden admin` or raw SQL. Every
//! [`members`] call reads the counter first and serves a directory only if it was read under
//! the same count (the count is read *before* the rows, so a write committing during the read
//! leaves a directory tagged older, which the next call reads again). So a who-can never
//! answers from data older than any write committed before it began, local or not: the
//! staleness bound is zero, for the price of one one-row read per call.
//!
//! Memory: accounts with the same attributes, scopes and kind share one [`Profile`] (and its
//! decoded attributes); a member costs its id, its name and a profile index (about 60 bytes).
//! 100,000 members in 40 profiles (the benchmark's) take about 6 MB; with every member's
//! attributes distinct, about 1 KB each. At most [`MAX_MEMBERS`] members are kept over all
//! tenants; a tenant that would pass it is read for each call and not kept.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use futures_util::TryStreamExt;

use super::accounts::{AccountKind, KIND_ATTRIBUTE};
use super::{Db, StoreError, StoreResult};
use crate::policy::{AttrValue, Subject};

/// Most members (summed over tenants) kept in memory.
pub const MAX_MEMBERS: usize = 1_000_000;

/// The directories of one database handle, by tenant.
#[derive(Debug, Default)]
pub struct Directory {
    tenants: Mutex<HashMap<String, Arc<Members>>>,
    /// One load at a time: a burst of who-cans after a write reads the rows once.
    loading: tokio::sync::Mutex<()>,
    /// Tests: how many times members were read from the database.
    loads: std::sync::atomic::AtomicU64,
}

/// What the members of one profile share: everything a subject carries but its name.
#[derive(Debug)]
struct Profile {
    /// A subject with an empty principal and name.
    subject: Subject,
}

/// One member: its name and its profile.
#[derive(Debug)]
struct Member {
    name: Box<str>,
    profile: u32,
}

/// One tenant's enabled members, read under one `account_changes` count.
#[derive(Debug)]
pub struct Members {
    changes: i64,
    /// By profile, then by id (so [`Members::visit`] switches profiles once per profile).
    members: Vec<Member>,
    profiles: Vec<Profile>,
}

impl Members {
    /// Number of members.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether the tenant has no enabled member.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Calls `f` with each member's subject, deciding in the tenant, holding every scope the
    /// account may request (what `/v1/check` assumes for a named subject): the subject
    /// `UserRow::subject` builds, without building one per member (one per profile).
    pub fn visit(&self, f: impl FnMut(&Subject)) {
        self.visit_part(0, 1, f);
    }

    /// [`Members::visit`] for part `part` of `parts` equal parts (so several threads can
    /// share the work); every member is in exactly one part.
    pub fn visit_part(&self, part: usize, parts: usize, mut f: impl FnMut(&Subject)) {
        let parts = parts.max(1);
        let len = self.members.len();
        let (start, end) = (len * part / parts, len * (part + 1) / parts);
        let mut current: Option<(u32, Subject)> = None;
        for m in self.members.get(start..end).unwrap_or_default() {
            if current.as_ref().is_none_or(|(p, _)| *p != m.profile) {
                let Some(profile) = self.profiles.get(m.profile as usize) else {
                    continue; // never: `read` gives every member a profile it made
                };
                current = Some((m.profile, profile.subject.clone()));
            }
            let Some((_, sub)) = current.as_mut() else {
                continue;
            };
            sub.principal.truncate(0);
            sub.principal.push_str("user:");
            sub.principal.push_str(&m.name);
            sub.name.truncate(0);
            sub.name.push_str(&m.name);
            f(sub);
        }
    }

    /// Number of distinct profiles (attributes, scopes and kind).
    pub fn profiles(&self) -> usize {
        self.profiles.len()
    }
}

/// The current `account_changes` count.
async fn changes(db: &Db) -> StoreResult<i64> {
    Ok(
        sqlx::query_scalar("SELECT count FROM account_changes WHERE id = 1")
            .fetch_one(db.pool())
            .await?,
    )
}

/// The enabled members of `tenant`, from memory when nothing they are made of changed since
/// they were read (see the module docs), else read again (and kept, within [`MAX_MEMBERS`]).
pub async fn members(db: &Db, tenant: &str) -> StoreResult<Arc<Members>> {
    let dir = db.directory();
    let count = changes(db).await?;
    if let Some(m) = dir.cached(tenant, count) {
        return Ok(m);
    }
    let _loading = dir.loading.lock().await;
    // Read by the load this one waited for?
    if let Some(m) = dir.cached(tenant, count) {
        return Ok(m);
    }
    let members = Arc::new(read(db, tenant, count).await?);
    dir.loads.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut tenants = dir.tenants.lock().unwrap_or_else(|p| p.into_inner());
    // Directories read under another count are out of date: they go.
    tenants.retain(|_, m| m.changes == count);
    let kept: usize = tenants.values().map(|m| m.len()).sum();
    if kept + members.len() > MAX_MEMBERS {
        tenants.clear();
    }
    if members.len() <= MAX_MEMBERS {
        tenants.insert(tenant.to_owned(), members.clone());
    }
    Ok(members)
}

impl Directory {
    fn cached(&self, tenant: &str, count: i64) -> Option<Arc<Members>> {
        let tenants = self.tenants.lock().unwrap_or_else(|p| p.into_inner());
        tenants.get(tenant).filter(|m| m.changes == count).cloned()
    }

    /// Tests: how many times members were read from the database through this handle.
    pub fn loads(&self) -> u64 {
        self.loads.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Reads the enabled members of `tenant`: only the columns a subject is made of (no password
/// hash, e-mail or display name), and each distinct attribute text decoded once.
async fn read(db: &Db, tenant: &str, changes: i64) -> StoreResult<Members> {
    type Row = (i64, String, String, String, String);
    let mut rows = sqlx::query_as::<_, Row>(
        "SELECT u.id, u.username_key, u.attributes, u.scopes, u.kind \
         FROM tenant_members m JOIN users u ON u.id = m.user_id \
         WHERE m.tenant = $1 AND u.disabled = 0",
    )
    .bind(tenant)
    .fetch(db.pool());
    let mut by_text: HashMap<(String, String, String), u32> = HashMap::new();
    let mut profiles = Vec::new();
    let mut members: Vec<(u32, i64, Box<str>)> = Vec::new();
    while let Some((id, name, attributes, scopes, kind)) = rows.try_next().await? {
        let key = (attributes, scopes, kind);
        let profile = match by_text.get(&key) {
            Some(&p) => p,
            None => {
                let p = u32::try_from(profiles.len())
                    .map_err(|_| StoreError::Corrupt("too many account profiles".into()))?;
                profiles.push(profile(&key.0, &key.1, &key.2, tenant)?);
                by_text.insert(key, p);
                p
            }
        };
        members.push((profile, id, name.into_boxed_str()));
    }
    members.sort_unstable_by_key(|&(p, id, _)| (p, id));
    Ok(Members {
        changes,
        members: members
            .into_iter()
            .map(|(profile, _, name)| Member { name, profile })
            .collect(),
        profiles,
    })
}

/// The subject every account with these stored columns gets (see `UserRow::subject`).
fn profile(attributes: &str, scopes: &str, kind: &str, tenant: &str) -> StoreResult<Profile> {
    let mut attributes: BTreeMap<String, AttrValue> = serde_json::from_str(attributes)
        .map_err(|e| StoreError::Corrupt(format!("users.attributes: {e}")))?;
    let kind = AccountKind::parse(kind)
        .ok_or_else(|| StoreError::Corrupt(format!("users.kind: {kind}")))?;
    attributes.insert(
        KIND_ATTRIBUTE.to_owned(),
        AttrValue::Str(kind.as_str().to_owned()),
    );
    Ok(Profile {
        subject: Subject {
            principal: String::new(),
            name: String::new(),
            scopes: scopes.split_whitespace().map(str::to_owned).collect(),
            tenant: tenant.to_owned(),
            attributes,
            roles: Vec::new(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn account(db: &Db, name: &str, attributes: &str, scopes: &str, kind: &str, off: i64) {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO users (username, username_key, password_hash, attributes, scopes, kind, \
             disabled, created_at, updated_at) VALUES ($1, $1, 'x', $2, $3, $4, $5, 0, 0) \
             RETURNING id",
        )
        .bind(name)
        .bind(attributes)
        .bind(scopes)
        .bind(kind)
        .bind(off)
        .fetch_one(db.pool())
        .await
        .expect("user");
        sqlx::query(
            "INSERT INTO tenant_members (tenant, user_id, created_at) VALUES ('default', $1, 0)",
        )
        .bind(id)
        .execute(db.pool())
        .await
        .expect("member");
    }

    /// The directory's subjects are those each account's row makes (`UserRow::subject`, all
    /// its scopes, deciding in the tenant), for every enabled member and no one else; accounts
    /// stored alike share one profile.
    #[tokio::test]
    async fn each_enabled_member_is_visited_as_the_subject_its_row_makes() {
        let dir = tempfile::tempdir().expect("dir");
        let db = Db::connect(&format!("sqlite://{}/w.db", dir.path().display()))
            .await
            .expect("db");
        let eng = r#"{"department":"eng","clearance":2}"#;
        account(&db, "ann", eng, "documents:read", "user", 0).await;
        account(&db, "ben", eng, "documents:read", "user", 0).await;
        account(&db, "cid", eng, "documents:read", "service", 0).await;
        account(&db, "dee", r#"{"tags":["a","b"]}"#, "", "user", 0).await;
        account(&db, "eve", eng, "documents:read", "user", 1).await;
        let mut want: Vec<Subject> = super::super::users::enabled_members(&db, "default")
            .await
            .expect("rows")
            .iter()
            .map(|u| {
                let mut s = u.subject(u.scopes.clone());
                s.tenant = "default".into();
                s
            })
            .collect();
        want.sort_by(|a, b| a.name.cmp(&b.name));
        assert_eq!(want.len(), 4, "eve is disabled");

        let found = members(&db, "default").await.expect("members");
        let mut seen = Vec::new();
        found.visit(|s| seen.push(s.clone()));
        seen.sort_by(|a, b| a.name.cmp(&b.name));
        assert_eq!(seen, want);
        for parts in [2, 3, 7] {
            let mut split = Vec::new();
            for part in 0..parts {
                found.visit_part(part, parts, |s| split.push(s.clone()));
            }
            split.sort_by(|a, b| a.name.cmp(&b.name));
            assert_eq!(split, want, "{parts} parts");
        }
        assert_eq!(
            found.profiles(),
            3,
            "ann and ben share one; cid is a service"
        );
        assert!(members(&db, "elsewhere").await.expect("none").is_empty());
    }
}
