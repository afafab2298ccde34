//! How an entry's text is kept: once, as plain text, with everything else
//! derived from it or stored as a small difference against it.
//!
//! - `entry.body` is the plain text of the item (its content, else its
//!   summary, through the HTML converter): what people read in
//!   `story_sources.text`, what the full-text index covers (an
//!   external-content FTS5 table reads it from here), and what dedup's
//!   normalised text is derived from.
//! - `entry.content_z` / `entry.summary_z` keep the feed's HTML, zstd
//!   compressed with the body as a raw-content dictionary. HTML is mostly
//!   its own plain text plus markup, so the frame holds little more than the
//!   markup: a few percent of the HTML's size (BENCHMARKS.md, "Text storage").
//! - `entry.norm_z` keeps dedup's normalised text the same way, against the
//!   body with ASCII letters lowered: the normalised text is lower case.
//!
//! A frame decodes only with the exact body it was made against, so the
//! body and its frames are always written together (ingest, edits, the
//! conversion of older databases) and the body never changes alone. Frames
//! carry zstd's checksum: a frame read against the wrong body is an error,
//! never wrong text.

use std::sync::Mutex;

use thiserror::Error;
use zstd::bulk::{Compressor, Decompressor};

/// zstd level for the frames: with the body as dictionary most of each
/// frame is matches, and higher levels buy almost nothing.
const LEVEL: i32 = 3;

/// The most a frame may expand to: the store cuts bodies at
/// [`super::limits::MAX_BODY_BYTES`], so a bigger frame is damage.
const MAX_DECODED: usize = 2 * super::limits::MAX_BODY_BYTES;

/// A stored frame that does not decode.
#[derive(Debug, Error)]
#[error("stored text of entry {entry} does not decode: {reason}")]
pub struct TextError {
    /// The entry.
    pub entry: i64,
    /// What zstd or UTF-8 said.
    pub reason: String,
}

/// The frames of an entry's text as the `entry` table keeps them; the
/// plain body they are made against is the analysis' (`plain_body`), not
/// copied here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct StoredText {
    /// The content's HTML against `body`.
    pub content_z: Option<Vec<u8>>,
    /// The summary's HTML against `body`.
    pub summary_z: Option<Vec<u8>>,
    /// Dedup's normalised text against `body`, lowered.
    pub norm_z: Vec<u8>,
}

impl StoredText {
    /// Encodes an item's HTML and normalised text against its plain body.
    pub(crate) fn encode(
        body: Option<&str>,
        summary: Option<&str>,
        content: Option<&str>,
        norm_text: &str,
    ) -> StoredText {
        let dict = body.unwrap_or_default();
        StoredText {
            content_z: content.map(|html| compress(dict, html)),
            summary_z: summary.map(|html| compress(dict, html)),
            norm_z: encode_norm(body, norm_text),
        }
    }
}

/// Decodes an HTML frame of entry `entry` made against `body`.
pub(crate) fn decode_html(
    entry: i64,
    body: Option<&str>,
    frame: &[u8],
) -> Result<String, TextError> {
    decompress(entry, body.unwrap_or_default(), frame)
}

/// Decodes the normalised-text frame of entry `entry` made against `body`.
pub(crate) fn decode_norm(
    entry: i64,
    body: Option<&str>,
    frame: &[u8],
) -> Result<String, TextError> {
    decompress(entry, &norm_dictionary(body), frame)
}

/// `norm_text` as a frame against `body` (also for an analysis redone on
/// a stored entry, refold, whose body does not change).
pub(crate) fn encode_norm(body: Option<&str>, norm_text: &str) -> Vec<u8> {
    compress(&norm_dictionary(body), norm_text)
}

/// The dictionary of a normalised-text frame: the body with ASCII letters
/// lowered, as the normalised text is (ASCII only, so that it never changes
/// with a Unicode version and old frames keep decoding).
fn norm_dictionary(body: Option<&str>) -> String {
    body.unwrap_or_default().to_ascii_lowercase()
}

/// A stored entry's HTML, decoded.
#[derive(Debug, Clone, Default)]
pub(crate) struct Html {
    /// The plain body the frames were made against.
    pub body: Option<String>,
    /// The item's summary.
    pub summary: Option<String>,
    /// The item's full content.
    pub content: Option<String>,
}

impl Html {
    /// The richest HTML the item has: content, else summary (what the
    /// body was made from, as [`crate::parse::ParsedEntry::body`]).
    pub(crate) fn body_html(&self) -> Option<&str> {
        self.content.as_deref().or(self.summary.as_deref())
    }
}

