//! Routing: health endpoints, then every other path is an image key.
//!
//! `/healthz` (liveness: the process answers), `/readyz` (readiness: it should get traffic;
//! 503 while shutting down) and `/metrics` (unless `--metrics-listen` moves it) are reserved; any
//! other `GET`/`HEAD` path is `/{key}?{params}`. Every image request is recorded by a
//! [`RequestGuard`].

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Body as _;
use hyper::body::Incoming;
use hyper::header::{ACCEPT, AUTHORIZATION, IF_NONE_MATCH};
use hyper::{Method, Request, Response};

use super::Site;
use super::{hot, response, wire};
use crate::error::Error;
use crate::observe::analytics::Served;
use crate::observe::metrics::RequestGuard;
use crate::observe::Lookup;
use crate::request::signature::unix_now;
use crate::request::{AcceptClass, Hints, ImageRequest};
use crate::transform::encode::Tier;
use crate::transform::Rendered;

/// Answer one request (hyper's connections: see [`super::conn`] for the rest).
pub async fn handle(site: &Site, req: Request<Incoming>) -> Response<Full<Bytes>> {
    if let Err(e) = host_rule(&req) {
        return response::error(site, &e, req.method() == Method::HEAD);
    }
    match (req.uri().path(), req.method()) {
        (path, _) if RESERVED.contains(&path) => {}
        ("/admin/purge", _) => return admin_purge(site, req).await,
        ("/upload", &Method::POST) => {
            if let Some(uploads) = site.app.uploads() {
                return upload(site, uploads, req).await;
            }
        }
        (_, &Method::DELETE) => {
            if let Some(uploads) = site.app.uploads() {
                return delete(site, uploads, &req).await;
            }
        }
        _ => {}
    }
    read_only(site, &req).await
}

/// RFC 9112 §3.2: an HTTP/1.1 request carries exactly one `Host`, with a valid value (an empty
/// one included), whatever the form of its target; HTTP/1.0 may leave it out. (Refract's own
/// loop hands any request that breaks this to hyper, so the answer is made here alone.)
fn host_rule<B>(req: &Request<B>) -> Result<(), Error> {
    if req.version() != hyper::Version::HTTP_11 {
        return Ok(());
    }
    let mut hosts = req.headers().get_all(hyper::header::HOST).iter();
    match (hosts.next(), hosts.next()) {
        (None, _) => Err(Error::BadRequest("an HTTP/1.1 request needs a Host header")),
        (Some(_), Some(_)) => Err(Error::BadRequest("more than one Host header")),
        (Some(host), None) if !valid_host(host.as_bytes()) => {
            Err(Error::BadRequest("the Host header is not a host"))
        }
        _ => Ok(()),
    }
}

/// Whether `value` is a `uri-host [ ":" port ]` (RFC 3986): a registered name (letters, digits,
/// unreserved, sub-delims, percent-encodings), an IPv4 address or a bracketed IP literal, and
/// an optional port of digits. Empty is valid (a target without authority).
pub(super) fn valid_host(value: &[u8]) -> bool {
    let (host, port) = match value.iter().rposition(|&b| b == b':') {
        // A colon inside an IP literal is not the port's.
        Some(i) if !value[i..].contains(&b']') => (&value[..i], Some(&value[i + 1..])),
        _ => (value, None),
    };
    let port_ok = port.is_none_or(|p| p.iter().all(u8::is_ascii_digit));
    let host_ok = match host {
        [b'[', literal @ .., b']'] => literal
            .iter()
            .all(|&b| b.is_ascii_hexdigit() || b":.".contains(&b) || b.is_ascii_alphanumeric()),
        _ => host
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=%".contains(&b)),
    };
    port_ok && host_ok
}

/// Paths that are never image keys, whatever the method.
const RESERVED: [&str; 5] = ["/healthz", "/readyz", "/metrics", "/analytics", "/"];

/// Answer a request whose body does not matter: the health endpoints, metrics, analytics, the
/// demo page and images (any method but `GET` and `HEAD` is refused there).
pub async fn read_only<B>(site: &Site, req: &Request<B>) -> Response<Full<Bytes>> {
    let head = req.method() == Method::HEAD;
    match req.uri().path() {
        "/healthz" => return response::plain(200, site.health.clone(), head),
        "/readyz" if site.app.is_ready() => return response::text(200, "ready\n", head),
        "/readyz" => return response::text(503, "shutting down\n", head),
        "/metrics" if site.app.config().metrics_listen.is_none() => {
            return response::metrics(site.app.metrics_text().await, head)
        }
        "/analytics" => return analytics(site, req, head),
        "/" if site.app.config().demo => return demo(site, head).await,
        "/admin/purge" => return response::error(site, &Error::MethodNotAllowed, head),
        _ => {}
    }
    let target = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let mut guard = RequestGuard::new(
        &site.app.observe().metrics,
        &site.app.observe().access_log,
        req.method().as_str(),
        target,
    );
    let response = image(site, req, head, &mut guard).await;
    drop(guard);
    response
}

