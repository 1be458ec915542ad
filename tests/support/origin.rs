//! A loopback HTTP origin the source tests fetch from: serves files from a directory with ETags
//! (and 304s), and misbehaves on request:
//!
//! - `/__redirect/{percent-encoded URL}` answers 302 to that URL;
//! - `/__slow/{key}` waits 30 s before answering;
//! - `/__stream/{n}` sends `n` bytes chunked, without Content-Length;
//! - `/__status/{code}` answers with that status;
//! - `/__s3archived/...` answers like S3 does for an object in Glacier (403 InvalidObjectState).
//!
//! Every request is counted, so tests can check how often Refract fetched.

use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

type Body = http_body_util::combinators::BoxBody<Bytes, Infallible>;

/// A running origin.
pub struct Origin {
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// Requests received (all paths).
    pub hits: Arc<AtomicUsize>,
    /// Paths requested, in order.
    pub paths: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
    connections: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl Origin {
    /// Serve `dir` on an ephemeral loopback port.
    pub async fn start(dir: PathBuf) -> Origin {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let hits = Arc::new(AtomicUsize::new(0));
        let paths = Arc::new(Mutex::new(Vec::new()));
        let (h, p) = (hits.clone(), paths.clone());
        let connections = Arc::new(Mutex::new(Vec::new()));
        let conns = connections.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (dir, hits, paths) = (dir.clone(), h.clone(), p.clone());
                let conn = tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        hits.fetch_add(1, Ordering::SeqCst);
                        paths.lock().unwrap().push(req.uri().path().to_owned());
                        answer(dir.clone(), req)
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
                conns.lock().unwrap().push(conn.abort_handle());
            }
        });
        Origin {
            addr,
            hits,
            paths,
            task,
            connections,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.addr.rsplit(':').next().unwrap().parse().unwrap()
    }

    /// Requests so far.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    /// Stop answering: the port refuses connections and open ones are closed.
    pub fn stop(&self) {
        self.task.abort();
        for conn in self.connections.lock().unwrap().drain(..) {
            conn.abort();
        }
    }
}

impl Drop for Origin {
    fn drop(&mut self) {
        self.stop();
    }
}

fn full(status: u16, body: impl Into<Bytes>) -> Response<Body> {
    Response::builder()
        .status(status)
        .body(Full::new(body.into()).boxed())
        .unwrap()
}

async fn answer(dir: PathBuf, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path().to_owned();
    if let Some(target) = path.strip_prefix("/__redirect/") {
        let to = percent_encoding::percent_decode_str(target)
            .decode_utf8()
            .unwrap()
            .into_owned();
        let mut r = full(302, "");
        r.headers_mut().insert("location", to.parse().unwrap());
        return Ok(r);
    }
    if path.starts_with("/__slow/") {
        tokio::time::sleep(Duration::from_secs(30)).await;
        return Ok(full(200, "late"));
    }
    if let Some(n) = path.strip_prefix("/__stream/") {
        let n: usize = n.parse().unwrap();
        let chunks = (0..n.div_ceil(65536)).map(move |i| {
            let len = 65536.min(n - i * 65536);
            Ok::<_, Infallible>(Frame::data(Bytes::from(vec![0u8; len])))
        });
        let body = StreamBody::new(futures_lite_stream(chunks.collect()));
        return Ok(Response::new(BodyExt::boxed(body)));
    }
    if let Some(code) = path.strip_prefix("/__status/") {
        return Ok(full(code.parse().unwrap(), "status on request"));
    }
    if path.starts_with("/__s3archived/") {
        let mut r = full(
            403,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>InvalidObjectState</Code>\
             <Message>The operation is not valid for the object's storage class</Message>\
             <StorageClass>GLACIER</StorageClass><RequestId>T1</RequestId></Error>",
        );
        r.headers_mut()
            .insert("content-type", "application/xml".parse().unwrap());
        return Ok(r);
    }
    let key = percent_encoding::percent_decode_str(path.trim_start_matches('/'))
        .decode_utf8()
        .unwrap()
        .into_owned();
    let file = dir.join(&key);
    let Ok(bytes) = std::fs::read(&file) else {
        return Ok(full(404, "not here"));
    };
    let modified = std::fs::metadata(&file)
        .unwrap()
        .modified()
        .unwrap()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let etag = format!("\"{}-{modified}\"", bytes.len());
    if req
        .headers()
        .get("if-none-match")
        .is_some_and(|v| v.as_bytes() == etag.as_bytes())
    {
        let mut r = full(304, "");
        r.headers_mut().insert("etag", etag.parse().unwrap());
        return Ok(r);
    }
    let mut r = full(200, bytes);
    r.headers_mut().insert("etag", etag.parse().unwrap());
    Ok(r)
}

/// A stream over ready items (no futures crate needed).
fn futures_lite_stream<T: Unpin>(items: Vec<T>) -> VecStream<T> {
    VecStream(items.into_iter())
}

/// A `Stream` yielding a vector's items.
pub struct VecStream<T>(std::vec::IntoIter<T>);

impl<T: Unpin> futures_core::Stream for VecStream<T> {
    type Item = T;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<T>> {
        std::task::Poll::Ready(self.0.next())
    }
}
