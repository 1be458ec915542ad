//! Sign a URL from Rust with Refract's own signer (or read it as a reference implementation).
//!
//! Run: `cargo run --example sign_url -- KEY '/photos/cat.jpg?w=400&fm=auto' [EXPIRES_UNIX]`
//! The same is available as `refract sign --key KEY [--expires-in 1h] URL`.

use refract::request::signature::sign_url;

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(key), Some(url)) = (args.next(), args.next()) else {
        eprintln!("usage: sign_url KEY '/path?query' [EXPIRES_UNIX]");
        std::process::exit(2);
    };
    let expires = args
        .next()
        .map(|t| t.parse().expect("EXPIRES_UNIX is a number"));
    println!("{}", sign_url(key.as_bytes(), &url, expires));
}
