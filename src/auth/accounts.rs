//! Accounts: creating a user (registration, the bootstrap admin and the demo users all come
//! here), with the answer in this module's own error type.

use std::collections::BTreeMap;

use super::domain::{Email, Password, Username};
use super::password::HashError;
use crate::policy::AttrValue;
use crate::state::AppState;
use crate::store::{self, StoreError, users::UserRow};

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
}

/// Hashes the password and stores a user with one role, then adds the assignment to the
/// engine so it is in force for the user's first request (without re-reading the policy).
pub async fn create_user(
    state: &AppState,
    username: &Username,
    password: Password,
    email: Option<&Email>,
    display_name: Option<&str>,
    attributes: &BTreeMap<String, AttrValue>,
    role: &str,
) -> Result<UserRow, AccountError> {
    let hash = state
        .hasher
        .hash(password.expose().to_owned())
        .await
        .map_err(AccountError::Hash)?;
    let scopes: Vec<String> = DEFAULT_USER_SCOPES
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    let created = store::users::insert(
        &state.db,
        store::users::NewUser {
            username: username.as_str(),
            email: email.map(Email::as_str),
            display_name,
            password_hash: &hash,
            attributes,
            scopes: &scopes,
            role,
        },
        state.now(),
    )
    .await?;
    let assignment = crate::policy::rule::Assignment {
        id: created.assignment_id,
        member: created.member,
        role: role.to_owned(),
    };
    if let Err(e) = state
        .engine
        .add_assignment(created.policy_version, assignment)
        .await
    {
        tracing::error!(error = %e, "policy update after registration failed");
    }
    Ok(created.user)
}
