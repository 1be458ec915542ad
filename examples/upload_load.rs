//! A lean upload load generator: `C` keep-alive connections each posting distinct JPEGs to
//! `POST /upload` for `S` seconds, on one thread. Every request is one of the given files with
//! a per-request trailer after the JPEG's end marker (decoders ignore it; the SHA-256, and so
//! the key, differ), sent as one `writev` of head, the file's bytes (shared, never copied in
//! user space) and the trailer — so the generator costs what the kernel's socket copy costs,
//! and leaves the cores it shares with the server to the server. (wrk's Lua builds every body
//! as a new 200 KB string, twice.) `benches/upload-load.sh` runs both.
//!
//! ```sh
//! cargo run --release --example upload_load -- 127.0.0.1:8080 TOKEN 16 10 a.jpg b.jpg ...
//! ```
//!
//! Prints `uploads/s`, the count by status, and the generator's own CPU seconds.

#[path = "../benches/support/cpu.rs"]
mod cpu;

use std::io::IoSlice;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Default)]
struct Counts {
    created: AtomicU64,
    other: AtomicU64,
    errors: AtomicU64,
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 5 {
        eprintln!("usage: upload_load ADDR TOKEN CONNECTIONS SECONDS FILE...");
        std::process::exit(2);
    }
    let addr = args[0].clone();
    let token = args[1].clone();
    let connections: usize = args[2].parse().expect("CONNECTIONS");
    let seconds: u64 = args[3].parse().expect("SECONDS");
    let files: Arc<Vec<Vec<u8>>> = Arc::new(
        args[4..]
            .iter()
            .map(std::fs::read)
            .collect::<Result<_, _>>()?,
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let counts = Arc::new(Counts::default());
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    runtime.block_on(async {
        let tasks: Vec<_> = (0..connections)
            .map(|c| {
                let (addr, token, files, counts) =
                    (addr.clone(), token.clone(), files.clone(), counts.clone());
                tokio::spawn(async move {
                    if let Err(e) = connection(&addr, &token, &files, c, deadline, &counts).await {
                        eprintln!("connection {c}: {e}");
                        counts.errors.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for t in tasks {
            let _ = t.await;
        }
    });
    let wall = started.elapsed().as_secs_f64();
    let created = counts.created.load(Ordering::Relaxed);
    let usage = cpu::cpu_ns() as f64 / 1e9;
    println!(
        "uploads/s {:.0} created {} other {} errors {} wall {:.2} generator_cpu_s {:.2}",
        created as f64 / wall,
        created,
        counts.other.load(Ordering::Relaxed),
        counts.errors.load(Ordering::Relaxed),
        wall,
        usage
    );
    Ok(())
}

/// Post uploads on one connection until `deadline`.
async fn connection(
    addr: &str,
    token: &str,
    files: &[Vec<u8>],
    index: usize,
    deadline: Instant,
    counts: &Counts,
) -> std::io::Result<()> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let mut response = Vec::with_capacity(4096);
    let mut n = 0usize;
    while Instant::now() < deadline {
        let body = &files[(index * 7919 + n) % files.len()];
        let trailer = format!("refract-load:{index}:{n}");
        let head = format!(
            "POST /upload HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n",
            body.len() + trailer.len()
        );
        let mut parts = [
            IoSlice::new(head.as_bytes()),
            IoSlice::new(body),
            IoSlice::new(trailer.as_bytes()),
        ];
        let mut parts = &mut parts[..];
        while !parts.is_empty() {
            let written = stream.write_vectored(parts).await?;
            IoSlice::advance_slices(&mut parts, written);
        }
        let status = read_response(&mut stream, &mut response).await?;
        let counter = if status == 201 {
            &counts.created
        } else {
            &counts.other
        };
        counter.fetch_add(1, Ordering::Relaxed);
        n += 1;
    }
    Ok(())
}

/// Read one Content-Length-framed response; its status.
async fn read_response(stream: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<u16> {
    buf.clear();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let status: u16 = head
                .split(' ')
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                let n = stream.read(&mut chunk).await?;
                if n == 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            return Ok(status);
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}
