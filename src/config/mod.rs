//! Configuration in two stages: [`ServeArgs`] is what clap reads from flags and `REFRACT_*`
//! environment variables (raw, as typed); [`Config`] is the validated result, built once, that
//! [`crate::App`] is made from. `--check-config` stops after the second stage.
//!
//! Sizes accept plain bytes or units (`100000`, `50MB`, `256MiB`); durations use humantime
//! (`3s`, `1h`, `1y`).

pub mod file;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::request::signature::Scheme;

/// Command line of the `refract` binary.
#[derive(Debug, Parser)]
#[command(
    name = "refract",
    version,
    about = "On-the-fly image transformation origin"
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// `--refine-cpu`: a share of the cores, 0 (exclusive) to 1.
fn parse_share(value: &str) -> Result<f64, String> {
    let share: f64 = value
        .parse()
        .map_err(|_| format!("'{value}' is not a number"))?;
    if share > 0.0 && share <= 1.0 {
        Ok(share)
    } else {
        Err(format!("{value} is not above 0 and at most 1"))
    }
}

/// Refinement renders at once: `share` of `cores`, at least one.
pub fn refine_permits(share: f64, cores: usize) -> usize {
    ((cores as f64 * share).floor() as usize).max(1)
}

fn num_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// When first renders are refined (`--refine`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Refine {
    /// Never: every render uses the standard settings.
    Off,
    /// Once served `--refine-after` times.
    Hot,
    /// Every first render.
    All,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve images over HTTP.
    #[command(args_override_self = true)]
    Serve(Box<ServeArgs>),
    /// Take background jobs from RabbitMQ (--queue) without serving HTTP: the same flags as
    /// `serve` (sources, variant store, --eager), so a job renders what serve would.
    #[command(args_override_self = true)]
    Worker(Box<ServeArgs>),
    /// Print a signed path and query for origins started with --sign-key.
    Sign(SignArgs),
    /// Print a ready `srcset` attribute value for one image (signed with --sign-key).
    Srcset(SrcsetArgs),
    /// Upload files and folders to a server started with --upload.
    Upload(UploadArgs),
}

/// Flags of `refract upload`.
#[derive(Debug, Clone, Args)]
pub struct UploadArgs {
    /// The server, e.g. `https://img.example.com` (POSTs go to /upload).
    #[arg(long, env = "REFRACT_SERVER")]
    pub server: String,

    /// Bearer token (a JWT with the `upload` scope).
    #[arg(long, env = "REFRACT_UPLOAD_TOKEN", hide_env_values = true)]
    pub token: String,

    /// Uploads in flight at once.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,

    /// Extra attempts after a 5xx, 429 or connection error (with backoff).
    #[arg(long, default_value_t = 4)]
    pub retries: u32,

    /// Per-request timeout.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub timeout: Duration,

    /// Print one JSON object per file instead of `path → url`.
    #[arg(long)]
    pub json: bool,

    /// Files and folders (recursive).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
}

/// Flags of `refract srcset`.
#[derive(Debug, Clone, Args)]
pub struct SrcsetArgs {
    /// Widths in pixels, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = crate::request::srcset::DEFAULT_WIDTHS)]
    pub widths: Vec<u32>,

    /// Other parameters for every URL, as a query string.
    #[arg(long, default_value = "fm=auto")]
    pub params: String,

    /// Prefix for absolute URLs, e.g. `https://img.example.com` (relative URLs without it).
    #[arg(long, default_value = "")]
    pub base: String,

    /// Sign every URL with this key (the origin's --sign-key).
    #[arg(long, env = "REFRACT_SIGN_KEY", hide_env_values = true)]
    pub sign_key: Option<String>,

    /// Make signed URLs expire this long from now (e.g. 30d).
    #[arg(long, value_parser = parse_duration, requires = "sign_key")]
    pub expires_in: Option<Duration>,

    /// The origin's --sign-scheme.
    #[arg(long, env = "REFRACT_SIGN_SCHEME", value_enum, default_value_t = Scheme::Hmac)]
    pub sign_scheme: Scheme,

    /// The image's key, e.g. photos/cat.jpg.
    pub key: String,
}

/// Flags of `refract sign`.
#[derive(Debug, Clone, Args)]
pub struct SignArgs {
    /// Signing key (the first of the origin's --sign-key list, usually).
    #[arg(long, env = "REFRACT_SIGN_KEY", hide_env_values = true)]
    pub key: String,

    /// Make the URL expire this long from now (e.g. 1h, 7d).
    #[arg(long, value_parser = parse_duration)]
    pub expires_in: Option<Duration>,

    /// The origin's --sign-scheme.
    #[arg(long, env = "REFRACT_SIGN_SCHEME", value_enum, default_value_t = Scheme::Hmac)]
    pub sign_scheme: Scheme,

    /// The path and query to sign, e.g. '/photos/cat.jpg?w=400&fm=auto'.
    pub url: String,
}