/// `POST /upload`: 201 with the stored image's JSON (200 when the same bytes were already
/// there), or an error that is never cacheable.
async fn upload(
    site: &Site,
    uploads: &crate::upload::Uploads,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let count = |result: &str| {
        site.app
            .observe()
            .metrics
            .uploads
            .with_label_values(&[result])
            .inc()
    };
    match uploads
        .accept(site.app.renderer().origin().mounts(), req)
        .await
    {
        Ok((uploaded, claims)) => {
            let status = if uploaded.created { 201 } else { 200 };
            let result = if uploaded.created {
                "created"
            } else {
                "exists"
            };
            count(result);
            if uploaded.created {
                let event = crate::work::events::UploadEvent {
                    id: String::new(),
                    kind: String::new(),
                    key: uploaded.key.clone(),
                    url: uploaded.url.clone(),
                    width: uploaded.width,
                    height: uploaded.height,
                    format: uploaded.format.to_owned(),
                    bytes: uploaded.bytes,
                    sha256: uploaded.sha256.clone(),
                    time: unix_now(),
                };
                site.app.fleet().uploaded(&uploaded.key, event).await;
            }
            tracing::info!(
                key = %uploaded.key,
                bytes = uploaded.bytes,
                subject = claims.subject.as_deref().unwrap_or("-"),
                result,
                "upload"
            );
            let body = serde_json::to_string(&uploaded).expect("serialisable");
            let mut response = response::json(body, false);
            *response.status_mut() = hyper::StatusCode::from_u16(status).expect("valid status");
            if let Ok(location) = hyper::header::HeaderValue::from_str(&uploaded.url) {
                response
                    .headers_mut()
                    .insert(hyper::header::LOCATION, location);
            }
            response
        }
        Err(e) => {
            count(e.code());
            upload_error(site, &e)
        }
    }
}

/// `DELETE /{key}` (with `--upload`): a token with the `delete` scope removes the original from
/// its store and every variant of it from this replica's memory and the variant store; 204, or
/// 404 when there was nothing. CDN copies expire by their max-age: purge them by the purge key
/// every image response carries (`Surrogate-Key`, `Cache-Tag`, `xkey`).
async fn delete(
    site: &Site,
    uploads: &crate::upload::Uploads,
    req: &Request<Incoming>,
) -> Response<Full<Bytes>> {
    let authorization = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let result = async {
        let claims = uploads.auth.verify(authorization, "delete")?;
        let key = site.app.renderer().origin().key(req.uri().path())?;
        site.app.renderer().origin().mounts().delete(&key).await?;
        // The original is gone, so no stored variant of it can be served again (a fetch comes
        // first); a store that fails to purge leaves objects for its expiry rule, not an error.
        if let Err(e) = site.app.purge(&key).await {
            tracing::warn!(%key, error = %e, "variant store purge failed after a delete");
        }
        Ok::<_, Error>((key, claims))
    }
    .await;
    match result {
        Ok((key, claims)) => {
            tracing::info!(
                %key,
                subject = claims.subject.as_deref().unwrap_or("-"),
                "deleted"
            );
            let mut response = response::text(204, "", false);
            *response.body_mut() = Full::new(Bytes::new());
            response
        }
        Err(e) => upload_error(site, &e),
    }
}

/// An error answer for uploads and deletes: never cacheable, with the auth challenge on 401.
fn upload_error(site: &Site, e: &Error) -> Response<Full<Bytes>> {
    if e.status() >= 500 {
        tracing::error!(error = %e, "upload failed");
    } else {
        tracing::debug!(error = %e, "upload refused");
    }
    let mut response = response::error(site, e, false);
    let headers = response.headers_mut();
    headers.insert(
        hyper::header::CACHE_CONTROL,
        hyper::header::HeaderValue::from_static("no-store"),
    );
    match e {
        Error::Unauthorized(_) => {
            headers.insert(
                hyper::header::WWW_AUTHENTICATE,
                hyper::header::HeaderValue::from_static("Bearer"),
            );
        }
        // The rest of the body is not read: do not reuse the connection.
        Error::UploadTooLarge { .. } => {
            headers.insert(
                hyper::header::CONNECTION,
                hyper::header::HeaderValue::from_static("close"),
            );
        }
        _ => {}
    }
    response
}

