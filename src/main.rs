//! The `refract` binary: parse the command line, build the [`refract::App`], serve until SIGTERM.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use refract::config::{Cli, Command, Config, ServeArgs, SignArgs, SrcsetArgs, UploadArgs};
use refract::request::signature;
use refract::{server, App};

fn main() -> ExitCode {
    // Before any thread: one malloc arena and a fixed mmap threshold (see the function).
    refract::transform::vips::tune_malloc();
    let mut args: Vec<String> = std::env::args().collect();
    // `serve --config FILE` (or `worker`): the file's settings go in as flags before the
    // command line's own.
    if matches!(args.get(1).map(String::as_str), Some("serve" | "worker")) {
        if let Some(path) = refract::config::file::config_path(&args) {
            match refract::config::file::flags_from_file(std::path::Path::new(&path)) {
                Ok(flags) => {
                    args.splice(2..2, flags);
                }
                Err(e) => {
                    eprintln!("refract: {e}");
                    return ExitCode::from(2);
                }
            }
        }
    }
    let cli = Cli::parse_from(args);
    match cli.command {
        Command::Serve(args) => serve(*args),
        Command::Worker(args) => worker(*args),
        Command::Sign(args) => sign(&args),
        Command::Srcset(args) => srcset(&args),
        Command::Upload(args) => upload(args),
    }
}

fn upload(args: UploadArgs) -> ExitCode {
    use refract::upload::client::{self, Outcome, Plan};
    let plan = Plan {
        server: args.server,
        token: args.token,
        paths: args.paths,
        concurrency: args.concurrency,
        retries: args.retries,
        json: args.json,
        timeout: args.timeout,
    };
    let runtime = tokio::runtime::Runtime::new().expect("start tokio");
    let json = plan.json;
    let summary = runtime.block_on(client::run(&plan, |file, outcome| {
        let path = file.display().to_string();
        if json {
            let line = match outcome {
                Outcome::Uploaded { created, body } => serde_json::json!({
                    "path": path,
                    "status": if *created { "created" } else { "exists" },
                    // The server's answer, as it sent it (not text: a JSON object).
                    "upload": serde_json::from_str::<serde_json::Value>(body)
                        .unwrap_or_else(|_| body.trim().into()),
                }),
                Outcome::Skipped => serde_json::json!({"path": path, "status": "skipped"}),
                Outcome::Failed(why) => {
                    serde_json::json!({"path": path, "status": "failed", "error": why})
                }
            };
            println!("{line}");
        } else {
            match outcome {
                Outcome::Uploaded { body, .. } => {
                    println!("{path} → {}", client::url_of(body).unwrap_or_default())
                }
                Outcome::Skipped => eprintln!("skipped (not an image): {path}"),
                Outcome::Failed(why) => eprintln!("failed: {path}: {why}"),
            }
        }
    }));
    eprintln!(
        "{} uploaded, {} already there, {} skipped, {} failed",
        summary.created, summary.existed, summary.skipped, summary.failed
    );
    if summary.failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn srcset(args: &SrcsetArgs) -> ExitCode {
    if args.widths.is_empty() || args.widths.contains(&0) {
        eprintln!("refract srcset: --widths must be positive numbers, e.g. 320,640,1280");
        return ExitCode::from(2);
    }
    let builder = refract::request::srcset::UrlBuilder {
        base: args.base.clone(),
        params: args.params.trim_start_matches(['?', '&']).to_owned(),
        sign_key: args.sign_key.clone(),
        scheme: args.sign_scheme,
        expires: args.expires_in.map(|d| signature::unix_now() + d.as_secs()),
    };
    println!("{}", builder.srcset(&args.key, &args.widths));
    ExitCode::SUCCESS
}

fn sign(args: &SignArgs) -> ExitCode {
    if !args.url.starts_with('/') {
        eprintln!("refract sign: give the path and query, starting with '/'");
        return ExitCode::from(2);
    }
    let expires = args.expires_in.map(|d| signature::unix_now() + d.as_secs());
    println!(
        "{}",
        signature::sign_url_with(args.sign_scheme, args.key.as_bytes(), &args.url, expires)
    );
    ExitCode::SUCCESS
}

fn serve(args: ServeArgs) -> ExitCode {
    let config = match start(&args) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if args.check_config {
        // The learned models are part of the configuration: a directory named with --models
        // must hold sound files (checked from their signatures, as at start).
        if let (Some(dir), true) = (&config.models, config.models_named) {
            if let Err(e) = refract::transform::models::Models::open(dir, 1) {
                eprintln!("refract: --models: {e}");
                return ExitCode::from(2);
            }
        }
        println!("configuration ok\n{config:#?}");
        return ExitCode::SUCCESS;
    }
    let runtime = runtime();
    let code = runtime.block_on(async move {
        let app = match build(&config) {
            Ok(app) => app,
            Err(code) => return code,
        };
        let listener = match tokio::net::TcpListener::bind(config.listen).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("refract: cannot listen on {}: {e}", config.listen);
                return ExitCode::from(1);
            }
        };
        if let Err(code) = serve_metrics(&app, config.metrics_listen).await {
            return code;
        }
        let (sources, store) = app.renderer().origin().describe();
        tracing::info!(
            listen = %listener.local_addr().map_or(config.listen, |a| a),
            source = %sources,
            variant_store = %store,
            libvips = %app.vips_version(),
            formats = %config.formats.names(),
            "refract serving"
        );
        if config
            .formats
            .contains(refract::encoding::format::Input::Heic)
        {
            match refract::transform::vips::heic_decoder() {
                Ok(version) => tracing::info!(libheif = %version, "HEIC input on"),
                Err(why) => tracing::warn!(
                    error = %why,
                    "HEIC input off: libheif.so.1 not found (Debian: apt-get install libheif1)"
                ),
            }
        }
        let log = app.observe().access_log.clone();
        let store_app = app.clone();
        let code = match server::run(listener, app, server::shutdown_signal()).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("refract: {e}");
                ExitCode::from(1)
            }
        };
        // Renders waiting to be written behind are not thrown away by a graceful stop.
        if let Some(store) = store_app.renderer().origin().store() {
            store.flush(Duration::from_secs(10)).await;
        }
        // Every request answered has its line out before the process ends.
        log.flush(Duration::from_secs(5));
        code
    });
    // A transform still running past the drain is abandoned with the process: dropping the
    // runtime would otherwise wait for every blocking task, however long libvips takes.
    runtime.shutdown_timeout(Duration::from_secs(1));
    code
}