/// Flags of `refract serve`. Every flag can also be set by the environment variable named beside
/// it.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "REFRACT_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Directory of originals, served at `/` (shorthand for `--source /=file:///DIR`).
    #[arg(long, env = "REFRACT_ROOT")]
    pub root: Option<PathBuf>,

    /// Mount a store of originals under a URL prefix: `PREFIX=URL` with URL one of
    /// `file:///DIR`, `s3://BUCKET/PREFIX/` (credentials, region and endpoint from AWS_*),
    /// `https://HOST/BASE/`, or `proxy://` (absolute URLs in the path, --allow-host only).
    /// Repeatable; `/s3/cats/cat.jpg` is `cats/cat.jpg` in the store mounted at `s3`.
    #[arg(long = "source", env = "REFRACT_SOURCES", value_delimiter = ',', value_parser = parse_source)]
    pub sources: Vec<(String, String)>,

    /// A host HTTP and proxy sources may fetch from: HOST (default port) or HOST:PORT, matched
    /// exactly. Repeatable. Required by proxy://.
    #[arg(
        long = "allow-host",
        env = "REFRACT_ALLOW_HOSTS",
        value_delimiter = ','
    )]
    pub allow_hosts: Vec<String>,

    /// Let HTTP and proxy sources reach any loopback, private (RFC 1918, ULA) and CGNAT address.
    /// Without it, only the host an HTTP origin names (`--source web=http://10.0.0.5/`) may be
    /// private. Link-local and metadata addresses (169.254.0.0/16, fe80::/10) stay refused.
    #[arg(long, env = "REFRACT_ALLOW_PRIVATE_SOURCES")]
    pub allow_private_sources: bool,

    /// Pin a host name to an address for HTTP and proxy sources, like curl's --resolve:
    /// HOST=IP. Repeatable. The address is still checked.
    #[arg(long = "resolve", env = "REFRACT_RESOLVE", value_delimiter = ',', value_parser = parse_pin)]
    pub resolve: Vec<(String, std::net::IpAddr)>,

    /// Longest a fetch from a store may take, connecting included (504 beyond).
    #[arg(long, env = "REFRACT_SOURCE_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    pub source_timeout: Duration,

    /// Memory for fetched originals, so one original rendered at several sizes is fetched once
    /// (0 turns it off).
    #[arg(long, env = "REFRACT_ORIGINALS_CACHE_SIZE", default_value = "128MiB", value_parser = parse_size)]
    pub originals_cache_size: u64,

    /// A cached original older than this is revalidated with its store (ETag or modification
    /// time) before it is used again.
    #[arg(long, env = "REFRACT_ORIGINALS_REVALIDATE_AFTER", default_value = "60s", value_parser = parse_duration)]
    pub originals_revalidate_after: Duration,

    /// Memory for decoded masters: an original rendered at several sizes is decoded once (at
    /// most 5 MP) and its further sizes are scaled from those pixels (0 turns it off).
    #[arg(long, env = "REFRACT_MASTER_CACHE_SIZE", default_value = "128MiB", value_parser = parse_size)]
    pub master_cache_size: u64,

    /// Keep rendered variants in a durable store shared by every replica: `s3://BUCKET/PREFIX`
    /// (settings from AWS_*, as for sources) or `file:///DIR`. A miss in memory reads it before
    /// rendering; renders are written behind. Off when unset.
    #[arg(long, env = "REFRACT_VARIANT_STORE")]
    pub variant_store: Option<String>,

    /// A variant-store read slower than this counts as a miss (the variant is rendered).
    #[arg(long, env = "REFRACT_VARIANT_STORE_TIMEOUT", default_value = "2s", value_parser = parse_duration)]
    pub variant_store_timeout: Duration,

    /// The width ladder (device pixels, comma-separated): a width chosen by a request header
    /// (Sec-CH-Width, or Sec-CH-DPR × w) snaps up to the next rung.
    #[arg(long, env = "REFRACT_WIDTHS", value_delimiter = ',', default_values_t = crate::request::srcset::DEFAULT_WIDTHS)]
    pub widths: Vec<u32>,

    /// Also snap widths (and heights) written in the URL up to the ladder, bounding the renders
    /// an unsigned URL space can cost.
    #[arg(long, env = "REFRACT_SNAP_WIDTHS")]
    pub snap_widths: bool,

    /// The `q` values accepted (comma-separated); any other is refused (400) unless
    /// --snap-qualities. Every quality is accepted when unset.
    #[arg(long, env = "REFRACT_QUALITIES", value_delimiter = ',')]
    pub qualities: Vec<u8>,

    /// Move a `q` outside --qualities to the nearest listed value instead of refusing it.
    #[arg(long, env = "REFRACT_SNAP_QUALITIES")]
    pub snap_qualities: bool,

    /// Memory for rendered variants (bytes or units: 256MiB, 1GB).
    #[arg(long, env = "REFRACT_CACHE_SIZE", default_value = "256MiB", value_parser = parse_size)]
    pub cache_size: u64,

    /// How long a rendered variant may stay in memory (bounds staleness if an original changes).
    #[arg(long, env = "REFRACT_CACHE_TTL", default_value = "1h", value_parser = parse_duration)]
    pub cache_ttl: Duration,

    /// `Cache-Control: max-age` for images (what CDNs and browsers may keep).
    #[arg(long, env = "REFRACT_MAX_AGE", default_value = "1y", value_parser = parse_duration)]
    pub max_age: Duration,

    /// `Cache-Control: max-age` for 4xx answers (5xx are never cacheable).
    #[arg(long, env = "REFRACT_ERROR_MAX_AGE", default_value = "60s", value_parser = parse_duration)]
    pub error_max_age: Duration,

    /// Largest output width or height in pixels, after `dpr`.
    #[arg(long, env = "REFRACT_MAX_DIMENSION", default_value_t = 8192)]
    pub max_dimension: u32,

    /// Refuse (400 bad_param) values imgix would ignore and parameters given twice, instead of
    /// ignoring them and naming them in `X-Refract-Ignored`
    #[arg(long, env = "REFRACT_STRICT_PARAMS")]
    pub strict_params: bool,

    /// Largest width × height an original may declare; checked from the header, before decoding.
    #[arg(long, env = "REFRACT_MAX_PIXELS", default_value = "50M", value_parser = parse_count)]
    pub max_pixels: u64,

    /// Largest original, in bytes or units.
    #[arg(long, env = "REFRACT_MAX_SOURCE_BYTES", default_value = "50MB", value_parser = parse_size)]
    pub max_source_bytes: u64,

    /// Largest number of frames (pages) an original may declare.
    #[arg(long, env = "REFRACT_MAX_FRAMES", default_value_t = 256)]
    pub max_frames: u32,

    /// After an upload, render this variant in the background (a query string, e.g.
    /// `w=640&fm=auto`; repeatable): into the memory cache and the variant store, so its first
    /// visitor gets a hit. `fm=auto` renders once per Accept class.
    #[arg(long = "eager", env = "REFRACT_EAGER", value_delimiter = ';')]
    pub eager: Vec<String>,

    /// Background jobs that may wait; beyond that a job is dropped (and counted).
    #[arg(long, env = "REFRACT_BACKGROUND_QUEUE", default_value_t = 1024)]
    pub background_queue: usize,

    /// Fast first, small forever (the default, `hot`): a WebP or AVIF variant is encoded fast
    /// first (served with `--first-max-age`) and re-encoded for bytes in the background once it
    /// has been served `--refine-after` times; `all` refines every first render; `off` renders
    /// once, with the standard settings. JPEG, PNG and GIF are the same in every tier: final at
    /// once.
    #[arg(long, env = "REFRACT_REFINE", value_enum, default_value_t = Refine::Hot)]
    pub refine: Refine,

    /// Times a first render is served (hits, store hits, revalidations) before it is refined.
    #[arg(long, env = "REFRACT_REFINE_AFTER", default_value_t = 10)]
    pub refine_after: u32,

    /// Share of the machine's cores refinement may use at once (0–1; at least one render).
    #[arg(long, env = "REFRACT_REFINE_CPU", default_value_t = 0.5, value_parser = parse_share)]
    pub refine_cpu: f64,

    /// The learned operations' runtime and models (`bg-remove`, `crop=auto`, `upscale`): a
    /// directory holding `libonnxruntime.so` and the models (`u2netp.onnx` or your own
    /// `foreground.onnx`; `realesr-animevideov3-x4.onnx` or your own `upscale.onnx`), checked
    /// at start. Default: the ones `make deps` installs; `off` turns the operations off.
    #[arg(long = "models", env = "REFRACT_MODELS")]
    pub models: Option<String>,

    /// Largest estimated cost of a learned result (a mask, an upscale) computed while the
    /// request waits; dearer ones are deferred: the request gets the plain render at once, with
    /// a first render's short max-age, and a background job computes the result.
    #[arg(long, env = "REFRACT_LEARNED_INLINE", default_value = "300ms", value_parser = parse_duration)]
    pub learned_inline: Duration,

    /// Share of the machine's cores model inference may use (0–1; at least one thread).
    #[arg(long, env = "REFRACT_LEARNED_CPU", default_value_t = 0.5, value_parser = parse_share)]
    pub learned_cpu: f64,

    /// `Cache-Control: max-age` of a first render (with as long again of
    /// `stale-while-revalidate`), so a CDN comes back for the refined variant.
    #[arg(long, env = "REFRACT_FIRST_MAX_AGE", default_value = "1h", value_parser = parse_duration)]
    pub first_max_age: Duration,

    /// RabbitMQ (`amqp://user:pass@host:5672/%2f`): every upload publishes `image.uploaded` there
    /// (through the `--outbox`).
    #[arg(long = "queue", env = "REFRACT_QUEUE", hide_env_values = true)]
    pub queue: Option<String>,

    /// Topic exchange upload events are published to.
    #[arg(
        long,
        env = "REFRACT_EVENTS_EXCHANGE",
        default_value = "refract.events"
    )]
    pub events_exchange: String,

    /// Directory upload events and jobs wait in until the broker confirms them (needed with
    /// `--queue` and `--upload`; put it on a persistent volume: what is in it has not been
    /// published yet).
    #[arg(long, env = "REFRACT_OUTBOX")]
    pub outbox: Option<PathBuf>,

    /// Also take background jobs from the queue in this process (`refract worker` always does).
    #[arg(long, env = "REFRACT_CONSUME", requires = "queue")]
    pub consume: bool,

    /// Jobs a worker takes from the queue before acknowledging any (they run concurrently).
    #[arg(long, env = "REFRACT_WORKER_PREFETCH", default_value_t = 2)]
    pub worker_prefetch: u16,

    /// Deliveries of a failing job before it goes to `refract.jobs.dead`.
    #[arg(long, env = "REFRACT_JOB_ATTEMPTS", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub job_attempts: u32,

    /// Input formats accepted, comma-separated (jpeg, png, webp, gif, avif, heic, tiff); others
    /// answer 415. HEIC needs the host's libheif (Debian: libheif1); leave it out to refuse HEVC
    /// (see the README on patents).
    #[arg(long, env = "REFRACT_FORMATS", default_value = "jpeg,png,webp,gif,avif,heic,tiff",
          value_parser = crate::encoding::format::Inputs::parse)]
    pub formats: crate::encoding::format::Inputs,

    /// Transforms running at once [default: number of CPUs].
    #[arg(long, env = "REFRACT_MAX_CONCURRENCY")]
    pub max_concurrency: Option<usize>,

    /// Requests that may wait for a transform slot; beyond that, 503 with Retry-After at once.
    #[arg(long, env = "REFRACT_MAX_QUEUE", default_value_t = 64)]
    pub max_queue: usize,

    /// A transform's decode running longer than this is abandoned (503).
    #[arg(long, env = "REFRACT_TRANSFORM_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub transform_timeout: Duration,

    /// Longest path plus query accepted (414 beyond).
    #[arg(long, env = "REFRACT_MAX_URL_BYTES", default_value = "8KiB", value_parser = parse_size)]
    pub max_url_bytes: u64,

    /// Largest request head (request line and headers) accepted (431 beyond; at least 8KiB).
    #[arg(long, env = "REFRACT_MAX_HEADER_BYTES", default_value = "16KiB", value_parser = parse_size)]
    pub max_header_bytes: u64,

    /// Key for signed URLs; repeat (or comma-separate in the variable) to accept several during
    /// a rotation. When set, unsigned image requests are refused.
    #[arg(
        long = "sign-key",
        env = "REFRACT_SIGN_KEYS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub sign_keys: Vec<String>,

    /// Include the `{GPS}` group (where a photo was taken) in `fm=json` answers. Off by default:
    /// a location is personal data an uploader may not mean to publish.
    #[arg(long, env = "REFRACT_JSON_GPS")]
    pub json_gps: bool,

    /// More fonts for `txt` (TrueType/OpenType files in DIR), beside the ones `make deps`
    /// unpacks (DejaVu and Liberation, from Debian's packages). Repeatable. Only these are ever
    /// used: the host's own fonts are not.
    #[arg(long = "fonts", env = "REFRACT_FONTS", value_delimiter = ',')]
    pub fonts: Vec<PathBuf>,

    /// How `s` is computed: `hmac` (HMAC-SHA256, the default) or `imgix` (imgix's MD5 token
    /// signature, so URLs signed by imgix's libraries verify unchanged during a migration; weaker,
    /// see the README).
    #[arg(long, env = "REFRACT_SIGN_SCHEME", value_enum, default_value_t = Scheme::Hmac)]
    pub sign_scheme: Scheme,

    /// Open client connections; further connections are closed at once.
    #[arg(long, env = "REFRACT_MAX_CONNECTIONS", default_value_t = 10_000)]
    pub max_connections: usize,

    /// Time a client has to send its request headers.
    #[arg(long, env = "REFRACT_HEADER_READ_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub header_read_timeout: Duration,

    /// Longest a response may wait for a client to read any of it (between two writes that
    /// make progress, as nginx's send_timeout): a client that stops reading is dropped.
    #[arg(long, env = "REFRACT_SEND_TIMEOUT", default_value = "60s", value_parser = parse_duration)]
    pub send_timeout: Duration,

    /// On SIGTERM/SIGINT, how long in-flight requests may take to finish.
    #[arg(long, env = "REFRACT_SHUTDOWN_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub shutdown_timeout: Duration,

    /// Only answer image requests that carry this header with this value, e.g.
    /// `X-Origin-Verify=SECRET` set by the CDN, so clients cannot bypass it. Repeatable.
    #[arg(long = "require-header", env = "REFRACT_REQUIRE_HEADERS", value_delimiter = ',', hide_env_values = true, value_parser = parse_header_pair)]
    pub require_headers: Vec<(String, String)>,

    /// Bearer token required for /analytics (open when unset) and for POST /admin/purge
    /// (refused when unset).
    #[arg(long, env = "REFRACT_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,

    /// How many of the most requested originals /analytics tracks (memory is fixed by this).
    #[arg(long, env = "REFRACT_ANALYTICS_TOP", default_value_t = 100)]
    pub analytics_top: usize,

    /// Serve /metrics on this address instead of the public port (recommended in production).
    #[arg(long, env = "REFRACT_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,

    /// Access-log format on stdout: json (one object per line) or text.
    #[arg(long, env = "REFRACT_LOG_FORMAT", value_enum, default_value = "json")]
    pub log_format: crate::observe::access_log::LogFormat,

    /// Write the access log (one line per image request on stdout).
    #[arg(long, env = "REFRACT_ACCESS_LOG", default_value_t = true, action = clap::ArgAction::Set)]
    pub access_log: bool,

    /// Log level for diagnostics on stderr: error, warn, info, debug or trace.
    #[arg(long, env = "REFRACT_LOG_LEVEL", default_value = "info")]
    pub log_level: tracing::Level,

    /// A named parameter set: `NAME=QUERY` (e.g. `thumb=w=200&h=200&fit=crop`), used as
    /// `?preset=NAME`; parameters in the URL override it. Repeatable (`;`-separated in the
    /// variable).
    #[arg(long = "preset", env = "REFRACT_PRESETS", value_delimiter = ';', value_parser = parse_preset)]
    pub presets: Vec<(String, String)>,

    /// Refuse every request that is not `?preset=NAME` (plus a signature).
    #[arg(long, env = "REFRACT_PRESETS_ONLY")]
    pub presets_only: bool,

    /// Accept uploads at `POST /upload` (JWT with the `upload` scope; see --jwt-*).
    #[arg(long, env = "REFRACT_UPLOAD")]
    pub upload: bool,

    /// The mount uploads are stored in: a file or s3 source's prefix (`/` is --root).
    #[arg(long, env = "REFRACT_UPLOAD_TO", default_value = "/")]
    pub upload_to: String,

    /// Largest upload, enforced while the body streams in (413 beyond).
    #[arg(long, env = "REFRACT_MAX_UPLOAD_BYTES", default_value = "50MB", value_parser = parse_size)]
    pub max_upload_bytes: u64,

    /// HS256 secret for upload tokens (at least 32 bytes).
    #[arg(long, env = "REFRACT_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,

    /// PEM public key for upload tokens: RSA (RS256) or EC P-256 (ES256).
    #[arg(long, env = "REFRACT_JWT_PUBLIC_KEY")]
    pub jwt_public_key: Option<PathBuf>,

    /// JWKS file of public keys for upload tokens, chosen by `kid`.
    #[arg(long, env = "REFRACT_JWT_JWKS")]
    pub jwt_jwks: Option<PathBuf>,

    /// Required `iss` of upload tokens.
    #[arg(long, env = "REFRACT_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,

    /// Required `aud` of upload tokens.
    #[arg(long, env = "REFRACT_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,

    /// Base of the public URLs handed back for uploads, e.g. `https://img.example.com`
    /// (relative URLs without it).
    #[arg(long, env = "REFRACT_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Serve a demo page at `/`: every image under --root as a responsive `<img srcset>`, a
    /// `<picture>` and a client-hints example. For trying Refract out; leave off in production.
    #[arg(long, env = "REFRACT_DEMO")]
    pub demo: bool,

    /// A TOML file of settings (keys are these flags' names); flags on the command line win.
    #[arg(long, env = "REFRACT_CONFIG")]
    pub config: Option<PathBuf>,

    /// Validate the configuration, print it, and exit.
    #[arg(long, env = "REFRACT_CHECK_CONFIG")]
    pub check_config: bool,
}

