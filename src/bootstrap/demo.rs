//! Demo users and documents for the README walk-through (`warden serve --demo`).
//! Created only when asked for, and only once.

use std::collections::BTreeMap;

use super::StartError;
use crate::auth::accounts::NewAccount;
use crate::auth::domain::Password;
use crate::policy::AttrValue;
use crate::policy::change::Op;
use crate::policy::username::Username;
use crate::state::AppState;
use crate::store::{self, documents::DocumentFields, policy::ChangeMeta};

/// Password of every demo user.
pub const DEMO_PASSWORD: &str = "demo-password";

/// (name, role, department, clearance)
pub const DEMO_USERS: [(&str, &str, &str, i32); 5] = [
    ("alice", "viewer", "eng", 2),
    ("bob", "editor", "eng", 3),
    ("carol", "viewer", "sales", 1),
    ("dave", "auditor", "audit", 2),
    ("erin", "user", "eng", 0),
];

/// (title, department, owner, classification)
pub const DEMO_DOCUMENTS: [(&str, &str, &str, i32); 5] = [
    ("Eng roadmap", "eng", "bob", 1),
    ("Sales forecast", "sales", "carol", 1),
    ("Eng incident report", "eng", "bob", 3),
    ("Erin's notes", "eng", "erin", 0),
    ("Eng salaries", "eng", "bob", 2),
];

fn fail(e: impl std::fmt::Display) -> StartError {
    StartError(format!("demo data: {e}"))
}

/// Creates the demo users (with roles and attributes) and documents, unless `alice` exists.
pub async fn seed(state: &AppState) -> Result<(), StartError> {
    if store::users::find_by_username(&state.db, "alice")
        .await
        .map_err(fail)?
        .is_some()
    {
        return Ok(());
    }
    for (name, role, department, clearance) in DEMO_USERS {
        let attributes = BTreeMap::from([
            ("department".to_owned(), AttrValue::Str(department.into())),
            ("clearance".to_owned(), AttrValue::Int(clearance)),
        ]);
        let username = Username::parse(name).map_err(fail)?;
        let password = Password::parse(DEMO_PASSWORD).map_err(fail)?;
        state
            .create_account(NewAccount {
                username: &username,
                password: Some(password),
                email: None,
                display_name: None,
                attributes: &attributes,
                role: &format!("role:{role}"),
                created_by: None,
            })
            .await
            .map_err(fail)?;
    }
    let now = state.now();
    for (title, department, owner, classification) in DEMO_DOCUMENTS {
        let body = format!("{title} (demo document)");
        let fields = DocumentFields {
            title,
            body: &body,
            department,
            owner,
            classification,
        };
        store::documents::insert(&state.db, &fields, crate::policy::rule::DEFAULT_TENANT, now)
            .await
            .map_err(fail)?;
    }
    second_tenant(state).await
}

/// The demo's second tenant.
pub const DEMO_TENANT: &str = "initech";

/// (user, role held in [`DEMO_TENANT`]): demo users who are members there too.
pub const DEMO_TENANT_MEMBERS: [(&str, &str); 2] =
    [("carol", "role:tenant-admin"), ("bob", "role:editor")];

/// A second tenant beside `default`, so the demo shows tenants without setting one up: carol
/// administers it, bob is an editor there; it has no documents. Made like an admin would make
/// it (the directory entry, then the roles through the change protocol), each a version.
async fn second_tenant(state: &AppState) -> Result<(), StartError> {
    let version = store::tenants::create(&state.db, DEMO_TENANT, "Initech", "demo", state.now())
        .await
        .map_err(fail)?;
    state
        .engine
        .catch_up(version, state.config.min_version_wait)
        .await;
    let mut ops = Vec::new();
    for (name, role) in DEMO_TENANT_MEMBERS {
        let user = store::users::find_by_username(&state.db, name)
            .await
            .map_err(fail)?
            .ok_or_else(|| fail(format!("demo user {name} is missing")))?;
        store::tenants::add_member(&state.db, DEMO_TENANT, user.id, state.now())
            .await
            .map_err(fail)?;
        ops.push(Op::assign_in(&format!("user:{name}"), role, DEMO_TENANT).map_err(fail)?);
    }
    let summary = format!("demo members of {DEMO_TENANT}");
    let meta = ChangeMeta {
        actor: "demo",
        action: "tenants.members.put",
        summary: &summary,
    };
    state
        .engine
        .change(ops, None, &meta, state.now())
        .await
        .map_err(fail)?;
    Ok(())
}