/// Reads and decodes entry `id`'s HTML. A frame that does not decode is
/// reported as a conversion failure of its column, naming the entry.
pub(crate) fn read_html(conn: &rusqlite::Connection, id: super::EntryId) -> rusqlite::Result<Html> {
    let (body, summary_z, content_z): (Option<String>, Option<Vec<u8>>, Option<Vec<u8>>) = conn
        .prepare_cached("SELECT body, summary_z, content_z FROM entry WHERE id = ?1")?
        .query_row([id.0], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    let decode = |column: usize, frame: Option<Vec<u8>>| {
        frame
            .map(|z| decode_html(id.0, body.as_deref(), &z))
            .transpose()
            .map_err(|e| {
                rusqlite::Error::FromSqlConversionFailure(
                    column,
                    rusqlite::types::Type::Blob,
                    Box::new(e),
                )
            })
    };
    let summary = decode(1, summary_z)?;
    let content = decode(2, content_z)?;
    Ok(Html {
        body,
        summary,
        content,
    })
}

/// Entries converted per transaction by [`convert_batch`].
const CONVERT_BATCH: usize = 2_000;

/// The next entries still in the old form, after id `?1`, at most `?2`.
/// Its condition is the one of the partial index `entry_unconverted`
/// (migration 0014), word for word: SQLite reads that index only for a
/// query whose condition holds the index's own.
pub(crate) const UNCONVERTED_QUERY: &str = "SELECT id, summary, content, norm_text FROM entry
     WHERE id > ?1 AND (summary IS NOT NULL OR content IS NOT NULL OR norm_text IS NOT NULL)
     ORDER BY id LIMIT ?2";

/// Converts up to [`CONVERT_BATCH`] entries stored before migration 0013
/// (HTML in `summary`/`content`, `norm_text` in full) to the stored form of
/// this module, in `tx`; returns how many it converted. An entry is
/// unconverted while one of the old columns holds text, so a conversion cut
/// short by a crash resumes with the next call. `after` is the last id the
/// previous batch converted (0 to start): each batch starts where the
/// previous one stopped instead of reading the converted rows again.
pub(crate) fn convert_batch(
    tx: &rusqlite::Transaction,
    after: &mut i64,
) -> rusqlite::Result<usize> {
    type Old = (i64, Option<String>, Option<String>, Option<String>);
    let rows: Vec<Old> = tx
        .prepare_cached(UNCONVERTED_QUERY)?
        .query_map(rusqlite::params![*after, CONVERT_BATCH as i64], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut update = tx.prepare_cached(
        "UPDATE entry SET body = ?2, content_z = ?3, summary_z = ?4, norm_z = ?5,
            summary = NULL, content = NULL, norm_text = NULL
         WHERE id = ?1",
    )?;
    for (id, summary, content, norm_text) in &rows {
        // The plain text the full-text index held: content, else summary.
        let body = content
            .as_deref()
            .or(summary.as_deref())
            .map(crate::dedup::html_to_text);
        let t = StoredText::encode(
            body.as_deref(),
            summary.as_deref(),
            content.as_deref(),
            norm_text.as_deref().unwrap_or_default(),
        );
        update.execute(rusqlite::params![
            id,
            body,
            t.content_z,
            t.summary_z,
            t.norm_z
        ])?;
    }
    if let Some(last) = rows.last() {
        *after = last.0;
    }
    Ok(rows.len())
}

/// Idle zstd contexts, reused: a context costs ~1 MB of tables to set up,
/// a frame a few microseconds. A shared pool rather than one per thread,
/// because the analyses run on tokio's blocking pool, whose threads come
/// and go: per-thread contexts would pile up with them. The pool holds at
/// most as many contexts as ever compressed at once (one per core).
static COMPRESSORS: Mutex<Vec<Compressor<'static>>> = Mutex::new(Vec::new());
static DECOMPRESSORS: Mutex<Vec<Decompressor<'static>>> = Mutex::new(Vec::new());

/// Takes an idle context from `pool`, or makes one.
fn take<T>(pool: &Mutex<Vec<T>>, make: impl FnOnce() -> std::io::Result<T>) -> std::io::Result<T> {
    let idle = pool.lock().ok().and_then(|mut p| p.pop());
    idle.map_or_else(make, Ok)
}

/// Gives a context back to `pool` for the next frame.
fn give<T>(pool: &Mutex<Vec<T>>, context: T) {
    if let Ok(mut p) = pool.lock() {
        p.push(context);
    }
}

fn compress(dict: &str, text: &str) -> Vec<u8> {
    let attempt = (|| -> std::io::Result<Vec<u8>> {
        let mut c = take(&COMPRESSORS, || {
            let mut c = Compressor::new(LEVEL)?;
            c.set_parameter(zstd::zstd_safe::CParameter::ChecksumFlag(true))?;
            Ok(c)
        })?;
        c.set_dictionary(LEVEL, dict.as_bytes())?;
        let frame = c.compress(text.as_bytes())?;
        give(&COMPRESSORS, c);
        Ok(frame)
    })();
    match attempt {
        Ok(frame) => frame,
        // Compression fails only when zstd cannot allocate. The context is
        // dropped, and the frame made without a dictionary, which decodes
        // whatever dictionary the reader loads.
        Err(e) => {
            tracing::warn!(error = %e, "zstd compression failed; retrying without a dictionary");
            zstd::bulk::compress(text.as_bytes(), LEVEL).unwrap_or_default()
        }
    }
}

fn decompress(entry: i64, dict: &str, frame: &[u8]) -> Result<String, TextError> {
    let fail = |reason: String| TextError { entry, reason };
    let mut d = take(&DECOMPRESSORS, Decompressor::new).map_err(|e| fail(e.to_string()))?;
    d.set_dictionary(dict.as_bytes())
        .map_err(|e| fail(e.to_string()))?;
    // A context that failed on a damaged frame is dropped, not pooled.
    let bytes = d
        .decompress(frame, MAX_DECODED)
        .map_err(|e| fail(e.to_string()))?;
    give(&DECOMPRESSORS, d);
    String::from_utf8(bytes).map_err(|e| fail(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HTML: &str = "<p>ISTANBUL, Feb 27 (AFP) - Envoys met in <b>Istanbul</b> on Thursday.</p>\
                        <p>The talks &amp; the follow-up ran for six hours.</p>";
    const BODY: &str = "ISTANBUL, Feb 27 (AFP) - Envoys met in Istanbul on Thursday.\n\
                        The talks & the follow-up ran for six hours.";

    #[test]
    fn html_and_normalised_text_round_trip_against_the_body() {
        let norm =
            "envoys met in istanbul on thursday. the talks & the follow-up ran for six hours.";
        let t = StoredText::encode(Some(BODY), Some("<p>Envoys met.</p>"), Some(HTML), norm);
        let content = t.content_z.as_deref().expect("content frame");
        assert_eq!(decode_html(1, Some(BODY), content).expect("content"), HTML);
        let summary = t.summary_z.as_deref().expect("summary frame");
        assert_eq!(
            decode_html(1, Some(BODY), summary).expect("summary"),
            "<p>Envoys met.</p>"
        );
        assert_eq!(decode_norm(1, Some(BODY), &t.norm_z).expect("norm"), norm);
    }

    #[test]
    fn a_frame_holds_little_more_than_the_markup() {
        // Text that does not repeat itself, as a news story does not.
        let mut x = 0x9e37_79b9_u64;
        let mut word = || {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let n = 3 + (x >> 61) as usize;
            (0..n)
                .map(|i| char::from(b'a' + ((x >> (i * 6)) % 26) as u8))
                .collect::<String>()
        };
        let body: String = (0..20)
            .map(|_| (0..25).map(|_| word()).collect::<Vec<_>>().join(" ") + ".\n")
            .collect();
        let html: String = body.lines().map(|l| format!("<p>{l}</p>\n")).collect();
        let with_body = compress(&body, &html).len();
        let alone = compress("", &html).len();
        assert!(
            with_body * 10 < alone,
            "against the body {with_body} bytes, alone {alone}"
        );
        assert_eq!(
            decode_html(1, Some(&body), &compress(&body, &html)).expect("decodes"),
            html
        );
    }

    #[test]
    fn a_frame_read_against_another_body_is_an_error_not_wrong_text() {
        let t = StoredText::encode(Some(BODY), None, Some(HTML), "x");
        let content = t.content_z.as_deref().expect("content frame");
        let other = BODY.replace("Thursday", "Saturday");
        let e = decode_html(7, Some(&other), content).expect_err("wrong body");
        assert_eq!(e.entry, 7);
    }

    #[test]
    fn an_item_without_a_body_still_round_trips() {
        let t = StoredText::encode(None, None, None, "embassy talks resume");
        assert_eq!(t.content_z, None);
        assert_eq!(
            decode_norm(3, None, &t.norm_z).expect("norm"),
            "embassy talks resume"
        );
    }
}