/// Validated configuration: everything [`crate::App`] needs, with defaults applied.
#[derive(Debug, Clone)]
pub struct Config {
    /// Listen address.
    pub listen: SocketAddr,
    /// Directory of originals mounted at `/`, when `--root` is used.
    pub root: Option<PathBuf>,
    /// Mounted stores: (prefix, URL), `--root` included as `/` → `file://DIR`.
    pub sources: Vec<(String, String)>,
    /// Where HTTP and proxy sources may connect.
    pub net: crate::source::net::NetPolicy,
    /// Fetch timeout.
    pub source_timeout: Duration,
    /// Originals cache capacity in bytes.
    pub originals_cache_size: u64,
    /// Originals revalidation interval.
    pub originals_revalidate_after: Duration,
    /// Masters cache capacity in bytes (0: off).
    pub master_cache_size: u64,
    /// The durable variant store's URL, when configured.
    pub variant_store: Option<String>,
    /// Slowest variant-store read before it counts as a miss.
    pub variant_store_timeout: Duration,
    /// The width ladder and quality list.
    pub bounds: crate::request::Bounds,
    /// Cache capacity in bytes.
    pub cache_size: u64,
    /// Cache entry lifetime.
    pub cache_ttl: Duration,
    /// `max-age` for images.
    pub max_age: Duration,
    /// `max-age` for 4xx answers.
    pub error_max_age: Duration,
    /// Output dimension cap.
    pub max_dimension: u32,
    /// `--strict-params`: bad values and repeats are 400s, not ignored.
    pub strict_params: bool,
    /// Source pixel cap.
    pub max_pixels: u64,
    /// Source byte cap.
    pub max_source_bytes: u64,
    /// Source frame cap.
    pub max_frames: u32,
    /// Input formats accepted.
    pub formats: crate::encoding::format::Inputs,
    /// Variants rendered in the background after each upload (query strings).
    pub eager: Vec<String>,
    /// Background jobs that may wait.
    pub background_queue: usize,
    /// Background refinement of first renders.
    pub refine: Refine,
    /// `refract worker`: takes jobs, answers no requests, so it sends RabbitMQ nothing but
    /// refinement announcements (no outbox).
    pub worker: bool,
    /// Times a first render is served before it is refined.
    pub refine_after: u32,
    /// Refinement renders allowed at once (from `--refine-cpu` and the cores).
    pub refine_permits: usize,
    /// `max-age` of first renders.
    pub first_max_age: Duration,
    /// The learned models' directory; `None`: the operations are off.
    pub models: Option<std::path::PathBuf>,
    /// Whether `models` was named on the command line (then a broken directory stops the
    /// start; the built-in one missing only turns the operations off).
    pub models_named: bool,
    /// Longest learned computation done inline.
    pub learned_inline: Duration,
    /// ONNX Runtime threads per inference (from `--learned-cpu` and the cores).
    pub learned_threads: usize,
    /// RabbitMQ URL for upload events.
    pub queue: Option<String>,
    /// Exchange upload events are published to.
    pub events_exchange: String,
    /// Outbox directory for upload events and jobs.
    pub outbox: Option<PathBuf>,
    /// Take background jobs from the queue.
    pub consume: bool,
    /// Unacknowledged jobs a worker holds.
    pub worker_prefetch: u16,
    /// Deliveries before a job is dead-lettered.
    pub job_attempts: u32,
    /// Transform permits.
    pub max_concurrency: usize,
    /// Requests allowed to wait for a permit.
    pub max_queue: usize,
    /// Per-transform decode deadline.
    pub transform_timeout: Duration,
    /// Cap on path + query bytes.
    pub max_url_bytes: usize,
    /// Cap on the request head.
    pub max_header_bytes: usize,
    /// Keys that verify signed URLs; empty means signatures are not required.
    pub sign_keys: Secrets,
    /// How signatures are computed.
    pub sign_scheme: Scheme,
    /// `fm=json` includes GPS fields.
    pub json_gps: bool,
    /// Font folders `txt` renders with, beside the built-in ones.
    pub fonts: Vec<PathBuf>,
    /// Separate address for /metrics; `None` serves it on the public port.
    pub metrics_listen: Option<SocketAddr>,
    /// Bearer token for /analytics.
    pub admin_token: Secrets,
    /// Headers (lower-case name, value) every image request must carry.
    pub require_headers: RequiredHeaders,
    /// Size of the analytics top-K.
    pub analytics_top: usize,
    /// Access-log format.
    pub log_format: crate::observe::access_log::LogFormat,
    /// Whether the access log is written.
    pub access_log: bool,
    /// Connection cap.
    pub max_connections: usize,
    /// Header read timeout.
    pub header_read_timeout: Duration,
    /// Longest wait for a client to take any more of a response.
    pub send_timeout: Duration,
    /// Graceful shutdown budget.
    pub shutdown_timeout: Duration,
    /// Serve the demo page at `/`.
    pub demo: bool,
    /// Upload settings, when `--upload` is on.
    pub upload: Option<UploadConfig>,
    /// Named parameter sets, and whether only they are served.
    pub presets: crate::request::Presets,
}

