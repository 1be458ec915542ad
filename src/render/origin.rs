//! [`Origin`]: where originals come from and where rendered variants are kept for the fleet —
//! the mounted sources (with the originals cache in front of them) and the durable variant
//! store. Not here: rendering ([`super::Renderer`]), the memory cache of variants
//! ([`super::cache`]).

use crate::error::Error;
use crate::request::params::Overlay;
use crate::request::Key;
use crate::source::mounts::FetchedOriginal;
use crate::source::Mounts;
use crate::store::VariantStore;
use crate::transform::overlay::{Layer, Layers};

/// The mounted sources and the variant store.
pub struct Origin {
    mounts: Mounts,
    store: Option<VariantStore>,
}

impl Origin {
    /// Sources mounted by prefix, and the variant store when one is configured.
    pub fn new(mounts: Mounts, store: Option<VariantStore>) -> Origin {
        Origin { mounts, store }
    }

    /// The mounted sources.
    pub fn mounts(&self) -> &Mounts {
        &self.mounts
    }

    /// The durable variant store, when configured.
    pub fn store(&self) -> Option<&VariantStore> {
        self.store.as_ref()
    }

    /// The key a raw request path names, routed to its source and checked by it.
    pub fn key(&self, raw_path: &str) -> Result<Key, Error> {
        self.mounts.key(raw_path)
    }

    /// The original under `key`, through the originals cache.
    pub async fn original(&self, key: &Key) -> Result<FetchedOriginal, Error> {
        self.mounts.fetch_original(key).await
    }

    /// The mounted sources and the variant store, for logs.
    pub fn describe(&self) -> (String, String) {
        (
            self.mounts.describe().join(", "),
            self.store.as_ref().map_or("off".into(), |s| s.describe()),
        )
    }

    /// The overlay image `overlay` names (for `param`), fetched through the mounts as it is —
    /// limits, allow-lists and the originals cache as for any original. One that is not there
    /// is a 400 naming the parameter. (Overlays with parameters of their own are rendered:
    /// `Renderer::layers`.)
    pub async fn layer(&self, param: &'static str, overlay: &Overlay) -> Result<Layer, Error> {
        let key = self.mounts.overlay_key(param, &overlay.source)?;
        let fetched = self
            .mounts
            .fetch_original(&key)
            .await
            .map_err(|e| match e {
                Error::NotFound => {
                    Error::bad_param(param, format!("{} was not found", overlay.source))
                }
                other => other,
            })?;
        Ok(Layer {
            bytes: fetched.bytes(),
            digest: fetched.digest().await?,
            provisional: false,
        })
    }
}

/// The original's digest, combined with its overlays' when there are any (a changed overlay is
/// a new variant: its content names the variant's store location too).
pub fn with_layers(digest: [u8; 32], layers: &Layers) -> [u8; 32] {
    use sha2::Digest as _;
    if layers.blend.is_none() && layers.mark.is_none() {
        return digest;
    }
    let mut hash = sha2::Sha256::new();
    hash.update(digest);
    for layer in [&layers.blend, &layers.mark].into_iter().flatten() {
        hash.update(layer.digest);
    }
    hash.finalize().into()
}
