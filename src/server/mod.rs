//! HTTP/1.1 server: the accept loop with its connection limit, and graceful shutdown (stop
//! accepting, let in-flight requests finish, exit). Each connection is served by [`conn`]
//! (Refract's own loop for bodiless `GET`/`HEAD`, hyper for the rest), hits from the ready
//! responses in [`hot`], written by [`wire`]. Routing lives in [`routes`]; turning results into
//! responses in [`response`].

pub mod conn;
pub mod demo;
pub mod hot;
pub mod response;
pub mod routes;
pub mod wire;

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};

use hyper::header::HeaderValue;

use crate::app::App;

/// What the server answers from: the app, and what the server keeps of its own beside it — the
/// responses kept ready for hits and the `Cache-Control` values made once (hits format nothing).
pub struct Site {
    /// The origin.
    pub app: App,
    /// Responses kept ready for hits.
    pub hot: hot::HotResponses,
    /// `Cache-Control` of image responses with the configured `--max-age`.
    pub image_cache_control: HeaderValue,
    /// `Cache-Control` of first renders (`--first-max-age`): short, so a CDN comes back for
    /// the refined variant.
    pub first_cache_control: HeaderValue,
    /// `/healthz`'s body: `ok`, then what was checked at start (the learned models).
    pub health: bytes::Bytes,
}

impl Site {
    /// The server's state for `app`.
    pub fn new(app: App) -> Site {
        let config = app.config();
        let image_cache_control =
            HeaderValue::from_str(&response::cache_control(config.max_age.as_secs()))
                .expect("digits are a valid header value");
        let first_age = config.first_max_age.as_secs();
        let first_cache_control = HeaderValue::from_str(&format!(
            "public, max-age={first_age}, stale-while-revalidate={first_age}"
        ))
        .expect("digits are a valid header value");
        let mut health = String::from("ok\n");
        let learned = app.renderer().learned();
        match (learned.models(), learned.off_reason()) {
            (Some(models), _) => {
                for info in models.loaded() {
                    health.push_str(&format!(
                        "model {} {} ({} bytes, {} {})\n",
                        info.role.name(),
                        info.file.display(),
                        info.bytes,
                        match info.role {
                            crate::transform::models::Role::Foreground => "side",
                            crate::transform::models::Role::Upscale => "factor",
                        },
                        info.scale
                    ));
                }
            }
            (None, Some(why)) => health.push_str(&format!("learned operations off: {why}\n")),
            (None, None) => {}
        }
        Site {
            app,
            health: bytes::Bytes::from(health),
            hot: hot::HotResponses::default(),
            image_cache_control,
            first_cache_control,
        }
    }
}

/// Serve `app` on `listener` until `shutdown` resolves, then drain: stop accepting, give
/// in-flight requests up to the configured shutdown timeout, and return.
pub async fn run(
    listener: TcpListener,
    app: App,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    run_site(listener, Arc::new(Site::new(app)), shutdown).await
}

/// [`run`], for a [`Site`] made by the caller (tests look at its ready responses).
pub async fn run_site(
    listener: TcpListener,
    site: Arc<Site>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let app = site.app.clone();
    let config = app.config().clone();
    let connections = Arc::new(Semaphore::new(config.max_connections));
    let graceful = GracefulShutdown::new();
    let (stop, stopped) = watch::channel(false);
    let shared = Arc::new(conn::Shared {
        site,
        builder: http1_builder(&config),
        shutdown: stopped,
    });
    tokio::pin!(shutdown);

    loop {
        let stream = tokio::select! {
            stream = accept(&listener) => stream,
            () = &mut shutdown => break,
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            tracing::warn!("connection limit reached; closing a new connection");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (shared, watcher) = (shared.clone(), graceful.watcher());
        tokio::spawn(async move {
            conn::serve(shared, watcher, stream).await;
            drop(permit);
        });
    }

    app.begin_shutdown();
    drop(listener);
    tracing::info!("shutting down: no longer accepting, draining in-flight requests");
    let _ = stop.send(true);
    // Every connection holds a watcher: shutdown's wait ends when the last one closes, whether
    // Refract's loop or hyper serves it.
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all connections closed"),
        () = tokio::time::sleep(config.shutdown_timeout) => {
            tracing::warn!("shutdown timeout reached with requests still in flight");
        }
    }
    Ok(())
}

/// Serve only `/metrics` (and `/healthz`) on `listener` until `shutdown` resolves: the
/// `--metrics-listen` port, kept off the public one.
pub async fn run_metrics(
    listener: TcpListener,
    app: App,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let builder = http1_builder(app.config());
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            stream = accept(&listener) => stream,
            () = &mut shutdown => return Ok(()),
        };
        let app = app.clone();
        let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
            let app = app.clone();
            async move {
                let head = req.method() == hyper::Method::HEAD;
                Ok::<_, Infallible>(match req.uri().path() {
                    "/metrics" => response::metrics(app.metrics_text().await, head),
                    "/healthz" => response::text(200, "ok\n", head),
                    _ => response::text(404, "not found\n", head),
                })
            }
        });
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        tokio::spawn(async move {
            let _ = connection.await;
        });
    }
}

/// HTTP/1 settings shared by both listeners: header-read timeout and head-size cap.
fn http1_builder(config: &crate::Config) -> http1::Builder {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(config.header_read_timeout)
        .max_buf_size(config.max_header_bytes)
        .keep_alive(true);
    builder
}

/// The next connection. Accept errors (out of file descriptors and the like) back off briefly
/// instead of spinning. Cancel-safe, so it can race the shutdown signal.
async fn accept(listener: &TcpListener) -> TcpStream {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => return stream,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("install SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("install SIGINT handler");
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = int.recv() => tracing::info!("SIGINT received"),
    }
}