/// Validated upload settings.
#[derive(Debug, Clone)]
pub struct UploadConfig {
    /// Token verification keys.
    pub auth: crate::upload::Authenticator,
    /// Mount prefix uploads go to.
    pub to: String,
    /// Body cap.
    pub max_bytes: u64,
    /// Base of public URLs.
    pub public_url: Option<String>,
}

/// Secrets (signing keys, the admin token), kept out of logs and `--check-config` output.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secrets(pub Vec<String>);

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{} key(s), redacted]", self.0.len())
    }
}

/// Required request headers; values are secrets and stay out of logs.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct RequiredHeaders(pub Vec<(String, String)>);

impl std::fmt::Debug for RequiredHeaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.0.iter().map(|(n, _)| n.as_str()).collect();
        write!(f, "{names:?} (values redacted)")
    }
}

impl Config {
    /// Validate raw arguments.
    pub fn from_args(args: &ServeArgs) -> Result<Config, String> {
        let mut sources = Vec::new();
        if let Some(root) = &args.root {
            if !root.is_dir() {
                return Err(format!("--root {}: not a directory", root.display()));
            }
            sources.push(("/".to_owned(), format!("file://{}", root.display())));
        }
        sources.extend(args.sources.iter().cloned());
        if sources.is_empty() {
            return Err(
                "no originals configured: pass --root DIR or --source PREFIX=URL (or REFRACT_ROOT)"
                    .into(),
            );
        }
        let allow_hosts = args
            .allow_hosts
            .iter()
            .map(|h| crate::source::net::AllowedHost::parse(h))
            .collect::<Result<Vec<_>, _>>()?;
        if args.source_timeout.is_zero() {
            return Err("--source-timeout must be positive".into());
        }
        if args.max_dimension == 0 || args.max_dimension > 65_535 {
            return Err("--max-dimension must be from 1 to 65535".into());
        }
        if args.max_pixels == 0 {
            return Err("--max-pixels must be positive".into());
        }
        if args.max_source_bytes == 0 {
            return Err("--max-source-bytes must be positive".into());
        }
        if args.max_connections == 0 {
            return Err("--max-connections must be positive".into());
        }
        if args.cache_ttl.is_zero() {
            return Err("--cache-ttl must be positive".into());
        }
        if args.max_frames == 0 {
            return Err("--max-frames must be positive".into());
        }
        if args.variant_store_timeout.is_zero() {
            return Err("--variant-store-timeout must be positive".into());
        }
        if args.transform_timeout.is_zero() {
            return Err("--transform-timeout must be positive".into());
        }
        if args.max_url_bytes < 64 {
            return Err("--max-url-bytes must be at least 64".into());
        }
        if args.max_header_bytes < 8192 {
            return Err("--max-header-bytes must be at least 8KiB".into());
        }
        if args.sign_keys.iter().any(|k| k.len() < 16) {
            return Err("--sign-key: keys must be at least 16 bytes".into());
        }
        let max_concurrency = match args.max_concurrency {
            Some(0) => return Err("--max-concurrency must be positive".into()),
            Some(n) => n,
            None => num_cpus(),
        };
        Ok(Config {
            listen: args.listen,
            root: args.root.clone(),
            sources,
            net: crate::source::net::NetPolicy {
                allow_hosts,
                allow_private: args.allow_private_sources,
                pins: args.resolve.iter().cloned().collect(),
                trusted_hosts: Vec::new(),
            },
            source_timeout: args.source_timeout,
            originals_cache_size: args.originals_cache_size,
            originals_revalidate_after: args.originals_revalidate_after,
            master_cache_size: args.master_cache_size,
            variant_store: args.variant_store.clone(),
            variant_store_timeout: args.variant_store_timeout,
            bounds: crate::request::Bounds::new(
                &args.widths,
                args.snap_widths,
                &args.qualities,
                args.snap_qualities,
            )?,
            cache_size: args.cache_size,
            cache_ttl: args.cache_ttl,
            max_age: args.max_age,
            error_max_age: args.error_max_age,
            max_dimension: args.max_dimension,
            strict_params: args.strict_params,
            max_pixels: args.max_pixels,
            max_source_bytes: args.max_source_bytes,
            max_frames: args.max_frames,
            formats: args.formats,
            eager: args.eager.clone(),
            background_queue: args.background_queue,
            refine: args.refine,
            worker: false,
            refine_after: args.refine_after.max(1),
            refine_permits: refine_permits(args.refine_cpu, num_cpus()),
            first_max_age: args.first_max_age,
            models: match args.models.as_deref() {
                Some("off") => None,
                Some(dir) => Some(std::path::PathBuf::from(dir)),
                None => Some(std::path::PathBuf::from(
                    crate::transform::models::BUILTIN_DIR,
                )),
            },
            models_named: args.models.as_deref().is_some_and(|d| d != "off"),
            learned_inline: args.learned_inline,
            learned_threads: refine_permits(args.learned_cpu, num_cpus()),
            queue: args.queue.clone(),
            events_exchange: args.events_exchange.clone(),
            outbox: args.outbox.clone(),
            consume: args.consume,
            worker_prefetch: args.worker_prefetch,
            job_attempts: args.job_attempts,
            max_concurrency,
            max_queue: args.max_queue,
            transform_timeout: args.transform_timeout,
            max_url_bytes: usize::try_from(args.max_url_bytes).unwrap_or(usize::MAX),
            max_header_bytes: usize::try_from(args.max_header_bytes).unwrap_or(usize::MAX),
            sign_keys: Secrets(args.sign_keys.clone()),
            sign_scheme: args.sign_scheme,
            json_gps: args.json_gps,
            fonts: args.fonts.clone(),
            metrics_listen: args.metrics_listen,
            admin_token: Secrets(args.admin_token.iter().cloned().collect()),
            require_headers: RequiredHeaders(args.require_headers.clone()),
            analytics_top: args.analytics_top.max(1),
            log_format: args.log_format,
            access_log: args.access_log,
            max_connections: args.max_connections,
            header_read_timeout: args.header_read_timeout,
            send_timeout: args.send_timeout,
            shutdown_timeout: args.shutdown_timeout,
            demo: args.demo,
            upload: upload_config(args)?,
            presets: crate::request::Presets::new(&args.presets, args.presets_only)?,
        })
    }

