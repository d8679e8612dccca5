//! Accounts: creating a user (registration, the bootstrap admin and the demo users all come
//! here), with the answer in this module's own error type.

use std::collections::BTreeMap;

use super::domain::{Email, Password};
use super::password::HashError;
use super::password::Hasher;
use crate::policy::AttrValue;
use crate::policy::rule::{Assignment, RuleError, legacy_domain};
use crate::policy::username::Username;
use crate::store::{self, Db, StoreError, users::UserRow};

/// Scopes a self-registered user may request.
pub const DEFAULT_USER_SCOPES: [&str; 2] = ["documents:read", "documents:write"];

/// Why an account was not created.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// The password could not be hashed.
    #[error(transparent)]
    Hash(HashError),
    /// The store refused or failed (a taken username is a `Conflict`).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The stored assignment is not one (a bug: the store writes what it was given).
    #[error("the new account's role assignment is invalid: {0}")]
    Assignment(RuleError),
}

/// An account to create.
#[derive(Debug)]
pub struct NewAccount<'a> {
    /// Its name (unique case-insensitively).
    pub username: &'a Username,
    /// Its password, hashed before it is stored; None for an account that gets its password
    /// through a set-password token (it is stored with a hash nobody can match meanwhile).
    pub password: Option<Password>,
    /// Optional e-mail address.
    pub email: Option<&'a Email>,
    /// Optional display name.
    pub display_name: Option<&'a str>,
    /// Its attributes (`department`, `clearance`, ...).
    pub attributes: &'a BTreeMap<String, AttrValue>,
    /// The one role it starts with (`role:user`).
    pub role: &'a str,
    /// The admin creating it (None: it registered itself, or is the bootstrap or demo).
    pub created_by: Option<&'a str>,
}

/// A created account and the policy version its role assignment made.
#[derive(Debug)]
pub struct Created {
    /// The stored user.
    pub user: UserRow,
    /// The policy version the assignment created.
    pub policy_version: i64,
    /// The assignment, for the live policy.
    pub assignment: Assignment,
}

/// Hashes the password (off the runtime) and stores the user with its one role, in one
/// transaction that also writes the policy version: the caller brings the live policy to
/// that version (`Engine::add_assignment`) before the user's first request.
pub async fn create_user(
    db: &Db,
    hasher: &Hasher,
    now: i64,
    new: NewAccount<'_>,
) -> Result<Created, AccountError> {
    let hash = match &new.password {
        Some(p) => hasher.hash(p.expose().to_owned()).await,
        None => hasher.unusable_hash().await,
    }
    .map_err(AccountError::Hash)?;
    let scopes: Vec<String> = DEFAULT_USER_SCOPES
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    let created = store::users::insert(
        db,
        store::users::NewUser {
            username: new.username.as_str(),
            email: new.email.map(Email::as_str),
            display_name: new.display_name,
            password_hash: &hash,
            attributes: new.attributes,
            scopes: &scopes,
            role: new.role,
            created_by: new.created_by,
        },
        now,
    )
    .await?;
    let assignment = Assignment::parse(created.assignment_id, &created.member, new.role)
        .and_then(|a| a.in_domain(legacy_domain(&created.member, new.role)))
        .map_err(AccountError::Assignment)?;
    Ok(Created {
        user: created.user,
        policy_version: created.policy_version,
        assignment,
    })
}
