//! Routing: health endpoints, then every other path is an image key.
//!
//! `/healthz` (liveness: the process answers) and `/readyz` (readiness: it should get traffic;
//! 503 while shutting down) are reserved; any other `GET`/`HEAD` path is `/{key}?{params}`.

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{ACCEPT, IF_NONE_MATCH};
use hyper::{Method, Request, Response};

use super::response;
use crate::app::App;
use crate::error::Error;
use crate::request::signature::unix_now;
use crate::request::{AcceptClass, ImageRequest};

/// Answer one request.
pub async fn handle(app: &App, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let head = req.method() == Method::HEAD;
    match req.uri().path() {
        "/healthz" => return response::text(200, "ok\n", head),
        "/readyz" if app.is_ready() => return response::text(200, "ready\n", head),
        "/readyz" => return response::text(503, "shutting down\n", head),
        _ => {}
    }
    if req.method() != Method::GET && !head {
        return response::error(app, &Error::MethodNotAllowed, head);
    }
    let (path, query) = (req.uri().path(), req.uri().query());
    let limit = app.config().max_url_bytes;
    if path.len() + query.map_or(0, str::len) > limit {
        return response::error(app, &Error::UriTooLong { limit }, head);
    }
    let expires = match app.verifier() {
        None => None,
        Some(verifier) => match verifier.verify(path, query, unix_now()) {
            Ok(verified) => verified.expires,
            Err(e) => return response::error(app, &e, head),
        },
    };
    let request = match ImageRequest::parse(path, query, app.param_limits()) {
        Ok(r) => r,
        Err(e) => return response::error(app, &e, head),
    };
    let accept = AcceptClass::from_header(req.headers().get(ACCEPT).and_then(|v| v.to_str().ok()));
    let (result, lookup) = app.render(&request, accept).await;
    match result {
        Ok(rendered) => {
            let if_none_match = req.headers().get(IF_NONE_MATCH);
            response::image(
                app,
                &request,
                &rendered,
                lookup,
                if_none_match,
                expires,
                head,
            )
        }
        Err(e) => {
            if e.status() >= 500 {
                tracing::error!(key = %request.key, error = %e, "request failed");
            } else {
                tracing::debug!(key = %request.key, error = %e, "request refused");
            }
            response::error(app, &e, head)
        }
    }
}