    /// Defaults for serving `root` (what `refract serve --root DIR` would give, ignoring the
    /// environment). Handy for tests and embedding.
    pub fn for_root(root: impl Into<PathBuf>) -> Config {
        let mut args = ServeArgs::defaults();
        args.root = Some(root.into());
        Config::from_args(&args).expect("default configuration is valid")
    }
}

/// The upload settings, validated, when `--upload` is on.
fn upload_config(args: &ServeArgs) -> Result<Option<UploadConfig>, String> {
    if !args.upload {
        return Ok(None);
    }
    let auth = crate::upload::Authenticator::new(
        args.jwt_secret.as_deref(),
        args.jwt_public_key.as_deref(),
        args.jwt_jwks.as_deref(),
        args.jwt_issuer.clone(),
        args.jwt_audience.clone(),
    )?;
    if args.max_upload_bytes == 0 {
        return Err("--max-upload-bytes must be positive".into());
    }
    if let Some(url) = &args.public_url {
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(format!("--public-url {url}: expected an http(s) URL"));
        }
    }
    Ok(Some(UploadConfig {
        auth,
        to: crate::source::mounts::normalise_prefix(&args.upload_to)?,
        max_bytes: args.max_upload_bytes,
        public_url: args.public_url.clone(),
    }))
}

