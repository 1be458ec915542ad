//! Uploads: every refusal stores nothing; accepted images get a content-addressed key (same bytes,
//! same key), a public URL that serves with transform parameters, raw and multipart bodies; JWT
//! verification for HS256, RS256, ES256 and JWKS with the classic attacks refused; storage in S3
//! on a real Garage; and the bulk uploader end to end, retries included.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use refract::config::UploadConfig;
use refract::error::Error;
use refract::upload::Authenticator;

use crate::support::fixtures::{gradient_jpeg, half_transparent_png};
use crate::support::garage::Garage;
use crate::support::images::decode;
use crate::support::{base64url, corpus_file, header, metric, refract, spawn_command, TestServer};

const SECRET: &str = "upload-secret-0123456789abcdef-0123456789";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// An HS256 token with `scope` valid for an hour (or `exp` as given).
fn hs256(secret: &str, scope: &str, exp: u64) -> String {
    let claims = serde_json::json!({ "sub": "user-1", "scope": scope, "exp": exp });
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

pub(crate) fn token() -> String {
    hs256(SECRET, "read upload", now() + 3600)
}

fn upload_config(auth: Authenticator, max_bytes: u64) -> UploadConfig {
    UploadConfig {
        auth,
        to: String::new(),
        max_bytes,
        public_url: Some("https://img.example.com".into()),
    }
}

pub(crate) async fn upload_server(max_bytes: u64) -> TestServer {
    TestServer::start(move |c| {
        let auth = Authenticator::new(Some(SECRET), None, None, None, None).unwrap();
        c.upload = Some(upload_config(auth, max_bytes));
        c.max_pixels = 50_000_000;
    })
    .await
}

async fn post(
    s: &TestServer,
    token: Option<&str>,
    content_type: &str,
    body: impl Into<reqwest::Body>,
) -> reqwest::Response {
    let mut req = s
        .client
        .post(format!("{}/upload", s.base))
        .header("content-type", content_type)
        .body(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap()
}

/// Every file under `root`, hidden temporaries included.
fn stored_files(root: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(root, &mut out);
    out
}

fn code(r: &reqwest::Response) -> (u16, String) {
    (r.status().as_u16(), header(r, "x-refract-error"))
}

#[tokio::test]
async fn every_refusal_leaves_nothing_stored() {
    let s = upload_server(300_000).await;
    let jpeg = gradient_jpeg(200, 100);
    let unauthorized = (401, "unauthorized".to_owned());

    let r = post(&s, None, "image/jpeg", jpeg.clone()).await;
    assert_eq!(code(&r), unauthorized);
    assert_eq!(header(&r, "www-authenticate"), "Bearer");
    assert_eq!(header(&r, "cache-control"), "no-store");
    for bad in [
        "not-a-jwt".to_owned(),
        hs256(SECRET, "upload", now() - 3600), // expired
        hs256(
            "another-secret-0123456789abcdef-012",
            "upload",
            now() + 3600,
        ), // wrong key
        // alg: none, no signature.
        format!(
            "{}.{}.",
            base64url(br#"{"alg":"none","typ":"JWT"}"#),
            base64url(format!(r#"{{"scope":"upload","exp":{}}}"#, now() + 3600).as_bytes())
        ),
    ] {
        let r = post(&s, Some(&bad), "image/jpeg", jpeg.clone()).await;
        assert_eq!(code(&r), unauthorized, "{bad}");
    }
    let r = post(
        &s,
        Some(&hs256(SECRET, "read", now() + 3600)),
        "image/jpeg",
        jpeg.clone(),
    )
    .await;
    assert_eq!(code(&r), (403, "scope_missing".into()));

    let r = post(
        &s,
        Some(&token()),
        "image/jpeg",
        b"hello, not an image".to_vec(),
    )
    .await;
    assert_eq!(code(&r), (415, "not_an_image".into()));
    let r = post(&s, Some(&token()), "text/plain", jpeg.clone()).await;
    assert_eq!(code(&r), (415, "not_an_image".into()));
    let svg = corpus_file("hostile/ipx-xss.svg");
    let r = post(&s, Some(&token()), "image/svg+xml", svg).await;
    assert_eq!(code(&r), (415, "not_an_image".into()));

    // Over the cap: declared up front, and streamed with no length at all.
    let big = vec![0xFFu8; 400_000];
    let r = post(&s, Some(&token()), "image/jpeg", big.clone()).await;
    assert_eq!(code(&r), (413, "upload_too_large".into()));
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        big.chunks(50_000).map(|c| Ok(c.to_vec())).collect();
    let stream = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
    let r = post(&s, Some(&token()), "image/jpeg", stream).await;
    assert_eq!(code(&r), (413, "upload_too_large".into()));

    // A decompression bomb: 16383×16383 in 33 KB, refused from its header.
    let bomb = corpus_file("hostile/bombs/thumbor-16383x16383.png");
    let r = post(&s, Some(&token()), "image/png", bomb).await;
    assert_eq!(code(&r), (422, "too_many_pixels".into()));
    // Truncated to its first bytes: not an image we can read.
    let r = post(&s, Some(&token()), "image/jpeg", jpeg[..40].to_vec()).await;
    assert_eq!(code(&r), (415, "not_an_image".into()));

    assert_eq!(
        stored_files(&s.root),
        Vec::<PathBuf>::new(),
        "something was stored"
    );
    let m = s.app.metrics_text().await;
    assert_eq!(
        metric(&m, "refract_uploads_total", &[("result", "unauthorized")]),
        5.0
    );
    assert_eq!(
        metric(&m, "refract_uploads_total", &[("result", "created")]),
        0.0
    );
}

#[tokio::test]
async fn uploads_are_content_addressed_and_serve_with_parameters() {
    let s = upload_server(5_000_000).await;
    let jpeg = gradient_jpeg(640, 480);
    let r = post(&s, Some(&token()), "image/jpeg", jpeg.clone()).await;
    assert_eq!(r.status(), 201);
    let location = header(&r, "location");
    let body: serde_json::Value = r.json().await.unwrap();
    let key = body["key"].as_str().unwrap().to_owned();
    let (fanout, name) = key.split_once('/').unwrap();
    assert_eq!(fanout.len(), 2);
    assert!(name.starts_with(fanout) && name.ends_with(".jpg"), "{key}");
    assert_eq!(name.len(), 32 + 4, "{key}");
    assert!(name[..32].bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(body["url"], format!("https://img.example.com/{key}"));
    assert_eq!(location, format!("https://img.example.com/{key}"));
    assert_eq!(
        (body["width"].as_u64(), body["height"].as_u64()),
        (Some(640), Some(480))
    );
    assert_eq!(body["format"], "jpg");
    assert_eq!(body["bytes"].as_u64(), Some(jpeg.len() as u64));
    assert_eq!(
        body["srcset"],
        format!("https://img.example.com/{key}?w=320&fm=auto 320w, https://img.example.com/{key}?w=640&fm=auto 640w")
    );
    assert_eq!(
        std::fs::read(s.root.join(&key)).unwrap(),
        jpeg,
        "stored byte for byte"
    );

    // The same bytes again, raw or as multipart: the same key, 200, nothing new written.
    let r = post(&s, Some(&token()), "image/jpeg", jpeg.clone()).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["key"],
        key.as_str()
    );
    let form = |bytes: Vec<u8>, name: &str| {
        reqwest::multipart::Form::new()
            .text("title", "holiday")
            .part(
                "file",
                reqwest::multipart::Part::bytes(bytes).file_name(name.to_owned()),
            )
    };
    let r = s
        .client
        .post(format!("{}/upload", s.base))
        .bearer_auth(token())
        .multipart(form(jpeg.clone(), "cat.jpg"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["key"],
        key.as_str()
    );
    let png = half_transparent_png(100, 80);
    let r = s
        .client
        .post(format!("{}/upload", s.base))
        .bearer_auth(token())
        .multipart(form(png, "logo.png"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let png_key = r.json::<serde_json::Value>().await.unwrap()["key"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(png_key.ends_with(".png"));
    let r = s
        .client
        .post(format!("{}/upload", s.base))
        .bearer_auth(token())
        .multipart(reqwest::multipart::Form::new().text("title", "no file"))
        .send()
        .await
        .unwrap();
    assert_eq!(code(&r), (400, "bad_upload".into()));

    // The URL serves, with transform parameters.
    let r = s.get(&format!("/{key}?w=100&fm=webp")).await;
    assert_eq!(r.status(), 200);
    let img = decode(&r.bytes().await.unwrap());
    assert_eq!((img.width, img.height), (100, 75));
    let files = stored_files(&s.root);
    assert_eq!(files.len(), 2, "{files:?}");

    // DELETE needs the delete scope, removes the original and purges its cached variants.
    let delete = |token: String| {
        let url = format!("{}/{key}", s.base);
        let client = s.client.clone();
        async move { client.delete(url).bearer_auth(token).send().await.unwrap() }
    };
    let r = delete(token()).await;
    assert_eq!(code(&r), (403, "scope_missing".into()));
    let deleter = hs256(SECRET, "delete", now() + 3600);
    assert_eq!(delete(deleter.clone()).await.status(), 204);
    assert!(!s.root.join(&key).exists());
    let r = s.get(&format!("/{key}?w=100&fm=webp")).await;
    assert_eq!(
        code(&r),
        (404, "not_found".into()),
        "the cached variant was purged"
    );
    assert_eq!(delete(deleter).await.status(), 404);
    assert_eq!(stored_files(&s.root).len(), 1);
    let m = s.app.metrics_text().await;
    assert_eq!(
        metric(&m, "refract_uploads_total", &[("result", "created")]),
        2.0
    );
    assert_eq!(
        metric(&m, "refract_uploads_total", &[("result", "exists")]),
        2.0
    );
}

/// RSA and EC key pairs made with openssl: (private PEM, public PEM path).
fn openssl_keys(dir: &Path) -> ((Vec<u8>, PathBuf), (Vec<u8>, PathBuf)) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    run(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        "rsa.pem",
    ]);
    run(&["pkey", "-in", "rsa.pem", "-pubout", "-out", "rsa.pub.pem"]);
    run(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        "ec.pem",
    ]);
    run(&[
        "pkcs8", "-topk8", "-nocrypt", "-in", "ec.pem", "-out", "ec8.pem",
    ]);
    run(&["pkey", "-in", "ec.pem", "-pubout", "-out", "ec.pub.pem"]);
    (
        (
            std::fs::read(dir.join("rsa.pem")).unwrap(),
            dir.join("rsa.pub.pem"),
        ),
        (
            std::fs::read(dir.join("ec8.pem")).unwrap(),
            dir.join("ec.pub.pem"),
        ),
    )
}

fn signed(
    alg: Algorithm,
    key: &EncodingKey,
    kid: Option<&str>,
    claims: serde_json::Value,
) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, &claims, key).unwrap()
}

#[test]
fn rs256_es256_and_jwks_verify_and_confusions_fail() {
    let dir = tempfile::tempdir().unwrap();
    let ((rsa_private, rsa_public), (ec_private, ec_public)) = openssl_keys(dir.path());
    let rsa = EncodingKey::from_rsa_pem(&rsa_private).unwrap();
    let ec = EncodingKey::from_ec_pem(&ec_private).unwrap();
    let claims = serde_json::json!({ "scope": ["upload"], "exp": now() + 600, "iss": "users", "aud": "refract" });
    let ok =
        |auth: &Authenticator, token: &str| auth.verify(Some(&format!("Bearer {token}")), "upload");

    let by_rsa = Authenticator::new(None, Some(&rsa_public), None, None, None).unwrap();
    assert!(ok(
        &by_rsa,
        &signed(Algorithm::RS256, &rsa, None, claims.clone())
    )
    .is_ok());
    // Algorithm confusion: HS256 "signed" with the RSA public key as the secret.
    let public_pem = std::fs::read(&rsa_public).unwrap();
    let confused = signed(
        Algorithm::HS256,
        &EncodingKey::from_secret(&public_pem),
        None,
        claims.clone(),
    );
    assert!(matches!(
        ok(&by_rsa, &confused),
        Err(Error::Unauthorized(_))
    ));
    // An EC token where only RSA is configured.
    assert!(ok(
        &by_rsa,
        &signed(Algorithm::ES256, &ec, None, claims.clone())
    )
    .is_err());

    let by_ec = Authenticator::new(None, Some(&ec_public), None, None, None).unwrap();
    assert!(ok(&by_ec, &signed(Algorithm::ES256, &ec, None, claims.clone())).is_ok());

    // JWKS: the RSA key by kid, built from the public modulus.
    let modulus = Command::new("openssl")
        .args(["rsa", "-pubin", "-in"])
        .arg(&rsa_public)
        .args(["-modulus", "-noout"])
        .output()
        .unwrap();
    let hex = String::from_utf8(modulus.stdout).unwrap();
    let hex = hex.trim().trim_start_matches("Modulus=");
    let n: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    let jwks = serde_json::json!({ "keys": [{ "kty": "RSA", "kid": "k1", "use": "sig", "alg": "RS256", "n": base64url(&n), "e": "AQAB" }] });
    let jwks_path = dir.path().join("jwks.json");
    std::fs::write(&jwks_path, jwks.to_string()).unwrap();
    let by_jwks = Authenticator::new(
        None,
        None,
        Some(&jwks_path),
        Some("users".into()),
        Some("refract".into()),
    )
    .unwrap();
    assert!(ok(
        &by_jwks,
        &signed(Algorithm::RS256, &rsa, Some("k1"), claims.clone())
    )
    .is_ok());
    assert!(ok(
        &by_jwks,
        &signed(Algorithm::RS256, &rsa, Some("k2"), claims.clone())
    )
    .is_err());
    let mut wrong_aud = claims.clone();
    wrong_aud["aud"] = "someone-else".into();
    assert!(ok(
        &by_jwks,
        &signed(Algorithm::RS256, &rsa, Some("k1"), wrong_aud)
    )
    .is_err());
    let mut future = claims.clone();
    future["nbf"] = (now() + 600).into();
    assert!(ok(
        &by_jwks,
        &signed(Algorithm::RS256, &rsa, Some("k1"), future)
    )
    .is_err());
    let mut no_exp = claims.clone();
    no_exp.as_object_mut().unwrap().remove("exp");
    assert!(ok(
        &by_jwks,
        &signed(Algorithm::RS256, &rsa, Some("k1"), no_exp)
    )
    .is_err());
    // Within the leeway, an expired token still passes.
    let mut just_expired = claims;
    just_expired["exp"] = (now() - 5).into();
    assert!(ok(
        &by_jwks,
        &signed(Algorithm::RS256, &rsa, Some("k1"), just_expired)
    )
    .is_ok());

    assert!(Authenticator::new(Some("short"), None, None, None, None).is_err());
    assert!(Authenticator::new(None, None, None, None, None).is_err());
}

#[tokio::test]
async fn uploads_land_in_s3_on_garage() {
    let garage = Garage::start();
    let root = tempfile::tempdir().unwrap();
    let mut cmd = refract();
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--access-log", "false"])
        .args(["--root", root.path().to_str().unwrap()])
        .args(["--source", &format!("/s3=s3://{}/uploads/", garage.bucket)])
        .args(["--upload", "--upload-to", "/s3"])
        .env("REFRACT_JWT_SECRET", SECRET)
        .envs(garage.env())
        .stdout(Stdio::null());
    let (mut child, addr, _) = spawn_command(cmd);
    let jpeg = gradient_jpeg(300, 200);
    let client = reqwest::Client::new();
    let r = client
        .post(format!("http://{addr}/upload"))
        .bearer_auth(token())
        .header("content-type", "image/jpeg")
        .body(jpeg.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let body: serde_json::Value = r.json().await.unwrap();
    let key = body["key"].as_str().unwrap();
    assert!(key.starts_with("s3/"), "{key}");
    assert_eq!(body["url"], format!("/{key}"));
    // In the bucket under the source's prefix, byte for byte (read back by another client).
    let stored = garage.get(&format!("uploads/{}", &key[3..])).await;
    assert_eq!(stored, jpeg);
    assert!(
        stored_files(root.path()).is_empty(),
        "nothing written locally"
    );
    let r = client
        .get(format!("http://{addr}/{key}?w=150"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(decode(&r.bytes().await.unwrap()).width, 150);
    child.kill().unwrap();
    child.wait().unwrap();
}

/// `refract serve --upload` over `root` on `listen` (HS256 tokens with [`SECRET`]).
fn upload_serve(root: &Path, listen: &str) -> (std::process::Child, String) {
    let mut serve = refract();
    serve
        .args([
            "serve",
            "--listen",
            listen,
            "--access-log",
            "false",
            "--upload",
        ])
        .args(["--root", root.to_str().unwrap()])
        .env("REFRACT_JWT_SECRET", SECRET)
        .stdout(Stdio::null());
    let (child, addr, _) = spawn_command(serve);
    (child, addr)
}

fn uploader(server: &str, token: &str, paths: &[&Path]) -> Command {
    let mut cmd = refract();
    cmd.args(["upload", "--server", server, "--json", "--concurrency", "3"])
        .env("REFRACT_UPLOAD_TOKEN", token)
        .args(paths);
    cmd
}

#[tokio::test]
async fn the_bulk_uploader_uploads_skips_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let photos = dir.path().join("photos");
    std::fs::create_dir_all(photos.join("nested")).unwrap();
    std::fs::write(photos.join("a.jpg"), gradient_jpeg(320, 200)).unwrap();
    std::fs::write(photos.join("copy-of-a.jpg"), gradient_jpeg(320, 200)).unwrap();
    std::fs::write(photos.join("nested/b.png"), half_transparent_png(64, 64)).unwrap();
    std::fs::write(photos.join("notes.txt"), b"shopping list").unwrap();

    let root = tempfile::tempdir().unwrap();
    let (mut child, addr) = upload_serve(root.path(), "127.0.0.1:0");
    let server = format!("http://{addr}");

    let out = uploader(&server, &token(), &[&photos]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4, "{lines:?}");
    let status = |s: &str| lines.iter().filter(|l| l["status"] == s).count();
    assert_eq!(
        (status("created"), status("exists"), status("skipped")),
        (2, 1, 1),
        "{lines:?}"
    );
    let skipped = lines.iter().find(|l| l["status"] == "skipped").unwrap();
    assert!(skipped["path"].as_str().unwrap().ends_with("notes.txt"));
    let mut keys: Vec<&str> = lines
        .iter()
        .filter_map(|l| l["upload"]["key"].as_str())
        .collect();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(keys.len(), 2, "the two identical files share a key");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("2 uploaded, 1 already there, 1 skipped, 0 failed"),
        "{stderr}"
    );

    // A token without the upload scope: every file fails, no retries, exit code 1.
    let weak = hs256(SECRET, "read", now() + 3600);
    let out = uploader(&server, &weak, &[&photos.join("a.jpg")])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"status\":\"failed\""));
    child.kill().unwrap();
    child.wait().unwrap();

    // The server is not up yet: the uploader retries with backoff until it is.
    let port = crate::support::free_port();
    let late_root = tempfile::tempdir().unwrap();
    let mut upload = uploader(
        &format!("http://127.0.0.1:{port}"),
        &token(),
        &[&photos.join("nested")],
    );
    let pending = upload
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    let (mut late, _) = upload_serve(late_root.path(), &format!("127.0.0.1:{port}"));
    let out = pending.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"status\":\"created\""));
    assert_eq!(stored_files(late_root.path()).len(), 1);
    late.kill().unwrap();
    late.wait().unwrap();
}

/// kill -9 while uploads are in flight: after a restart no temporary or partial file is left,
/// every stored file is a whole image whose name is its own hash, and every upload that got a
/// 201 is served byte for byte.
#[tokio::test]
async fn kill_9_mid_upload_leaves_no_partial_file_and_keeps_every_201() {
    use sha2::{Digest, Sha256};
    let root = tempfile::tempdir().unwrap();
    let (mut child, addr) = upload_serve(root.path(), "127.0.0.1:0");
    // Distinct ~200 KB JPEGs, sent slowly enough that some are mid-body when the kill lands.
    let images: Vec<Vec<u8>> = (0..24)
        .map(|i| crate::support::fixtures::noise_jpeg(520, 400, i))
        .collect();
    let client = reqwest::Client::new();
    let mut tasks = tokio::task::JoinSet::new();
    for (i, image) in images.iter().cloned().enumerate() {
        let (client, url) = (client.clone(), format!("http://{addr}/upload"));
        tasks.spawn(async move {
            // Stagger starts, and trickle each body in chunks.
            tokio::time::sleep(Duration::from_millis(15 * i as u64)).await;
            let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
                image.chunks(16 * 1024).map(|c| Ok(c.to_vec())).collect();
            let body =
                futures_util::StreamExt::then(futures_util::stream::iter(chunks), |c| async {
                    tokio::time::sleep(Duration::from_millis(3)).await;
                    c
                });
            let r = client
                .post(url)
                .bearer_auth(token())
                .header("content-type", "image/jpeg")
                .body(reqwest::Body::wrap_stream(body))
                .send()
                .await;
            match r {
                Ok(r) if r.status() == 201 => {
                    let v: serde_json::Value = r.json().await.unwrap();
                    Some((i, v["key"].as_str().unwrap().to_owned()))
                }
                _ => None,
            }
        });
    }
    // Kill once a few uploads have been answered and others are still streaming.
    let mut created = Vec::new();
    while let Some(done) = tasks.join_next().await {
        if let Some(ok) = done.unwrap() {
            created.push(ok);
        }
        if created.len() >= 5 {
            break;
        }
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    while let Some(done) = tasks.join_next().await {
        if let Some(ok) = done.unwrap() {
            created.push(ok);
        }
    }
    assert!(
        created.len() >= 5 && created.len() < images.len(),
        "kill landed mid-batch: {}",
        created.len()
    );

    let (mut child, addr) = upload_serve(root.path(), "127.0.0.1:0");
    assert!(
        !root.path().join(".refract-tmp").exists()
            || stored_files(&root.path().join(".refract-tmp")).is_empty(),
        "temporaries cleaned at start-up"
    );
    for file in stored_files(root.path()) {
        let bytes = std::fs::read(&file).unwrap();
        let name = file.file_stem().unwrap().to_str().unwrap();
        let digest: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert!(
            digest.starts_with(name),
            "{} is not whole: hash {digest}",
            file.display()
        );
        decode(&bytes);
    }
    for (i, key) in &created {
        let r = reqwest::get(format!("http://{addr}/{key}")).await.unwrap();
        assert_eq!(r.status(), 200, "{key}");
        let served = decode(&r.bytes().await.unwrap());
        assert_eq!((served.width, served.height), (520, 400), "{key}");
        let stored = std::fs::read(root.path().join(key)).unwrap();
        assert!(
            stored == images[*i],
            "{key}: stored bytes differ from the upload"
        );
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

/// `DELETE /{key}` also purges the original's variants from the durable variant store: one
/// prefix, the others' variants untouched.
#[tokio::test]
async fn delete_purges_the_originals_stored_variants() {
    let store = tempfile::tempdir().unwrap();
    let url = format!("file://{}", store.path().display());
    let s = TestServer::start(move |c| {
        let auth = Authenticator::new(Some(SECRET), None, None, None, None).unwrap();
        c.upload = Some(upload_config(auth, 5_000_000));
        c.variant_store = Some(url);
    })
    .await;
    let mut keys = Vec::new();
    for jpeg in [gradient_jpeg(640, 480), gradient_jpeg(320, 240)] {
        let r = post(&s, Some(&token()), "image/jpeg", jpeg).await;
        assert_eq!(r.status(), 201);
        let body: serde_json::Value = r.json().await.unwrap();
        keys.push(body["key"].as_str().unwrap().to_owned());
    }
    for key in &keys {
        for q in ["w=100&fm=webp", "w=120&fm=jpg"] {
            assert_eq!(s.get(&format!("/{key}?{q}")).await.status(), 200);
        }
    }
    let store_api = s.app.renderer().origin().store().unwrap();
    store_api.flush(Duration::from_secs(30)).await;
    let folder = |key: &str| store.path().join("v1").join(refract::store::purge_tag(key));
    let count = |key: &str| std::fs::read_dir(folder(key)).map_or(0, |d| d.count());
    assert_eq!((count(&keys[0]), count(&keys[1])), (2, 2));
    let deleter = hs256(SECRET, "delete", now() + 3600);
    let r = s
        .client
        .delete(format!("{}/{}", s.base, keys[0]))
        .bearer_auth(deleter)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!((count(&keys[0]), count(&keys[1])), (0, 2));
    let m = s.app.metrics_text().await;
    assert_eq!(
        metric(&m, "refract_variant_store_total", &[("result", "purged")]),
        2.0
    );
}

#[tokio::test]
async fn phone_heic_uploads_are_kept_as_heic_and_served_as_any_format() {
    let s = upload_server(5_000_000).await;
    let heic = corpus_file("formats/heic/pillowheif-pug.heic");
    let r = post(&s, Some(&token()), "image/heic", heic.clone()).await;
    assert_eq!(r.status(), 201, "{}", header(&r, "x-refract-error"));
    let body: serde_json::Value = r.json().await.unwrap();
    let key = body["key"].as_str().unwrap().to_owned();
    assert!(key.ends_with(".heic"), "{key}");
    assert_eq!(body["format"], "heic");
    assert_eq!(
        (body["width"].as_u64(), body["height"].as_u64()),
        (Some(4032), Some(3024))
    );
    assert_eq!(std::fs::read(s.root.join(&key)).unwrap(), heic);
    for fm in ["jpg", "webp", "avif"] {
        let r = s.get(&format!("/{key}?w=320&fm={fm}")).await;
        assert_eq!(r.status(), 200, "{fm}");
        let d = decode(&r.bytes().await.unwrap());
        assert_eq!((d.width, d.height), (320, 240), "{fm}");
    }
}

#[tokio::test]
async fn eager_variants_are_rendered_after_an_upload_so_first_visits_hit() {
    let s = TestServer::start(move |c| {
        let auth = Authenticator::new(Some(SECRET), None, None, None, None).unwrap();
        c.upload = Some(upload_config(auth, 5_000_000));
        c.eager = vec!["w=320&fm=webp".into(), "w=160&fm=auto".into()];
    })
    .await;
    let jpeg = gradient_jpeg(640, 480);
    let r = post(&s, Some(&token()), "image/jpeg", jpeg).await;
    assert_eq!(r.status(), 201);
    let key = r.json::<serde_json::Value>().await.unwrap()["key"]
        .as_str()
        .unwrap()
        .to_owned();
    // Wait for the background job (one per upload), bounded.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let text = s.app.metrics_text().await;
        let labels = [("kind", "eager"), ("result", "done")];
        if metric(&text, "refract_background_jobs_total", &labels) >= 1.0 {
            break;
        }
        assert_eq!(
            metric(
                &text,
                "refract_background_jobs_total",
                &[("kind", "eager"), ("result", "failed")]
            ),
            0.0
        );
        assert!(
            std::time::Instant::now() < deadline,
            "eager job never finished"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Every eager variant is a hit on its first request — fm=auto for each Accept class.
    for (query, accept) in [
        ("w=320&fm=webp", "*/*"),
        ("w=160&fm=auto", "image/avif,image/webp,*/*"),
        ("w=160&fm=auto", "image/webp,*/*"),
        ("w=160&fm=auto", "*/*"),
    ] {
        let r = s
            .get_with(&format!("/{key}?{query}"), &[("accept", accept)])
            .await;
        assert_eq!(r.status(), 200);
        assert_eq!(header(&r, "x-refract-cache"), "hit", "{query} ({accept})");
    }
    // Anything else renders on demand.
    let r = s.get(&format!("/{key}?w=200&fm=webp")).await;
    assert_eq!(header(&r, "x-refract-cache"), "miss");
}

#[test]
fn a_bad_eager_query_is_a_start_up_error() {
    let mut config = refract::Config::for_root(std::env::temp_dir());
    config.eager = vec!["w=banana".into()];
    let err = refract::App::new(config).err().expect("refused");
    assert!(err.contains("--eager w=banana"), "{err}");
}
