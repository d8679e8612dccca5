//! Signing keys: rotation keeps earlier tokens verifying until they expire; a key from
//! outside the database is never stored there.

use axum::http::StatusCode;

use crate::helpers::*;

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token)
        .expect("header")
        .kid
        .expect("kid")
}

fn published(app: &TestApp) -> Vec<String> {
    let mut kids: Vec<String> = app.state.keys.jwks()["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["kid"].as_str().expect("kid").to_owned())
        .collect();
    kids.sort();
    kids
}

#[tokio::test]
async fn after_rotation_old_tokens_verify_until_they_expire_and_new_ones_carry_the_new_kid() {
    let app = TestApp::new().await;
    let (before, _) = app.user_tokens("alice").await;
    let old_kid = kid_of(&before);
    let new_kid = warden::auth::keys::rotate(&app.state.db, app.state.now())
        .await
        .expect("rotate");
    assert_ne!(new_kid, old_kid);
    let restarted = app.another_instance().await;
    let mut both = vec![old_kid.clone(), new_kid.clone()];
    both.sort();
    assert_eq!(published(&restarted), both, "the JWKS lists both keys");
    assert_eq!(
        restarted.get("/v1/me", &before).await.status,
        StatusCode::OK,
        "a token signed before the rotation still verifies"
    );
    let after = restarted.login("alice", PASSWORD).await.body["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    assert_eq!(kid_of(&after), new_kid);
    // once every token the old key signed has expired, it is dropped
    app.clock.advance(900 + 31);
    let later = app.another_instance().await;
    assert_eq!(published(&later), vec![new_kid]);
    let rows = warden::store::keys::list(&later.state.db)
        .await
        .expect("rows");
    assert!(rows.iter().all(|r| r.kid != old_kid));
}

#[tokio::test]
async fn a_signing_key_from_outside_signs_and_is_never_stored() {
    use base64::Engine as _;
    let seed = [42u8; 32];
    let secret = base64::engine::general_purpose::STANDARD.encode(seed);
    let configured = secret.clone();
    let app = TestApp::with_config(move |c| c.signing_key = Some(configured.into())).await;
    let (token, _) = app.user_tokens("alice").await;
    assert_eq!(app.get("/v1/me", &token).await.status, StatusCode::OK);
    assert_eq!(kid_of(&token), app.state.keys.signing_kid());
    let rows = warden::store::keys::list(&app.state.db)
        .await
        .expect("rows");
    assert!(
        rows.iter().all(|r| r.private_key.is_empty()),
        "no private key material in the database"
    );
    // the seed appears nowhere in the database (the whole file, on SQLite)
    if app.state.db.backend() == warden::store::Backend::Sqlite {
        let file = std::fs::read(app._dir.path().join("warden.db")).expect("db file");
        assert!(!String::from_utf8_lossy(&file).contains(&secret));
    }
    // rotation from the CLI is refused: the key lives outside
    assert!(
        warden::auth::keys::rotate(&app.state.db, app.state.now())
            .await
            .is_err()
    );
}

/// Every file of the SQLite database `db` (`-wal`, `-shm`, `-journal` when present).
fn database_files(db: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    ["", "-wal", "-shm", "-journal"]
        .into_iter()
        .filter_map(|suffix| {
            let mut path = db.as_os_str().to_owned();
            path.push(suffix);
            let bytes = std::fs::read(&path).ok()?;
            Some((format!("warden.db{suffix}"), bytes))
        })
        .collect()
}

/// Length of a fragment of key material that counts as a leak: a freed cell can be partly
/// overwritten by the next one, leaving only a piece of the old value behind.
const FRAGMENT: usize = 12;

/// Whether `haystack` holds any `FRAGMENT`-byte piece of `needle`.
fn holds(haystack: &[u8], needle: &[u8]) -> bool {
    let pieces: std::collections::HashSet<&[u8]> = needle.windows(FRAGMENT).collect();
    haystack.windows(FRAGMENT).any(|w| pieces.contains(w))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_out_private_key_is_gone_from_every_byte_of_the_sqlite_files() {
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    // SQLite whatever the suite runs on: the bytes of its files are the point
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("warden.db");
    let url = format!("sqlite://{}", db.display());
    // a running instance, whose signing key `warden keys rotate` retires beside it
    let app = TestApp::on_database(dir, url.clone(), |_| {}).await;
    let (token, _) = app.user_tokens("alice").await;
    let old = warden::store::keys::list(&app.state.db)
        .await
        .expect("keys")
        .into_iter()
        .find(|k| k.retired_at.is_none())
        .expect("the signer");
    assert_eq!(old.kid, kid_of(&token));
    let seed = STANDARD.decode(&old.private_key).expect("a base64 seed");
    assert_eq!(seed.len(), 32);
    // the seed in every encoding it could be written in (stored: base64)
    let encodings: Vec<(&str, Vec<u8>)> = vec![
        ("base64", old.private_key.clone().into_bytes()),
        ("raw", seed.clone()),
        ("hex", hex::encode(&seed).into_bytes()),
        ("HEX", hex::encode_upper(&seed).into_bytes()),
        ("base64url", URL_SAFE_NO_PAD.encode(&seed).into_bytes()),
    ];
    assert!(
        database_files(&db)
            .iter()
            .any(|(_, bytes)| holds(bytes, old.private_key.as_bytes())),
        "the search sees the stored key before the rotation"
    );

    // freed content is zeroed, not left in the pages' free space (a rotation's own UPDATE
    // happens to overwrite the old cell, but a row moved by a page split would not be)
    assert_eq!(
        warden::store::count_for_tests(&app.state.db, "PRAGMA secure_delete")
            .await
            .expect("pragma"),
        1
    );

    assert_eq!(warden::cli::keys_rotate(&url).await, 0);

    for (file, bytes) in database_files(&db) {
        for (encoding, needle) in &encodings {
            assert!(
                !holds(&bytes, needle),
                "{file} still holds a piece of the retired private key ({encoding})"
            );
        }
    }
    // the running instance still verifies what the old key signed
    assert_eq!(app.get("/v1/me", &token).await.status, StatusCode::OK);
}
