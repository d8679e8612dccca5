//! Serves the example app. Environment: `WARDEN_URL` (default `http://127.0.0.1:8080`),
//! `WARDEN_MODE` (`remote`, the default, or `replica`), for replica mode the account that
//! follows the policy stream (`WARDEN_STREAM_USER`, `WARDEN_STREAM_PASSWORD`: a user allowed
//! `GET /v1/policy/stream`), and `LISTEN` (default `127.0.0.1:3000`).

use warden_client::Client;
use warden_client::guard::Guard;
use warden_client::replica::{Credentials, Replica};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let var = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_owned());
    let client = Client::new(&var("WARDEN_URL", "http://127.0.0.1:8080"));
    let guard = match var("WARDEN_MODE", "remote").as_str() {
        "replica" => {
            let credentials = Credentials::Password {
                username: var("WARDEN_STREAM_USER", "admin"),
                password: std::env::var("WARDEN_STREAM_PASSWORD").unwrap_or_default(),
            };
            Guard::replica(client.clone(), Replica::follow(&client, credentials))
        }
        _ => Guard::remote(client),
    };
    let docs = warden_example_axum::Documents::default();
    docs.insert("Eng roadmap", "eng", "bob", 1);
    let listener = tokio::net::TcpListener::bind(var("LISTEN", "127.0.0.1:3000")).await?;
    println!("example app listening on http://{}", listener.local_addr()?);
    axum::serve(listener, warden_example_axum::app(guard, docs)).await
}
