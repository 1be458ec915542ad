//! Embed Refract in your own program: build an `App` from a `Config` and serve it on a listener
//! you own, with your own shutdown signal.
//!
//! Run: `cargo run --example embed -- examples/images`
//! then open http://127.0.0.1:8081/landscape.jpg?w=400&fm=auto

use refract::{server, App, Config};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let root = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "examples/images".into());
    let mut config = Config::for_root(root);
    config.cache_size = 64 << 20; // 64 MiB of rendered variants
    let app = App::new(config).map_err(std::io::Error::other)?;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:8081").await?;
    println!(
        "serving on http://{}/ (Ctrl-C to stop)",
        listener.local_addr()?
    );
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    server::run(listener, app, ctrl_c).await
}