impl ServeArgs {
    /// Every flag at its clap default, without reading the environment.
    pub fn defaults() -> ServeArgs {
        use clap::FromArgMatches as _;
        let command = ServeArgs::augment_args(clap::Command::new("serve"))
            .mut_args(|arg| arg.env(None::<&str>));
        let matches = command
            .try_get_matches_from(["serve"])
            .expect("every serve flag has a default or is optional");
        ServeArgs::from_arg_matches(&matches).expect("defaults parse")
    }
}

/// Parse `PREFIX=URL` for `--source`.
pub fn parse_source(s: &str) -> Result<(String, String), String> {
    let (prefix, url) = s
        .split_once('=')
        .ok_or_else(|| format!("'{s}': expected PREFIX=URL, e.g. /s3=s3://bucket/"))?;
    crate::source::mounts::normalise_prefix(prefix)?;
    if !url.contains("://") {
        return Err(format!(
            "'{s}': the URL needs a scheme (file://, s3://, https://, proxy://)"
        ));
    }
    Ok((prefix.trim().to_owned(), url.trim().to_owned()))
}

/// Parse `NAME=QUERY` for `--preset` (the query may itself contain `=`).
pub fn parse_preset(s: &str) -> Result<(String, String), String> {
    let (name, query) = s
        .split_once('=')
        .ok_or_else(|| format!("'{s}': expected NAME=QUERY, e.g. thumb=w=200&h=200&fit=crop"))?;
    Ok((
        name.trim().to_owned(),
        query.trim().trim_start_matches('?').to_owned(),
    ))
}