/// The `--demo` page, listing the images under `--root` (file system work, off the async
/// workers).
async fn demo(site: &Site, head: bool) -> Response<Full<Bytes>> {
    let root = site.app.config().root.clone();
    let urls = crate::request::srcset::UrlBuilder {
        params: "fm=auto".into(),
        sign_key: site.app.config().sign_keys.0.first().cloned(),
        scheme: site.app.config().sign_scheme,
        ..Default::default()
    };
    let html = tokio::task::spawn_blocking(move || {
        let keys = root
            .map(|r| super::demo::list_images(&r))
            .unwrap_or_default();
        super::demo::page(&keys, &urls)
    })
    .await
    .unwrap_or_else(|_| "<!doctype html><p>demo page failed</p>".into());
    response::demo(html, head)
}

/// `POST /admin/purge` with the admin token and a JSON body `{"path": "/photos/cat.jpg"}` (a
/// full URL is taken too; its query is ignored): every variant of that original leaves this
/// replica's memory and the variant store. Answers the key, its purge key (for the CDN:
/// `Surrogate-Key`, `Cache-Tag`, Varnish `xkey`) and the number of stored objects deleted.
async fn admin_purge(site: &Site, req: Request<Incoming>) -> Response<Full<Bytes>> {
    use http_body_util::BodyExt as _;
    /// Largest body read: a path is at most a few KiB.
    const MAX_BODY: usize = 16 * 1024;
    if req.method() != Method::POST {
        return response::error(site, &Error::MethodNotAllowed, false);
    }
    let Some(expected) = site.app.config().admin_token.0.first() else {
        return response::text(403, "admin purge needs --admin-token\n", false);
    };
    if !bearer(&req).is_some_and(|t| constant_time_eq(t.as_bytes(), expected.as_bytes())) {
        return response::text(401, "admin token required\n", false);
    }
    let body = match http_body_util::Limited::new(req.into_body(), MAX_BODY)
        .collect()
        .await
    {
        Ok(body) => body.to_bytes(),
        Err(_) => return response::text(400, "body unreadable or larger than 16 KiB\n", false),
    };
    #[derive(serde::Deserialize)]
    struct Purge {
        path: String,
    }
    let result = async {
        let purge: Purge = serde_json::from_slice(&body).map_err(|e| {
            Error::bad_param("path", format!("expected {{\"path\": \"/key\"}}: {e}"))
        })?;
        let path = purge.path.trim();
        // A full URL names its path; the query does not matter to a purge. (Not `Uri::parse`:
        // an operator may paste a path with raw spaces or non-ASCII, which `Mounts::key` takes.)
        let path = match path.split_once("://") {
            Some((_, rest)) => rest.find('/').map_or("/", |i| &rest[i..]),
            None => path,
        };
        let path = path.split(['?', '#']).next().unwrap_or(path);
        let key = site.app.renderer().origin().key(path)?;
        let purged = site.app.purge(&key).await?;
        Ok::<_, Error>((key, purged))
    }
    .await;
    match result {
        Ok((key, purged)) => {
            tracing::info!(%key, stored = purged.stored, "purged");
            let body = serde_json::json!({
                "key": key.as_str(),
                "purge_key": purged.purge_key,
                "stored_deleted": purged.stored,
            });
            response::json(body.to_string(), false)
        }
        Err(e) => {
            let mut response = response::error(site, &e, false);
            response.headers_mut().insert(
                hyper::header::CACHE_CONTROL,
                hyper::header::HeaderValue::from_static("no-store"),
            );
            response
        }
    }
}

/// The bearer token of a request, if any.
fn bearer<B>(req: &Request<B>) -> Option<&str> {
    req.headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
}

/// The `/analytics` document, behind the admin token when one is configured.
fn analytics<B>(site: &Site, req: &Request<B>, head: bool) -> Response<Full<Bytes>> {
    let token = bearer(req);
    match site.app.config().admin_token.0.first() {
        Some(expected)
            if !token.is_some_and(|t| constant_time_eq(t.as_bytes(), expected.as_bytes())) =>
        {
            response::text(401, "admin token required\n", head)
        }
        _ => response::json(site.app.observe().analytics.to_json(), head),
    }
}

