//! who-can answers from the member directory (`store::directory`): never from data older than
//! a write committed before the request, whoever made it (this instance, another one sharing
//! the database, raw SQL), and without reading the accounts again when nothing changed.

use axum::http::{Method, StatusCode};
use serde_json::json;
use warden::store::documents::{self, DocumentFields};

use crate::helpers::*;

/// The usernames a who-can answers, sorted.
async fn who_can(app: &TestApp, admin: &str, query: &str) -> Vec<String> {
    let r = app
        .get(&format!("/v1/admin/analysis/who-can?{query}"), admin)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    r.body["subjects"]
        .as_array()
        .expect("subjects")
        .iter()
        .map(|s| s["username"].as_str().expect("name").to_owned())
        .collect()
}

async fn patch(app: &TestApp, admin: &str, name: &str, body: serde_json::Value) {
    let r = app
        .call(
            Method::PATCH,
            &format!("/v1/admin/users/{name}"),
            Some(admin),
            Some(body),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
}

/// A document of the default tenant, by the store (no account is touched).
async fn document(app: &TestApp, department: &str, owner: &str, classification: i32) -> i64 {
    let fields = DocumentFields {
        title: "t",
        body: "b",
        department,
        owner,
        classification,
    };
    documents::insert(&app.state.db, &fields, "default", 0)
        .await
        .expect("document")
        .id
}

fn read(doc: i64) -> String {
    format!("object_type=document&object_id={doc}&action=read")
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn who_can_reads_the_members_once_and_again_only_after_an_account_changes() {
    let app = TestApp::with_config(|c| c.demo = true).await;
    let admin = app.admin_token().await;
    let doc = document(&app, "eng", "erin", 0).await;
    let first = who_can(&app, &admin, &read(doc)).await;
    let loads = app.state.db.directory().loads();
    assert_eq!(who_can(&app, &admin, &read(doc)).await, first);
    assert_eq!(
        app.state.db.directory().loads(),
        loads,
        "nothing changed: answered from memory"
    );
    // Neither a login (a session) nor a document moves what who-can reads of accounts.
    app.demo_token("alice").await;
    document(&app, "eng", "bob", 1).await;
    who_can(&app, &admin, &read(doc)).await;
    assert_eq!(app.state.db.directory().loads(), loads);
    patch(
        &app,
        &admin,
        "carol",
        json!({"attributes": {"clearance": 2}}),
    )
    .await;
    who_can(&app, &admin, &read(doc)).await;
    assert_eq!(
        app.state.db.directory().loads(),
        loads + 1,
        "an account changed: read again"
    );
}

#[tokio::test]
async fn who_can_sees_each_local_account_write_in_the_very_next_answer() {
    let app = TestApp::with_config(|c| c.demo = true).await;
    let admin = app.admin_token().await;
    // eng, classification 0, owned by zoe (who does not exist yet): eng viewers and editors,
    // the auditor, the admin.
    let doc = document(&app, "eng", "zoe", 0).await;
    let mut expected = names(&["admin", "alice", "bob", "dave"]);
    assert_eq!(who_can(&app, &admin, &read(doc)).await, expected);

    // an attribute change: alice moves to sales
    patch(
        &app,
        &admin,
        "alice",
        json!({"attributes": {"department": "sales"}}),
    )
    .await;
    expected.retain(|n| n != "alice");
    assert_eq!(who_can(&app, &admin, &read(doc)).await, expected);

    // disabled: bob
    patch(&app, &admin, "bob", json!({"disabled": true})).await;
    expected.retain(|n| n != "bob");
    assert_eq!(who_can(&app, &admin, &read(doc)).await, expected);

    // a new account: zoe, who owns the document
    let r = app
        .call(
            Method::POST,
            "/v1/admin/users",
            Some(&admin),
            Some(json!({"username": "zoe", "password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    expected.push("zoe".into());
    assert_eq!(who_can(&app, &admin, &read(doc)).await, expected);

    // no longer a member of the tenant: dave (his roles untouched)
    let dave = warden::store::users::find_by_username(&app.state.db, "dave")
        .await
        .expect("db")
        .expect("dave");
    assert!(
        warden::store::tenants::remove_member(&app.state.db, "default", dave.id)
            .await
            .expect("remove")
    );
    expected.retain(|n| n != "dave");
    assert_eq!(who_can(&app, &admin, &read(doc)).await, expected);

    // deleted: zoe
    let r = app
        .call(Method::DELETE, "/v1/admin/users/zoe", Some(&admin), None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{r:?}");
    expected.retain(|n| n != "zoe");
    assert_eq!(who_can(&app, &admin, &read(doc)).await, expected);

    // without an object (a plan per account) too: re-enabled, bob is back
    let plans = "object_type=document&action=read";
    assert!(!who_can(&app, &admin, plans).await.contains(&"bob".into()));
    patch(&app, &admin, "bob", json!({"disabled": false})).await;
    assert!(who_can(&app, &admin, plans).await.contains(&"bob".into()));
}

/// Another instance sharing the database (SQLite file or Postgres) sees a write in its very
/// next who-can: the bound is zero, not a heartbeat. Raw SQL (`warden admin`, an operator)
/// counts too.
#[tokio::test]
async fn who_can_sees_a_write_by_another_instance_in_the_very_next_answer() {
    let a = TestApp::with_config(|c| c.demo = true).await;
    let b = a.another_instance().await;
    let admin = a.admin_token().await;
    let doc = document(&a, "eng", "nobody", 1).await;
    let before = who_can(&b, &admin, &read(doc)).await;
    assert!(before.contains(&"alice".into()), "{before:?}");
    let loads = b.state.db.directory().loads();

    patch(&a, &admin, "alice", json!({"attributes": {"clearance": 0}})).await;
    let after = who_can(&b, &admin, &read(doc)).await;
    assert!(!after.contains(&"alice".into()), "{after:?}");
    assert_eq!(b.state.db.directory().loads(), loads + 1);

    warden::store::execute_for_tests(
        &a.state.db,
        "UPDATE users SET attributes = '{\"department\": \"eng\", \"clearance\": 1}' \
         WHERE username_key = 'alice'",
    )
    .await
    .expect("raw SQL");
    assert_eq!(who_can(&b, &admin, &read(doc)).await, before);
    // a row spelled otherwise than Warden writes it (keys in another order, spaces) is still
    // an account an admin can edit: compared by meaning, not taken for a concurrent change
    patch(&a, &admin, "alice", json!({"attributes": {"clearance": 0}})).await;
    assert!(
        !who_can(&b, &admin, &read(doc))
            .await
            .contains(&"alice".into())
    );
}