/// Parse `HOST=IP` for `--resolve`.
pub fn parse_pin(s: &str) -> Result<(String, std::net::IpAddr), String> {
    let (host, ip) = s
        .split_once('=')
        .ok_or_else(|| format!("'{s}': expected HOST=IP"))?;
    let ip = ip
        .trim()
        .parse()
        .map_err(|_| format!("'{s}': '{ip}' is not an IP address"))?;
    Ok((host.trim().to_ascii_lowercase(), ip))
}

/// Parse `NAME=VALUE` for `--require-header`; the name is lower-cased.
pub fn parse_header_pair(s: &str) -> Result<(String, String), String> {
    let (name, value) = s
        .split_once('=')
        .ok_or_else(|| format!("'{s}': expected NAME=VALUE"))?;
    let name = name.trim().to_ascii_lowercase();
    hyper::header::HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| format!("'{name}' is not a valid header name"))?;
    if value.is_empty() {
        return Err(format!("'{s}': the value may not be empty"));
    }
    Ok((name, value.to_owned()))
}

/// Parse a byte size: `100000`, `50MB` (decimal), `256MiB` (binary), `1.5GiB`, `64k`.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a size (e.g. 100000, 50MB, 256MiB)"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "m" | "mb" => 1_000_000,
        "g" | "gb" => 1_000_000_000,
        "t" | "tb" => 1_000_000_000_000,
        "ki" | "kib" => 1 << 10,
        "mi" | "mib" => 1 << 20,
        "gi" | "gib" => 1 << 30,
        "ti" | "tib" => 1 << 40,
        other => return Err(format!("'{s}': unknown unit '{other}'")),
    };
    let bytes = value * mult as f64;
    if !bytes.is_finite() || bytes < 0.0 || bytes > u64::MAX as f64 {
        return Err(format!("'{s}' is out of range"));
    }
    Ok(bytes.round() as u64)
}

