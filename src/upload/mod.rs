//! Uploads: `POST /upload` (with `--upload`) takes an image — the raw body (`Content-Type:
//! image/*`) or the `file` field of `multipart/form-data` — from a client holding a JWT with the
//! `upload` scope, and stores it under a content-addressed key in the `--upload-to` mount.
//!
//! Order of checks, so a refused upload stores nothing: token → declared length → body read
//! under `--max-upload-bytes` (413 the moment it is exceeded) → libvips header with the serving
//! allow-list and pixel limits (415 not an image, 422 over the limits) → SHA-256 → store. The
//! store writes atomically and durably ([`crate::source::Source::put`]); the 201 goes out after.
//! Same bytes, same key: retries and duplicate uploads answer 200 with the existing key.
//!
//! [`client`] is the other side: `refract upload`, the bulk uploader.

pub mod auth;
pub mod client;

use bytes::{Bytes, BytesMut};
use futures_util::TryStreamExt as _;
use http_body_util::{BodyExt as _, BodyStream};
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::Request;
use sha2::{Digest, Sha256};

pub use auth::{Authenticator, Claims};

use crate::error::Error;
use crate::request::srcset::UrlBuilder;
use crate::request::Key;
use crate::source::{Mounts, Stored};
use crate::transform::{load, Limits};

/// Widths offered in an upload's ready-made `srcset` (those not wider than the image).
pub const SRCSET_WIDTHS: [u32; 4] = [320, 640, 960, 1280];

/// Hex digits of the SHA-256 kept in a key: 128 bits, collision-free at any realistic volume.
const HASH_HEX: usize = 32;

/// The upload endpoint's configuration and keys.
#[derive(Debug, Clone)]
pub struct Uploads {
    /// Token verification.
    pub auth: Authenticator,
    /// Largest upload body.
    pub max_bytes: u64,
    /// Mount prefix uploads are stored under (normalised, no slashes at the ends).
    pub prefix: String,
    /// Builds the public URL and srcset of a stored key.
    pub urls: UrlBuilder,
    /// Pixel and frame limits (the serving ones).
    pub limits: Limits,
    /// Striped locks: uploads of the same key in this process take turns, so one stores and the
    /// others see it stored (200). Across replicas both may write; the bytes are the same.
    pub locks: std::sync::Arc<Vec<tokio::sync::Mutex<()>>>,
}

/// Number of lock stripes in [`Uploads::locks`].
pub const LOCK_STRIPES: usize = 64;

/// Fresh lock stripes for [`Uploads::locks`].
pub fn lock_stripes() -> std::sync::Arc<Vec<tokio::sync::Mutex<()>>> {
    std::sync::Arc::new(
        (0..LOCK_STRIPES)
            .map(|_| tokio::sync::Mutex::new(()))
            .collect(),
    )
}

/// A stored upload, as the JSON answer describes it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Uploaded {
    /// Key, including the mount prefix: the path of the image URL.
    pub key: String,
    /// Public URL (absolute with `--public-url`; signed when the origin requires signatures).
    pub url: String,
    /// Width after EXIF orientation.
    pub width: u32,
    /// Height after EXIF orientation.
    pub height: u32,
    /// Format (the key's extension).
    pub format: &'static str,
    /// Size of the stored original.
    pub bytes: usize,
    /// A ready `srcset` value (`fm=auto`) for the widths up to the image's own.
    pub srcset: String,
    /// SHA-256 of the stored bytes, lowercase hex.
    pub sha256: String,
    /// Whether this request stored it (`false`: the same bytes were already there).
    #[serde(skip)]
    pub created: bool,
}

impl Uploads {
    /// Verify, read, validate and store one upload.
    pub async fn accept(
        &self,
        mounts: &Mounts,
        req: Request<Incoming>,
    ) -> Result<(Uploaded, Claims), Error> {
        let header = |name| {
            req.headers()
                .get(name)
                .and_then(|v: &hyper::header::HeaderValue| v.to_str().ok())
        };
        let claims = self.auth.verify(header(AUTHORIZATION), "upload")?;
        let too_large = Error::UploadTooLarge {
            limit: self.max_bytes,
        };
        if header(CONTENT_LENGTH)
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|n| n > self.max_bytes.saturating_add(MULTIPART_OVERHEAD))
        {
            return Err(too_large);
        }
        let content_type = header(CONTENT_TYPE).unwrap_or("").to_owned();
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        let declared = header(CONTENT_LENGTH).and_then(|v| v.parse::<u64>().ok());
        let bytes = if essence == "multipart/form-data" {
            self.read_multipart(&content_type, req.into_body()).await?
        } else if essence.starts_with("image/") || essence == "application/octet-stream" {
            self.read_raw(req.into_body(), declared).await?
        } else {
            return Err(Error::NotAnImage);
        };
        let limits = self.limits;
        // The header check and the hash in one trip to the blocking pool (the hash of a few
        // hundred kilobytes would hold an async worker as long as the check).
        let (bytes, info, ext, digest) = tokio::task::spawn_blocking(move || {
            let (info, ext) = inspect(&bytes, &limits)?;
            let digest = crate::encoding::digest::hex(&Sha256::digest(&bytes));
            Ok::<_, Error>((bytes, info, ext, digest))
        })
        .await
        .map_err(|e| Error::Internal(e.to_string()))??;

