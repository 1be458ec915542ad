//! How bytes and text are named and written: image formats ([`format`](mod@format): URL names, MIME types,
//! signatures), digests as lowercase hex ([`digest`]), and escaping for markup ([`markup`]).
//! Small, pure helpers with no state, shared by the rooms above.
//!
//! May import: nothing of the crate's. Imported by every room that speaks formats or hashes.

pub mod digest;
pub mod format;
pub mod markup;