/// Answer an image request, telling `guard` how it went.
async fn image<B>(
    site: &Site,
    req: &Request<B>,
    head: bool,
    guard: &mut RequestGuard<'_>,
) -> Response<Full<Bytes>> {
    let fail = |guard: &mut RequestGuard<'_>, e: &Error| {
        let response = response::error(site, e, head);
        guard.error(e, response.body().size_hint().exact().unwrap_or(0));
        response
    };
    if req.method() != Method::GET && !head {
        return fail(guard, &Error::MethodNotAllowed);
    }
    // Read before the lookup: a purge after it makes a response kept ready from this one stale.
    let epoch = site.app.renderer().cache().epoch();
    for (name, value) in &site.app.config().require_headers.0 {
        let sent = req.headers().get(name.as_str()).map(|v| v.as_bytes());
        if !sent.is_some_and(|v| constant_time_eq(v, value.as_bytes())) {
            return fail(guard, &Error::OriginHeader);
        }
    }
    let (path, query) = (req.uri().path(), req.uri().query());
    let limit = site.app.config().max_url_bytes;
    if path.len() + query.map_or(0, str::len) > limit {
        return fail(guard, &Error::UriTooLong { limit });
    }
    let expires = match site.app.renderer().verifier() {
        None => None,
        Some(verifier) => match verifier.verify(path, query, unix_now()) {
            Ok(verified) => verified.expires,
            Err(e) => return fail(guard, &e),
        },
    };
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let hints = Hints::from_values(
        header("sec-ch-dpr"),
        header("sec-ch-width"),
        header("save-data"),
    );
    let request = match site.app.renderer().request(path, query, hints) {
        Ok(r) => {
            guard.source(site.app.renderer().origin().mounts().kind_of(&r.key));
            guard.ignored(&r.params.ignored);
            r
        }
        Err(e) => return fail(guard, &e),
    };
    let accept = AcceptClass::from_header(req.headers().get(ACCEPT).and_then(|v| v.to_str().ok()));
    let (result, lookup) = site.app.renderer().render(&request, accept).await;
    guard.cache(lookup);
    match result {
        Ok(rendered) => {
            if rendered.tier == Tier::First {
                site.app
                    .fleet()
                    .served_first(path, query, hints, accept, &rendered, lookup)
                    .await;
            }
            let if_none_match = req.headers().get(IF_NONE_MATCH);
            let response = response::image(
                site,
                &request,
                &rendered,
                lookup,
                if_none_match,
                expires,
                head,
            );
            if !head
                && response.status() == 200
                && expires.is_none()
                && rendered.tier != Tier::First
                // A URL with ignored values is routed every time: its header, count and log
                // line stay exact.
                && request.params.ignored.is_empty()
            {
                keep_ready(site, req, accept, hints, &request, &rendered, epoch);
            }
            // A single byte range of a whole answer (the ready entry above keeps it whole).
            let response = if head {
                response
            } else {
                response::ranged(
                    response,
                    req.headers().get(hyper::header::RANGE),
                    req.headers().get(hyper::header::IF_RANGE),
                )
            };
            let sent = match (head, response.status().as_u16()) {
                (false, 200 | 206) => response.body().size_hint().exact().unwrap_or(0),
                _ => 0,
            };
            guard.image(
                response.status().as_u16(),
                &site.app.observe().analytics,
                Served {
                    key: request.key.as_str(),
                    format: rendered.format,
                    dpr: request.params.dpr,
                    width: rendered.size.width,
                    bytes: sent,
                    original_bytes: rendered.original_bytes,
                    lookup,
                },
            );
            response
        }
        Err(e) => {
            if e.status() >= 500 {
                tracing::error!(key = %request.key, error = %e, "request failed");
            } else {
                tracing::debug!(key = %request.key, error = %e, "request refused");
            }
            fail(guard, &e)
        }
    }
}

/// Keep this answer ready for the next identical request (see [`super::hot`]).
fn keep_ready<B>(
    site: &Site,
    req: &Request<B>,
    accept: AcceptClass,
    hints: Hints,
    request: &ImageRequest,
    rendered: &Arc<Rendered>,
    epoch: u64,
) {
    let probe = hot::Probe {
        target: req
            .uri()
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .as_bytes(),
        accept,
        hints,
    };
    let (now, _) = wire::now();
    if !site.hot.wants(&probe, epoch, now) {
        return;
    }
    // The head a hit gets: the same headers, `x-refract-cache: hit`.
    let response = response::image(site, request, rendered, Lookup::Hit, None, None, false);
    let mut head = Vec::with_capacity(512);
    wire::head(
        response.status(),
        response.headers(),
        rendered.body.len(),
        &mut head,
    );
    site.hot.insert(
        &probe,
        hot::Ready {
            head: head.into(),
            rendered,
            epoch,
            now,
            cache_key: &request.variant(accept).cache_key(),
            key: request.key.as_str(),
            source: site.app.renderer().origin().mounts().kind_of(&request.key),
            dpr: request.params.dpr,
            varies: request.params.varies,
        },
    );
}

/// Compare secrets without leaking where they differ through timing.
pub(super) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
