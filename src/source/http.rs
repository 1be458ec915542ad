//! Originals over HTTP: a web server under a fixed base URL (`https://host/base/` — the key is
//! appended, each segment percent-encoded), or a proxy for absolute URLs given in the request
//! path (`proxy://`; `/{prefix}/{percent-encoded URL}`, as imgix web-proxy sources do), limited
//! to `--allow-host` hosts. One pooled client per source; every connection goes through the
//! [`net`](super::net) checks, redirects included (at most [`MAX_REDIRECTS`] hops).

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
use reqwest::header::{CONTENT_LENGTH, ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED};
use reqwest::{redirect, StatusCode, Url};

use super::error_chain;
use super::net::{find_refusal, AllowedHost, GuardedResolver, NetPolicy, Refused};
use super::{BoxFuture, Fetched, Original, Source, SourceSettings, Validator};
use crate::error::Error;

/// Most redirects followed for one fetch.
pub const MAX_REDIRECTS: usize = 5;

/// Longest absolute URL the proxy source accepts.
pub const MAX_URL_BYTES: usize = 2048;

/// Characters escaped in one path segment of an origin URL (RFC 3986 `pchar` complement).
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// An HTTP origin or proxy.
pub struct HttpSource {
    client: reqwest::Client,
    /// `Some` for an origin under a fixed base URL; `None` for the proxy.
    base: Option<Url>,
    policy: Arc<NetPolicy>,
    max_bytes: u64,
}

impl HttpSource {
    /// A web server holding originals under `base` (`https://host/base/`). Redirects may go to
    /// the base's own host or to an `--allow-host`.
    pub fn origin(base: &str, settings: &SourceSettings) -> Result<HttpSource, String> {
        let mut url = Url::parse(base).map_err(|e| format!("{base}: {e}"))?;
        if url.query().is_some() || url.fragment().is_some() {
            return Err(format!("{base}: a base URL has no query or fragment"));
        }
        if !url.path().ends_with('/') {
            url.set_path(&format!("{}/", url.path()));
        }
        let mut net = settings.net.clone();
        let host = AllowedHost::of(&url).ok_or_else(|| format!("{base}: no host"))?;
        // The operator named this host: trust its addresses, private ones included (not
        // link-local or metadata). Redirects elsewhere, and the proxy, stay strict.
        net.trusted_hosts
            .push(url.host_str().unwrap_or_default().to_owned());
        if !net.allow_hosts.is_empty() {
            net.allow_hosts.push(host);
        }
        net.check_url(&url).map_err(|e| format!("{base}: {e}"))?;
        Self::build(Some(url), net, settings)
    }

    /// A proxy for absolute URLs; needs at least one `--allow-host`.
    pub fn proxy(settings: &SourceSettings) -> Result<HttpSource, String> {
        if settings.net.allow_hosts.is_empty() {
            return Err(
                "proxy:// needs at least one --allow-host (it would be an open proxy)".into(),
            );
        }
        Self::build(None, settings.net.clone(), settings)
    }

