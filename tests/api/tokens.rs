//! The negative token matrix: every way a bearer token can be wrong is a 401.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use warden::auth::keys::Claims;

use crate::helpers::*;

fn b64(v: &serde_json::Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

/// The server's real signing key, read from the store, so a forged case carries a valid
/// signature and is refused only by the check it targets.
async fn real_signing_key(app: &TestApp) -> jsonwebtoken::EncodingKey {
    use ed25519_dalek::pkcs8::EncodePrivateKey;
    let rows = warden::store::keys::list(&app.state.db)
        .await
        .expect("keys");
    let seed: [u8; 32] = STANDARD
        .decode(&rows[0].private_key)
        .expect("base64")
        .try_into()
        .expect("32-byte seed");
    let der = ed25519_dalek::SigningKey::from_bytes(&seed)
        .to_pkcs8_der()
        .expect("pkcs8");
    jsonwebtoken::EncodingKey::from_ed_der(der.as_bytes())
}

fn valid_claims(app: &TestApp, sub: &str, sid: &str) -> Claims {
    let now = app.state.now();
    Claims {
        sub: sub.into(),
        iss: "warden".into(),
        aud: "warden".into(),
        exp: now + 600,
        nbf: now,
        iat: now,
        jti: "test".into(),
        scope: "documents:read".into(),
        r#gen: 0,
        sid: sid.into(),
        kind: warden::store::accounts::AccountKind::User,
        tid: "default".into(),
    }
}

#[tokio::test]
async fn every_bad_token_is_rejected_with_401_and_an_rfc6750_challenge() {
    let app = TestApp::new().await;
    let (good, _) = app.user_tokens("alice").await;
    assert_eq!(
        app.get("/v1/me", &good).await.status,
        StatusCode::OK,
        "the control token works"
    );
    let good_claims = jsonwebtoken::dangerous::insecure_decode::<serde_json::Value>(&good)
        .expect("decode")
        .claims;
    let sub = good_claims["sub"].as_str().expect("sub").to_owned();
    let sid = good_claims["sid"].as_str().expect("sid").to_owned();
    let (bobs, _) = app.user_tokens("bob").await;
    let bobs_sid = jsonwebtoken::dangerous::insecure_decode::<serde_json::Value>(&bobs)
        .expect("decode")
        .claims["sid"]
        .as_str()
        .expect("sid")
        .to_owned();
    let sign = |edit: &dyn Fn(&mut Claims)| {
        let mut c = valid_claims(&app, &sub, &sid);
        edit(&mut c);
        app.state.keys.sign(&c).expect("sign")
    };
    let parts: Vec<&str> = good.split('.').collect();
    let header: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).expect("h")).expect("h");
    let payload: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("p")).expect("p");

    let key = real_signing_key(&app).await;
    let kid = header["kid"].as_str().expect("kid").to_owned();
    let forge = |kid: &str, payload: &serde_json::Value| {
        let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
        h.kid = Some(kid.to_owned());
        jsonwebtoken::encode(&h, payload, &key).expect("sign")
    };
    let claims = serde_json::to_value(valid_claims(&app, &sub, &sid)).expect("claims");
    assert_eq!(
        app.get("/v1/me", &forge(&kid, &claims)).await.status,
        StatusCode::OK,
        "a forged token with nothing wrong is accepted, so the cases below fail on their own flaw"
    );
    let mut tampered = payload.clone();
    tampered["scope"] = "documents:read documents:write admin".into();
    let none_header = serde_json::json!({"alg": "none", "typ": "JWT"});
    let jwks = app.state.keys.jwks();
    let public = URL_SAFE_NO_PAD
        .decode(jwks["keys"][0]["x"].as_str().expect("x"))
        .expect("x");
    let mut hs_header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    hs_header.kid = header["kid"].as_str().map(str::to_owned);
    let confused = jsonwebtoken::encode(
        &hs_header,
        &payload,
        &jsonwebtoken::EncodingKey::from_secret(&public),
    )
    .expect("hs256");

    let cases: Vec<(&str, String)> = vec![
        (
            "expired",
            sign(&|c| {
                c.exp = c.iat - 31;
            }),
        ),
        (
            "not yet valid",
            sign(&|c| {
                c.nbf += 120;
            }),
        ),
        // nbf stays valid: only the iat check can refuse this one
        ("issued in the future", sign(&|c| c.iat += 120)),
        ("wrong issuer", sign(&|c| c.iss = "someone-else".into())),
        ("wrong audience", sign(&|c| c.aud = "another-api".into())),
        ("unknown user", sign(&|c| c.sub = "999999".into())),
        ("non-numeric subject", sign(&|c| c.sub = "alice".into())),
        ("old generation", sign(&|c| c.r#gen = -1)),
        (
            "unknown session",
            sign(&|c| c.sid = "no-such-session".into()),
        ),
        (
            "another user's session",
            sign(&|c| c.sid = bobs_sid.clone()),
        ),
        (
            "missing sid",
            forge(&kid, &{
                let mut p = claims.clone();
                p.as_object_mut().map(|o| o.remove("sid"));
                p
            }),
        ),
        (
            "missing kind",
            forge(&kid, &{
                let mut p = claims.clone();
                p.as_object_mut().map(|o| o.remove("kind"));
                p
            }),
        ),
        (
            "unknown kind",
            forge(&kid, &{
                let mut p = claims.clone();
                p["kind"] = "robot".into();
                p
            }),
        ),
        // a user's token claiming to be a service's (no secret row is its session)
        (
            "kind other than the account's",
            sign(&|c| c.kind = warden::store::accounts::AccountKind::Service),
        ),
        ("unknown kid", forge("not-a-key", &claims)),
        ("alg none", format!("{}.{}.", b64(&none_header), parts[1])),
        ("HS256 signed with the public key", confused),
        (
            "tampered payload",
            format!("{}.{}.{}", parts[0], b64(&tampered), parts[2]),
        ),
        ("truncated", good[..good.len() - 10].to_owned()),
        ("garbage", "not.a.jwt".to_owned()),
        (
            "missing exp",
            forge(&kid, &{
                let mut p = claims.clone();
                p.as_object_mut().map(|o| o.remove("exp"));
                p
            }),
        ),
    ];
    for (name, token) in cases {
        let r = app.get("/v1/me", &token).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{name}: {r:?}");
        assert_eq!(r.error_code(), "invalid_token", "{name}: {r:?}");
        assert_eq!(
            r.headers[header::WWW_AUTHENTICATE],
            r#"Bearer error="invalid_token""#,
            "{name}"
        );
    }

    let header_cases: Vec<(&str, Option<String>)> = vec![
        ("missing header", None),
        ("wrong scheme", Some(format!("Basic {good}"))),
        ("no scheme", Some(good.clone())),
        ("empty bearer", Some("Bearer ".into())),
    ];
    for (name, value) in header_cases {
        let mut req = Request::builder().method(Method::GET).uri("/v1/me");
        if let Some(v) = value {
            req = req.header(header::AUTHORIZATION, v);
        }
        let r = app.send(req.body(Body::empty()).expect("req")).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{name}: {r:?}");
        assert!(
            r.headers[header::WWW_AUTHENTICATE]
                .to_str()
                .expect("t")
                .starts_with("Bearer"),
            "{name}"
        );
    }
}

#[tokio::test]
async fn a_token_whose_generation_was_bumped_is_rejected() {
    let app = TestApp::new().await;
    let (access, _) = app.user_tokens("alice").await;
    let other_session = app.login("alice", PASSWORD).await.body["access_token"]
        .as_str()
        .expect("a")
        .to_owned();
    app.call(Method::POST, "/v1/auth/logout-all", Some(&access), None)
        .await;
    assert_error(
        &app.get("/v1/me", &other_session).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    );
}

#[tokio::test]
async fn access_tokens_expire_after_their_lifetime() {
    let app = TestApp::new().await;
    let (access, _) = app.user_tokens("alice").await;
    app.clock.advance(900 + 29);
    assert_eq!(
        app.get("/v1/me", &access).await.status,
        StatusCode::OK,
        "inside the leeway"
    );
    app.clock.advance(2);
    assert_error(
        &app.get("/v1/me", &access).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    );
}
