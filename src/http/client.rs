//! The client's address as a request extractor: the TCP peer, or the address a trusted proxy
//! names ([`crate::auth::client::Proxies::client`]).

use std::net::{IpAddr, SocketAddr};

use axum::extract::ConnectInfo;
use axum::http::request::Parts;

use crate::state::AppState;

/// The client's address, if the server knows it (absent in `oneshot` tests without a
/// `ConnectInfo`).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub Option<IpAddr>);

impl axum::extract::FromRequestParts<AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(parts.extensions.get::<ConnectInfo<SocketAddr>>().map(
            |c| state.config.proxies.client(c.0.ip(), &parts.headers),
        )))
    }
}
