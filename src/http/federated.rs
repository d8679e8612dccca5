//! Just-in-time provisioning of federated subjects (`provision: link`): the first token of
//! an issuer's subject creates a local account (no password; role `user`, as a registration
//! gets) and links it, so admins can grant it roles and attributes like any account.

use crate::auth::accounts::{AccountError, NewAccount};
use crate::auth::federation::Identity;
use crate::http::error::ApiError;
use crate::policy::username::Username;
use crate::state::AppState;
use crate::store::{self, StoreError, users::UserRow};

/// The initial role of a linked account.
pub const LINKED_ROLE: &str = "role:user";

fn refused(why: String) -> ApiError {
    ApiError::invalid_token(why)
}

/// The local account linked to `identity`, created and linked on first use. 401 when the
/// account was deleted (its name stays taken, so it is never silently re-created) or its
/// name belongs to another account.
pub async fn linked_account(state: &AppState, identity: &Identity) -> Result<UserRow, ApiError> {
    let (db, issuer, subject) = (&state.db, &identity.issuer_url, &identity.subject);
    let user = match existing_link(db, issuer, subject).await? {
        Link::Account(user) => Some(user),
        Link::Gone => None,
        Link::None => {
            let id = create_and_link(state, identity).await?;
            store::users::find_by_id_cached(db, id).await?
        }
    };
    let user = user.ok_or_else(|| refused("the linked account no longer exists".into()))?;
    Ok(UserRow::clone(&user))
}

/// What an issuer's subject is linked to.
#[derive(Debug)]
pub enum Link {
    /// Not linked (yet).
    None,
    /// Linked to an account that was deleted: the subject is refused, never re-linked.
    Gone,
    /// Linked to this account.
    Account(std::sync::Arc<UserRow>),
}

/// The account `(issuer, subject)` is linked to, looked up without creating anything: the
/// one lookup behind a linked token ([`linked_account`]) and a check naming a linked subject.
pub async fn existing_link(
    db: &store::Db,
    issuer: &str,
    subject: &str,
) -> Result<Link, StoreError> {
    Ok(
        match store::federation::linked_user(db, issuer, subject).await? {
            None => Link::None,
            Some(id) => store::users::find_by_id_cached(db, id)
                .await?
                .map_or(Link::Gone, Link::Account),
        },
    )
}

async fn create_and_link(state: &AppState, identity: &Identity) -> Result<i64, ApiError> {
    let name = identity.local_username();
    let username = Username::parse(&name)
        .map_err(|e| refused(format!("no local account can be named `{name}`: {e}")))?;
    let attributes = Default::default();
    let created = state
        .create_account(NewAccount {
            username: &username,
            password: None,
            email: None,
            display_name: None,
            attributes: &attributes,
            role: LINKED_ROLE,
            created_by: None,
        })
        .await;
    let user_id = match created {
        Ok(c) => c.user.id,
        // Another request of the same subject created it first, or the name is taken (a
        // deleted linked account, or a local account of that name): whoever holds the link
        // wins; without one the token is refused.
        Err(AccountError::Store(StoreError::Conflict(_))) => {
            return store::federation::linked_user(
                &state.db,
                &identity.issuer_url,
                &identity.subject,
            )
            .await?
            .ok_or_else(|| {
                refused(format!(
                    "the local account name `{name}` is taken, so this subject cannot be \
                         linked; an admin must resolve it"
                ))
            });
        }
        Err(AccountError::Store(e)) => return Err(e.into()),
        Err(e) => return Err(ApiError::internal(e)),
    };
    match store::federation::link(
        &state.db,
        &identity.issuer_url,
        &identity.subject,
        user_id,
        state.now(),
    )
    .await
    {
        Ok(()) => {
            tracing::info!(issuer = %identity.issuer, account = %name, "federated subject linked to a new local account");
            Ok(user_id)
        }
        Err(StoreError::Conflict(_)) => {
            store::federation::linked_user(&state.db, &identity.issuer_url, &identity.subject)
                .await?
                .ok_or_else(|| refused("the subject could not be linked; retry".into()))
        }
        Err(e) => Err(e.into()),
    }
}
