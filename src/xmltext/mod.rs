//! XML text before any parser sees it: the character encoding
//! ([`charset`]) and entity references ([`entities`]).
//!
//! Feeds and OPML subscription lists break in the same ways (a wrong or
//! missing charset, a bare `&`, an HTML entity XML does not define), so
//! `parse` and `opml` share one sniffer, one repair and one entity table:
//! html5ever's, the WHATWG list browsers use.

pub mod charset;
pub mod entities;