        let object = format!("{}/{}.{ext}", &digest[..2], &digest[..HASH_HEX]);
        let key = match self.prefix.as_str() {
            "" => object,
            p => format!("{p}/{object}"),
        };
        let key = Key::new(&key)?;
        let size = bytes.len();
        let stripe = usize::from(digest_byte(&digest)) % LOCK_STRIPES;
        let stored = {
            let _turn = self.locks[stripe].lock().await;
            mounts.put(&key, bytes).await?
        };
        let widths: Vec<u32> = SRCSET_WIDTHS
            .iter()
            .copied()
            .filter(|w| *w <= info.size.width)
            .chain((info.size.width < SRCSET_WIDTHS[0]).then_some(info.size.width))
            .collect();
        let auto = UrlBuilder {
            params: "fm=auto".into(),
            ..self.urls.clone()
        };
        Ok((
            Uploaded {
                url: self.urls.url(key.as_str(), ""),
                srcset: auto.srcset(key.as_str(), &widths),
                key: key.as_str().to_owned(),
                width: info.size.width,
                height: info.size.height,
                format: ext,
                bytes: size,
                sha256: digest.clone(),
                created: stored == Stored::Created,
            },
            claims,
        ))
    }

    /// The body as it comes, counted against the cap as it streams in, into one buffer sized by
    /// `Content-Length` when there is one (no regrowing and copying as it arrives).
    async fn read_raw(&self, mut body: Incoming, declared: Option<u64>) -> Result<Bytes, Error> {
        let mut out = BytesMut::with_capacity(declared.unwrap_or(0).min(self.max_bytes) as usize);
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| Error::BadUpload(format!("reading the body: {e}")))?;
            if let Ok(data) = frame.into_data() {
                if (out.len() + data.len()) as u64 > self.max_bytes {
                    return Err(Error::UploadTooLarge {
                        limit: self.max_bytes,
                    });
                }
                out.extend_from_slice(&data);
            }
        }
        Ok(out.freeze())
    }

    /// The `file` field of a multipart body, counted against the cap as it streams in.
    async fn read_multipart(&self, content_type: &str, body: Incoming) -> Result<Bytes, Error> {
        let boundary = multer::parse_boundary(content_type)
            .map_err(|_| Error::BadUpload("multipart/form-data without a boundary".into()))?;
        let stream = BodyStream::new(body)
            .try_filter_map(|frame| async move { Ok::<_, hyper::Error>(frame.into_data().ok()) });
        let limits = multer::Constraints::new().size_limit(
            multer::SizeLimit::new()
                .whole_stream(self.max_bytes.saturating_add(MULTIPART_OVERHEAD))
                .per_field(self.max_bytes),
        );
        let mut multipart = multer::Multipart::with_constraints(stream, boundary, limits);
        let too_large = |e: &multer::Error| {
            matches!(
                e,
                multer::Error::FieldSizeExceeded { .. } | multer::Error::StreamSizeExceeded { .. }
            )
        };
        loop {
            let field = match multipart.next_field().await {
                Ok(Some(field)) => field,
                Ok(None) => return Err(Error::BadUpload("no 'file' field in the form".into())),
                Err(e) if too_large(&e) => {
                    return Err(Error::UploadTooLarge {
                        limit: self.max_bytes,
                    })
                }
                Err(e) => return Err(Error::BadUpload(e.to_string())),
            };
            if field.name() != Some("file") {
                continue;
            }
            return field.bytes().await.map_err(|e| {
                if too_large(&e) {
                    Error::UploadTooLarge {
                        limit: self.max_bytes,
                    }
                } else {
                    Error::BadUpload(e.to_string())
                }
            });
        }
    }
}

/// Room for multipart headers and boundaries on top of the file itself.
const MULTIPART_OVERHEAD: u64 = 64 * 1024;

/// The header checks serving applies, plus the extension the key gets.
fn inspect(bytes: &[u8], limits: &Limits) -> Result<(load::SourceInfo, &'static str), Error> {
    let not_an_image = |e: Error| match e {
        Error::UnsupportedFormat | Error::Undecodable(_) => Error::NotAnImage,
        other => other,
    };
    let info = load::inspect(bytes, limits).map_err(not_an_image)?;
    let ext = info.input.extension();
    Ok((info, ext))
}

fn digest_byte(hex: &str) -> u8 {
    u8::from_str_radix(&hex[..2], 16).unwrap_or(0)
}
