//! Step 1a': feed HTML to plain text, one paragraph per line.
//!
//! Feed bodies are fragments of simple article markup, and what the
//! deduplicator and the search index need from them is the text and where
//! paragraphs break. html5ever's tokenizer (the WHATWG tokenizer, with its
//! character-reference decoding and raw-text states) gives exactly that
//! without building a DOM or laying out text, which is what made a full
//! renderer the single largest cost of an ingest. The only policy here is
//! which elements end a paragraph and which hide their content.

use std::cell::RefCell;

use html5ever::tendril::StrTendril;
use html5ever::tokenizer::states::RawKind;
use html5ever::tokenizer::{
    BufferQueue, Tag, TagKind, Token, TokenSink, TokenSinkResult, Tokenizer, TokenizerOpts,
};

/// Converts an HTML fragment to plain text: character references decoded,
/// runs of whitespace collapsed to one space, one line per paragraph (block
/// element, list item, table row, `<br>`), no blank lines; the content of
/// `<script>`, `<style>`, `<template>` and the like dropped.
pub fn html_fragment_to_text(input: &str) -> String {
    let sink = TextSink::default();
    let queue = BufferQueue::default();
    queue.push_back(StrTendril::from_slice(input));
    let tokenizer = Tokenizer::new(sink, TokenizerOpts::default());
    // The sink never asks to pause for a script, so one feed consumes all.
    let _ = tokenizer.feed(&queue);
    tokenizer.end();
    let out = tokenizer.sink.out.into_inner();
    out.finish()
}

#[derive(Default)]
struct TextSink {
    out: RefCell<Text>,
}

/// The text built so far.
#[derive(Default)]
struct Text {
    text: String,
    /// A space is owed before the next word of the current line.
    space: bool,
    /// Inside an element whose content is not text (depth, for nesting).
    hidden: usize,
}

impl Text {
    fn push_chars(&mut self, chars: &str) {
        if self.hidden > 0 {
            return;
        }
        // Split at HTML spaces byte by byte: they are ASCII, so they never
        // fall inside a multi-byte character, and no character is decoded.
        let mut start = 0;
        for (i, &b) in chars.as_bytes().iter().enumerate() {
            if is_html_space_byte(b) {
                self.push_word(&chars[start..i]);
                // What follows had whitespace before it.
                self.space = true;
                start = i + 1;
            }
        }
        self.push_word(&chars[start..]);
    }

    /// Appends one word (no HTML space inside), after a space if one is owed.
    fn push_word(&mut self, word: &str) {
        if word.is_empty() {
            return;
        }
        if self.space && !self.at_line_start() {
            self.text.push(' ');
        }
        self.space = false;
        self.text.push_str(word);
    }

    fn at_line_start(&self) -> bool {
        self.text.is_empty() || self.text.ends_with('\n')
    }

    fn break_line(&mut self) {
        if !self.at_line_start() {
            self.text.push('\n');
        }
        self.space = false;
    }

    fn finish(mut self) -> String {
        while self.text.ends_with('\n') {
            self.text.pop();
        }
        self.text
    }
}

/// HTML's ASCII whitespace. Other spaces (no-break, thin…) are text; the
/// normaliser folds them later.
fn is_html_space_byte(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0c)
}

impl TokenSink for TextSink {
    type Handle = ();

    fn process_token(&self, token: Token, _line: u64) -> TokenSinkResult<()> {
        let mut out = self.out.borrow_mut();
        match token {
            Token::CharacterTokens(chars) => out.push_chars(&chars),
            Token::TagToken(tag) => return on_tag(&mut out, &tag),
            _ => {}
        }
        TokenSinkResult::Continue
    }
}