/// Parse a count with an optional decimal suffix: `50000000`, `50M`, `50MP`, `1.5G`.
pub fn parse_count(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let t = t
        .strip_suffix("MP")
        .map(|n| format!("{n}M"))
        .unwrap_or_else(|| t.to_owned());
    if t.to_ascii_lowercase().contains('i') {
        return Err(format!("'{s}': counts take decimal units (K, M, G)"));
    }
    parse_size(&t)
}

/// Parse a duration with humantime: `3s`, `500ms`, `1h`, `1y`. A plain number means seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if let Ok(secs) = t.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    humantime::parse_duration(t).map_err(|e| format!("'{s}' is not a duration (e.g. 3s, 1h): {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refinement_gets_a_share_of_the_cores_and_at_least_one() {
        assert_eq!(refine_permits(0.5, 2), 1);
        assert_eq!(refine_permits(0.5, 16), 8);
        assert_eq!(refine_permits(0.1, 2), 1);
        assert_eq!(refine_permits(1.0, 4), 4);
        assert!(
            parse_share("0").is_err() && parse_share("1.5").is_err() && parse_share("x").is_err()
        );
        assert_eq!(parse_share("0.25"), Ok(0.25));
    }
    use clap::CommandFactory;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("100000").unwrap(), 100_000);
        assert_eq!(parse_size("50MB").unwrap(), 50_000_000);
        assert_eq!(parse_size("256MiB").unwrap(), 256 << 20);
        assert_eq!(parse_size("1.5GiB").unwrap(), 3 << 29);
        assert_eq!(parse_size("64k").unwrap(), 64_000);
        assert_eq!(parse_size(" 10 kb ").unwrap(), 10_000);
        assert!(parse_size("ten").is_err());
        assert!(parse_size("10XB").is_err());
        assert!(parse_size("-5").is_err());
    }

    #[test]
    fn counts_and_durations() {
        assert_eq!(parse_count("50M").unwrap(), 50_000_000);
        assert_eq!(parse_count("50MP").unwrap(), 50_000_000);
        assert!(parse_count("50MiB").is_err());
        assert_eq!(parse_duration("3s").unwrap(), Duration::from_secs(3));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("1y").unwrap().as_secs(), 31_557_600);
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn sources_and_pins() {
        assert_eq!(
            parse_source("/s3=s3://bucket/originals/").unwrap(),
            ("/s3".to_owned(), "s3://bucket/originals/".to_owned())
        );
        assert!(parse_source("s3://bucket").is_err());
        assert!(parse_source("/a b=file:///x").is_err());
        assert!(parse_source("/x=/srv").is_err());
        assert_eq!(
            parse_pin("Example.com=127.0.0.1").unwrap(),
            ("example.com".to_owned(), "127.0.0.1".parse().unwrap())
        );
        assert!(parse_pin("example.com=nope").is_err());
    }

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn defaults_ignore_the_environment() {
        let d = ServeArgs::defaults();
        assert_eq!(d.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(d.cache_size, 256 << 20);
        assert_eq!(d.max_pixels, 50_000_000);
        assert_eq!(d.max_source_bytes, 50_000_000);
        assert_eq!(d.max_dimension, 8192);
        assert!(d.root.is_none());
    }

    #[test]
    fn validation_names_the_flag() {
        let mut a = ServeArgs::defaults();
        assert!(Config::from_args(&a).unwrap_err().contains("--root"));
        a.sources = vec![parse_source("/s3=s3://bucket/").unwrap()];
        a.allow_hosts = vec!["bad host!".into()];
        assert!(Config::from_args(&a).unwrap_err().contains("--allow-host"));
        a.sources.clear();
        a.allow_hosts.clear();
        a.root = Some("/definitely/not/here".into());
        assert!(Config::from_args(&a)
            .unwrap_err()
            .contains("not a directory"));
        a.root = Some(std::env::temp_dir());
        a.max_concurrency = Some(0);
        assert!(Config::from_args(&a)
            .unwrap_err()
            .contains("--max-concurrency"));
    }
}