/// `refract worker`: take background jobs from RabbitMQ until SIGTERM, then let the variant
/// store finish its writes. Jobs in hand when it stops are not acknowledged, so the broker gives
/// them to another worker.
fn worker(args: ServeArgs) -> ExitCode {
    let mut config = match start(&args) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if config.queue.is_none() {
        eprintln!("refract: worker needs --queue amqp://…");
        return ExitCode::from(2);
    }
    config.consume = true;
    config.worker = true;
    let runtime = runtime();
    let code = runtime.block_on(async move {
        let app = match build(&config) {
            Ok(app) => app,
            Err(code) => return code,
        };
        if let Err(code) = serve_metrics(&app, config.metrics_listen).await {
            return code;
        }
        let (sources, store) = app.renderer().origin().describe();
        tracing::info!(
            source = %sources,
            variant_store = %store,
            "refract worker taking jobs"
        );
        server::shutdown_signal().await;
        if let Some(store) = app.renderer().origin().store() {
            store.flush(Duration::from_secs(10)).await;
        }
        ExitCode::SUCCESS
    });
    runtime.shutdown_timeout(Duration::from_secs(1));
    code
}

/// Logging on stderr, and the configuration `serve` and `worker` run with.
fn start(args: &ServeArgs) -> Result<Config, ExitCode> {
    tracing_subscriber::fmt()
        .with_max_level(args.log_level)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    Config::from_args(args).map_err(|e| {
        eprintln!("refract: {e}");
        ExitCode::from(2)
    })
}

/// The app for `serve` and `worker` (inside the runtime: its background tasks start with it).
fn build(config: &Config) -> Result<App, ExitCode> {
    App::new(config.clone()).map_err(|e| {
        eprintln!("refract: {e}");
        ExitCode::from(1)
    })
}

/// The runtime `serve` and `worker` run on. Transforms run on the blocking pool; its threads
/// stay alive so libvips's per-thread buffers are reused instead of being rebuilt after every
/// idle spell.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_keep_alive(Duration::from_secs(600))
        .build()
        .expect("start tokio")
}

/// `--metrics-listen`: /metrics on its own address, until shutdown.
async fn serve_metrics(app: &App, addr: Option<std::net::SocketAddr>) -> Result<(), ExitCode> {
    let Some(addr) = addr else {
        return Ok(());
    };
    match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => {
            tracing::info!(metrics_listen = %l.local_addr().map_or(addr, |a| a), "metrics");
            tokio::spawn(server::run_metrics(
                l,
                app.clone(),
                server::shutdown_signal(),
            ));
            Ok(())
        }
        Err(e) => {
            eprintln!("refract: cannot listen on {addr} for metrics: {e}");
            Err(ExitCode::from(1))
        }
    }
}
