//! The machine's ceiling for `scripts/load.sh`: a bare axum hello-world on the same runtime and
//! the same loopback, so Warden's req/s can be read as a share of what axum itself serves.
//! Built with `cargo build --release --example hello`; listens on the address given as the first
//! argument (default 127.0.0.1:0) and prints `listening on <addr>`.

use axum::Router;
use axum::routing::get;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".to_owned());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on {}", listener.local_addr()?);
    let app = Router::new().route("/", get(|| async { "hello" }));
    axum::serve(listener, app).await
}