    fn build(
        base: Option<Url>,
        net: NetPolicy,
        settings: &SourceSettings,
    ) -> Result<HttpSource, String> {
        let policy = Arc::new(net);
        let hops = policy.clone();
        let client = reqwest::Client::builder()
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver::new(policy.clone())))
            .redirect(redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() > MAX_REDIRECTS {
                    return attempt.error(format!("more than {MAX_REDIRECTS} redirects"));
                }
                match hops.check_url(attempt.url()) {
                    Ok(()) => attempt.follow(),
                    Err(refused) => attempt.error(refused),
                }
            }))
            .connect_timeout(settings.timeout)
            .timeout(settings.timeout)
            .user_agent(concat!("refract/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok(HttpSource {
            client,
            base,
            policy,
            max_bytes: settings.max_bytes,
        })
    }

    fn url_for(&self, key: &str) -> Result<Url, Error> {
        match &self.base {
            Some(base) => {
                let path: Vec<String> = key
                    .split('/')
                    .map(|s| utf8_percent_encode(s, SEGMENT).to_string())
                    .collect();
                base.join(&path.join("/"))
                    .map_err(|e| Error::BadPath(e.to_string()))
            }
            None => Url::parse(key).map_err(|_| Error::BadPath("not an absolute URL".into())),
        }
    }

    async fn get(&self, key: &str, current: Option<&Validator>) -> Result<Fetched, Error> {
        let url = self.url_for(key)?;
        self.policy
            .check_url(&url)
            .map_err(|e| Error::SourceNotAllowed(e.0))?;
        let mut request = self.client.get(url);
        if let Some(v) = current {
            if let Some(etag) = &v.etag {
                request = request.header(IF_NONE_MATCH, etag);
            }
            if let Some(date) = &v.last_modified {
                request = request.header(IF_MODIFIED_SINCE, date);
            }
        }
        let mut response = request.send().await.map_err(fetch_error)?;
        let status = response.status();
        match status {
            StatusCode::NOT_MODIFIED if current.is_some() => return Ok(Fetched::NotModified),
            StatusCode::NOT_FOUND | StatusCode::GONE => return Err(Error::NotFound),
            s if s.is_success() => {}
            s => return Err(Error::SourceFailed(format!("origin answered {s}"))),
        }
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok())
                .map(str::to_owned)
        };
        let validator = Validator {
            etag: header(ETAG),
            last_modified: header(LAST_MODIFIED),
        };
        let too_large = Error::SourceTooLarge {
            limit: self.max_bytes,
        };
        let declared = header(CONTENT_LENGTH).and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > self.max_bytes) {
            return Err(too_large);
        }
        // Count while streaming: a missing or lying Content-Length must not get past the cap.
        let mut body = BytesMut::with_capacity(declared.unwrap_or(0) as usize);
        while let Some(chunk) = response.chunk().await.map_err(fetch_error)? {
            if (body.len() + chunk.len()) as u64 > self.max_bytes {
                return Err(too_large);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Fetched::Body(Original {
            bytes: Bytes::from(body),
            validator,
        }))
    }
}

/// Map a client error: a refusal by the SSRF checks, a timeout, or a failure.
fn fetch_error(e: reqwest::Error) -> Error {
    if let Some(Refused(why)) = find_refusal(&e) {
        return Error::SourceNotAllowed(why.clone());
    }
    if e.is_timeout() {
        return Error::SourceTimeout;
    }
    Error::SourceFailed(error_chain(&e))
}

impl Source for HttpSource {
    fn fetch<'a>(
        &'a self,
        key: &'a str,
        current: Option<&'a Validator>,
    ) -> BoxFuture<'a, Result<Fetched, Error>> {
        Box::pin(self.get(key, current))
    }

    fn check_key(&self, key: &str) -> Result<(), Error> {
        if self.base.is_some() {
            return crate::request::Key::new(key).map(|_| ());
        }
        if key.len() > MAX_URL_BYTES {
            return Err(Error::BadPath(format!(
                "a proxied URL is longer than {MAX_URL_BYTES} bytes"
            )));
        }
        let url = Url::parse(key).map_err(|_| {
            Error::BadPath("expected a percent-encoded absolute URL after the prefix".into())
        })?;
        self.policy
            .check_url(&url)
            .map_err(|e| Error::SourceNotAllowed(e.0))
    }

    fn takes_urls(&self) -> bool {
        self.base.is_none()
    }

    fn base_url(&self) -> Option<&Url> {
        self.base.as_ref()
    }

    fn describe(&self) -> String {
        match &self.base {
            Some(base) => base.to_string(),
            None => {
                let hosts: Vec<String> = self
                    .policy
                    .allow_hosts
                    .iter()
                    .map(ToString::to_string)
                    .collect();
                format!("proxy:// (allowed hosts: {})", hosts.join(", "))
            }
        }
    }

    fn kind(&self) -> &'static str {
        if self.base.is_some() {
            "http"
        } else {
            "proxy"
        }
    }
}