fn on_tag(out: &mut Text, tag: &Tag) -> TokenSinkResult<()> {
    let name: &str = &tag.name;
    if let Some(raw) = hidden_kind(name) {
        return match tag.kind {
            // A self-closed `<script/>` opens nothing in HTML either; the
            // tokenizer must still read its content raw.
            TagKind::StartTag => {
                out.hidden += 1;
                raw.map_or(TokenSinkResult::Continue, TokenSinkResult::RawData)
            }
            TagKind::EndTag => {
                out.hidden = out.hidden.saturating_sub(1);
                TokenSinkResult::Continue
            }
        };
    }
    if breaks_line(name) {
        out.break_line();
    } else if matches!(name, "td" | "th") && tag.kind == TagKind::StartTag {
        // Cells of one row stay on one line, apart.
        out.space = true;
    }
    TokenSinkResult::Continue
}

/// Elements whose content is never article text, and the tokenizer state
/// their content needs (`None`: ordinary markup, hidden all the same).
fn hidden_kind(name: &str) -> Option<Option<RawKind>> {
    match name {
        "script" => Some(Some(RawKind::ScriptData)),
        "style" | "xmp" | "iframe" | "noembed" | "noframes" => Some(Some(RawKind::Rawtext)),
        "textarea" => Some(Some(RawKind::Rcdata)),
        "template" | "svg" | "math" | "object" | "select" | "head" => Some(None),
        _ => None,
    }
}

/// Elements that start and end a paragraph of their own.
fn breaks_line(name: &str) -> bool {
    matches!(
        name,
        "p" | "div"
            | "br"
            | "hr"
            | "li"
            | "ul"
            | "ol"
            | "dl"
            | "dt"
            | "dd"
            | "h1"
            | "h2"
            | "h3"
            | "h4"
            | "h5"
            | "h6"
            | "blockquote"
            | "pre"
            | "table"
            | "tr"
            | "caption"
            | "section"
            | "article"
            | "aside"
            | "header"
            | "footer"
            | "nav"
            | "main"
            | "figure"
            | "figcaption"
            | "address"
            | "details"
            | "summary"
            | "body"
            | "html"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paragraphs_become_lines_and_inline_markup_disappears() {
        let html =
            "<div><p>One &amp; <b>two</b>.</p>\n  <p>Three<br>four <a href='x'>link</a>.</p></div>";
        assert_eq!(html_fragment_to_text(html), "One & two.\nThree\nfour link.");
    }

    #[test]
    fn whitespace_collapses_but_no_break_spaces_stay() {
        assert_eq!(
            html_fragment_to_text("<p>  a \n\t b&nbsp;c  </p>"),
            "a b\u{a0}c"
        );
        assert_eq!(html_fragment_to_text("x<i>y</i> z"), "xy z");
    }

    #[test]
    fn scripts_styles_and_comments_are_not_text() {
        let html = "<p>Before</p><script>var a = '<p>not text</p>';</script><style>p{}</style>\
                    <!-- note --><template><p>hidden</p></template><p>After</p>";
        assert_eq!(html_fragment_to_text(html), "Before\nAfter");
    }

    #[test]
    fn entities_are_decoded_by_the_tokenizer() {
        assert_eq!(
            html_fragment_to_text("<p>&#8220;Quote&#8221; &mdash; &eacute;t&eacute; &zzz;</p>"),
            "\u{201c}Quote\u{201d} \u{2014} \u{e9}t\u{e9} &zzz;"
        );
    }

    #[test]
    fn broken_markup_still_yields_the_text() {
        assert_eq!(
            html_fragment_to_text("<p>open <b>bold <i>both"),
            "open bold both"
        );
        assert_eq!(html_fragment_to_text("a < b > c"), "a < b > c");
        assert_eq!(html_fragment_to_text("<p>x</p></div></p>y"), "x\ny");
        assert_eq!(html_fragment_to_text(""), "");
    }

    #[test]
    fn table_cells_stay_on_their_row() {
        let html = "<table><tr><td>Karachi</td><td>41</td></tr><tr><td>Lahore</td><td>43</td></tr></table>";
        assert_eq!(html_fragment_to_text(html), "Karachi 41\nLahore 43");
    }
}
