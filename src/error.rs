//! The one error type. Every failure a request can meet is a variant here, and each variant knows
//! its HTTP status, its short public message, its stable code (for logs and metrics) and whose
//! fault it was. Turning an error into a response happens in one place: `server::response`.

use std::fmt;

/// Who caused a failure: tells "fix your URL" from "the original is broken" from "page us".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blame {
    /// The request was wrong (bad parameter, bad path).
    Client,
    /// The original, or the store holding it, was missing, broken or unreachable.
    Source,
    /// Refract itself (a bug, or libvips failing on a valid image).
    Server,
}

/// Everything that can go wrong while answering a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// A known query parameter has a malformed or out-of-range value.
    BadParam {
        /// Parameter name as given in the URL.
        param: &'static str,
        /// What was wrong, in a few words.
        reason: String,
    },
    /// A known parameter asks past an operator's limit (`w` beyond `--max-dimension`): a
    /// `bad_param` like [`Error::BadParam`], but refused even where unreadable values are
    /// ignored.
    OverLimit {
        /// Parameter name (canonical).
        param: &'static str,
        /// What was wrong, in a few words.
        reason: String,
    },
    /// A parameter imgix's rendering API defines that this server does not implement: refused,
    /// so a URL written for imgix never gets a silently different image.
    UnsupportedParam(String),
    /// The path is not a valid key (traversal, NUL, bad encoding...).
    BadPath(String),
    /// No original under this key.
    NotFound,
    /// The original is larger than `--max-source-bytes`.
    SourceTooLarge {
        /// The configured cap.
        limit: u64,
    },
    /// The original's header declares more pixels than `--max-pixels`.
    TooManyPixels {
        /// Width × height × frames declared by the header.
        pixels: u64,
        /// The configured cap.
        limit: u64,
    },
    /// The original declares more frames than `--max-frames`.
    TooManyFrames {
        /// Frames declared by the header.
        frames: u32,
        /// The configured cap.
        limit: u32,
    },
    /// The original is not in a format we decode.
    UnsupportedFormat,
    /// The original claims a supported format but cannot be decoded (corrupt or truncated).
    Undecodable(String),
    /// The store holding originals failed (I/O error, 5xx, refused credentials).
    SourceFailed(String),
    /// The store did not answer within `--source-timeout`.
    SourceTimeout,
    /// The original is in an archive storage class (S3 Glacier Flexible Retrieval or Deep
    /// Archive) and must be restored before it can be read.
    SourceArchived,
    /// The URL or address is not one this origin fetches from (allow-list, private address,
    /// scheme, credentials in the URL). The detail is for the log.
    SourceNotAllowed(String),
    /// The method is not GET or HEAD.
    MethodNotAllowed,
    /// The request message itself is malformed (RFC 9112: an HTTP/1.1 request without exactly
    /// one valid `Host`).
    BadRequest(&'static str),
    /// Path and query together are longer than the cap.
    UriTooLong {
        /// The configured cap in bytes.
        limit: usize,
    },
    /// `--require-header` is set and the request lacks the header or its value.
    OriginHeader,
    /// Signing keys are configured and the URL carries no signature.
    SignatureMissing,
    /// The signature does not match the URL under any configured key.
    SignatureInvalid,
    /// The signed URL's `expires` time has passed.
    Expired,
    /// An upload without a valid bearer token (missing, malformed, expired, wrong key).
    Unauthorized(&'static str),
    /// The token is valid but lacks the scope the endpoint needs.
    ScopeMissing(String),
    /// The upload body is larger than `--max-upload-bytes`.
    UploadTooLarge {
        /// The configured cap.
        limit: u64,
    },
    /// The upload is not an image we decode.
    NotAnImage,
    /// The upload request is malformed (no `file` field, bad multipart, wrong content type).
    BadUpload(String),
    /// Every transform slot is busy and the wait queue is full.
    Overloaded,
    /// The transform ran past `--transform-timeout` and was abandoned.
    Timeout,
    /// The durable variant store failed an operation that cannot fall back to rendering (a
    /// purge). Reads and writes never produce this: they count and carry on.
    StoreFailed(String),
    /// A learned model failed to load or run (the detail names it; logged, not shown).
    ModelFailed(String),
    /// A learned result (`bg-remove`, `upscale`) is being computed and the URL asked for no
    /// fallback (`*-fallback=false`): imgix's 423.
    LearnedPending(&'static str),
    /// A learned operation cannot be done for this original and the URL asked for no fallback.
    LearnedRefused {
        /// The parameter.
        param: &'static str,
        /// Why.
        reason: String,
    },
    /// A failure on our side.
    Internal(String),
}

impl Error {
    /// HTTP status code.
    pub fn status(&self) -> u16 {
        match self {
            Error::BadParam { .. }
            | Error::OverLimit { .. }
            | Error::UnsupportedParam(_)
            | Error::BadPath(_)
            | Error::BadUpload(_) => 400,
            Error::Unauthorized(_) => 401,
            Error::ScopeMissing(_) => 403,
            Error::UploadTooLarge { .. } => 413,
            Error::NotAnImage => 415,
            Error::SignatureMissing
            | Error::SignatureInvalid
            | Error::OriginHeader
            | Error::SourceNotAllowed(_) => 403,
            Error::NotFound => 404,
            Error::MethodNotAllowed => 405,
            Error::BadRequest(_) => 400,
            Error::SourceArchived => 409,
            Error::Expired => 410,
            Error::UriTooLong { .. } => 414,
            Error::SourceTooLarge { .. }
            | Error::TooManyPixels { .. }
            | Error::TooManyFrames { .. }
            | Error::UnsupportedFormat
            | Error::Undecodable(_) => 422,
            Error::SourceFailed(_) | Error::StoreFailed(_) => 502,
            Error::SourceTimeout => 504,
            Error::Internal(_) | Error::ModelFailed(_) => 500,
            Error::LearnedPending(_) => 423,
            Error::LearnedRefused { .. } => 422,
            Error::Overloaded | Error::Timeout => 503,
        }
    }

    /// Stable, machine-readable code: used in the response body, logs and metric labels.
    pub fn code(&self) -> &'static str {
        match self {
            Error::BadParam { .. } | Error::OverLimit { .. } => "bad_param",
            Error::UnsupportedParam(_) => "unsupported_param",
            Error::BadPath(_) => "bad_path",
            Error::NotFound => "not_found",
            Error::SourceTooLarge { .. } => "source_too_large",
            Error::TooManyPixels { .. } => "too_many_pixels",
            Error::TooManyFrames { .. } => "too_many_frames",
            Error::UnsupportedFormat => "unsupported_format",
            Error::Undecodable(_) => "undecodable",
            Error::SourceFailed(_) => "source_failed",
            Error::SourceTimeout => "source_timeout",
            Error::SourceArchived => "source_archived",
            Error::SourceNotAllowed(_) => "source_not_allowed",
            Error::MethodNotAllowed => "method_not_allowed",
            Error::BadRequest(_) => "bad_request",
            Error::UriTooLong { .. } => "uri_too_long",
            Error::OriginHeader => "origin_header",
            Error::SignatureMissing => "signature_missing",
            Error::SignatureInvalid => "signature_invalid",
            Error::Expired => "expired",
            Error::Overloaded => "overloaded",
            Error::Timeout => "timeout",
            Error::Internal(_) => "internal",
            Error::ModelFailed(_) => "model_failed",
            Error::LearnedPending(_) => "learned_pending",
            Error::LearnedRefused { .. } => "learned_refused",
            Error::StoreFailed(_) => "store_failed",
            Error::Unauthorized(_) => "unauthorized",
            Error::ScopeMissing(_) => "scope_missing",
            Error::UploadTooLarge { .. } => "upload_too_large",
            Error::NotAnImage => "not_an_image",
            Error::BadUpload(_) => "bad_upload",
        }
    }

    /// Whose fault it was.
    pub fn blame(&self) -> Blame {
        match self {
            Error::BadParam { .. }
            | Error::OverLimit { .. }
            | Error::UnsupportedParam(_)
            | Error::BadPath(_)
            | Error::MethodNotAllowed
            | Error::BadRequest(_)
            | Error::UriTooLong { .. }
            | Error::SignatureMissing
            | Error::SignatureInvalid
            | Error::OriginHeader
            | Error::SourceNotAllowed(_)
            | Error::Unauthorized(_)
            | Error::ScopeMissing(_)
            | Error::UploadTooLarge { .. }
            | Error::NotAnImage
            | Error::BadUpload(_)
            | Error::LearnedPending(_)
            | Error::Expired => Blame::Client,
            Error::NotFound
            | Error::SourceTooLarge { .. }
            | Error::TooManyPixels { .. }
            | Error::TooManyFrames { .. }
            | Error::UnsupportedFormat
            | Error::Undecodable(_)
            | Error::SourceFailed(_)
            | Error::SourceTimeout
            | Error::SourceArchived
            | Error::LearnedRefused { .. } => Blame::Source,
            Error::Internal(_)
            | Error::ModelFailed(_)
            | Error::StoreFailed(_)
            | Error::Overloaded
            | Error::Timeout => Blame::Server,
        }
    }

    /// The one-line reason shown to clients. Never includes internal details (paths, libvips
    /// messages); those go to the log through `Display`.
    pub fn public_message(&self) -> String {
        match self {
            Error::BadParam { param, reason } | Error::OverLimit { param, reason } => {
                format!("{param}: {reason}")
            }
            Error::UnsupportedParam(param) => {
                format!("{param}: an imgix parameter or value this server does not implement")
            }
            Error::BadPath(reason) => format!("bad path: {reason}"),
            Error::NotFound => "no image under this key".into(),
            Error::SourceTooLarge { limit } => format!("original is larger than {limit} bytes"),
            Error::TooManyPixels { pixels, limit } => {
                format!("original has {pixels} pixels, more than the limit of {limit}")
            }
            Error::TooManyFrames { frames, limit } => {
                format!("original has {frames} frames, more than the limit of {limit}")
            }
            Error::UnsupportedFormat => "original is not an image format we decode".into(),
            Error::Undecodable(_) => "original image is corrupt or truncated".into(),
            Error::SourceFailed(_) => "could not read the original".into(),
            Error::SourceTimeout => "the store holding the original did not answer in time".into(),
            Error::SourceArchived => {
                "the original is archived and must be restored before it can be served".into()
            }
            Error::SourceNotAllowed(_) => "this origin does not fetch from that address".into(),
            Error::MethodNotAllowed => "only GET and HEAD are allowed".into(),
            Error::BadRequest(why) => (*why).into(),
            Error::UriTooLong { limit } => format!("path and query are longer than {limit} bytes"),
            Error::OriginHeader => "this origin only answers its CDN".into(),
            Error::SignatureMissing => "this origin only serves signed URLs".into(),
            Error::SignatureInvalid => "the signature does not match this URL".into(),
            Error::Expired => "this signed URL has expired".into(),
            Error::Overloaded => "too busy, try again shortly".into(),
            Error::Timeout => "the transform took too long".into(),
            Error::Internal(_) => "internal error".into(),
            Error::ModelFailed(_) => "the learned model failed on this image".into(),
            Error::LearnedPending(param) => {
                format!("{param}: the result is being computed; try again shortly")
            }
            Error::LearnedRefused { param, reason } => format!("{param}: {reason}"),
            Error::StoreFailed(_) => "the variant store failed".into(),
            Error::Unauthorized(why) => format!("authorization required: {why}"),
            Error::ScopeMissing(scope) => format!("the token lacks the '{scope}' scope"),
            Error::UploadTooLarge { limit } => format!("upload is larger than {limit} bytes"),
            Error::NotAnImage => "the upload is not an image format we decode".into(),
            Error::BadUpload(why) => format!("bad upload: {why}"),
        }
    }

    /// Seconds a client should wait before retrying (`Retry-After`), for errors that pass.
    pub fn retry_after(&self) -> Option<u32> {
        match self {
            Error::Overloaded => Some(1),
            Error::Timeout | Error::SourceTimeout => Some(5),
            _ => None,
        }
    }

    /// `422 learned_refused`: `param` cannot be done for this original, for `reason`.
    pub fn learned_refused(param: &'static str, reason: String) -> Error {
        Error::LearnedRefused { param, reason }
    }

    /// Shorthand for a [`Error::BadParam`].
    pub fn bad_param(param: &'static str, reason: impl Into<String>) -> Self {
        Error::BadParam {
            param,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Undecodable(detail)
            | Error::SourceFailed(detail)
            | Error::SourceNotAllowed(detail)
            | Error::StoreFailed(detail)
            | Error::ModelFailed(detail)
            | Error::Internal(detail) => {
                write!(f, "{}: {}", self.code(), detail)
            }
            _ => write!(f, "{}: {}", self.code(), self.public_message()),
        }
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_tell_client_source_and_server_apart() {
        assert_eq!(Error::bad_param("w", "x").status(), 400);
        assert_eq!(Error::NotFound.status(), 404);
        assert_eq!(Error::Undecodable("eof".into()).status(), 422);
        assert_eq!(Error::SourceFailed("eio".into()).status(), 502);
        assert_eq!(Error::Internal("bug".into()).status(), 500);
        assert_eq!(Error::NotFound.blame(), Blame::Source);
        assert_eq!(Error::BadPath("..".into()).blame(), Blame::Client);
        // The learned operations: a model failing is ours (500, its file kept out of the
        // answer); a result on its way is imgix's 423; one that cannot be done, 422.
        let failed = Error::ModelFailed("/models/u2netp.onnx: bad alloc".into());
        assert_eq!((failed.status(), failed.code()), (500, "model_failed"));
        assert!(!failed.public_message().contains("/models"));
        assert_eq!(failed.blame(), Blame::Server);
        let pending = Error::LearnedPending("bg-remove");
        assert_eq!((pending.status(), pending.code()), (423, "learned_pending"));
        let refused = Error::learned_refused("upscale", "too large".into());
        assert_eq!((refused.status(), refused.code()), (422, "learned_refused"));
        assert_eq!(refused.public_message(), "upscale: too large");
    }

    #[test]
    fn public_message_hides_internal_detail() {
        let e = Error::Undecodable("/srv/images/secret.jpg: VipsJpeg: premature end".into());
        assert!(!e.public_message().contains("/srv"));
        assert!(e.to_string().contains("premature end"));
    }
}
