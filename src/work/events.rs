//! Upload events: every stored upload publishes `image.uploaded` to a RabbitMQ topic exchange
//! (`--queue amqp://…`, `--events-exchange`, default `refract.events`), so other services —
//! feeds, moderation, search — can react. Events go through the durable [`crate::work::outbox`]: on disk
//! before the upload is answered, deleted once the broker confirms them, so none is lost while the
//! broker is away (delivery is at least once; the event's `id` is its AMQP `message_id`).

use crate::work::outbox::{Lane, Outbox, Topology};

/// Routing key (and `type`) of an upload event.
pub const UPLOADED: &str = "image.uploaded";

/// The outbox lane upload events travel in.
pub fn lane(exchange: &str) -> Lane {
    Lane {
        name: "events",
        exchange: exchange.to_owned(),
        routing_key: UPLOADED.to_owned(),
        kind: UPLOADED,
        topology: Topology::TopicExchange,
    }
}

/// `image.uploaded`: what was stored, for other services.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UploadEvent {
    /// Unique per event (also the AMQP `message_id`); set by [`publish`].
    pub id: String,
    /// `image.uploaded`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The original's key (its URL path without the leading `/`).
    pub key: String,
    /// Its public URL.
    pub url: String,
    /// Width after EXIF orientation.
    pub width: u32,
    /// Height after EXIF orientation.
    pub height: u32,
    /// Format.
    pub format: String,
    /// Size in bytes.
    pub bytes: usize,
    /// SHA-256 of the bytes, lowercase hex.
    pub sha256: String,
    /// When it was stored, Unix seconds.
    pub time: u64,
}

/// Keep `event` in the outbox for publishing (durably: on disk when this returns).
pub async fn publish(outbox: &Outbox, mut event: UploadEvent) -> std::io::Result<()> {
    let id = outbox.next_id();
    event.id = id.clone();
    event.kind = UPLOADED.to_owned();
    outbox
        .put(
            "events",
            id,
            serde_json::to_vec(&event).expect("serialisable"),
        )
        .await
}
