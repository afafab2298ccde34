//! Step 1d: one spelling per number, unit and month.
//!
//! Outlets restyle the numbers of the copy they carry by house style:
//! "12,500" or "12500" (or "12.500"), "5%" or "5 percent" or "5 per cent",
//! "Rs1.5bn" or "Rs 1.5 billion", "Feb. 27" or "February 27", "27th".
//! Every comparison (shingles, sketches, facts, alignment) reads tokens
//! through [`canonical_tokens`], so those spellings hash alike while the
//! stored text keeps the outlet's own.

use std::borrow::Cow;
use std::iter::Peekable;

use super::fingerprint::token_hash;
use super::normalize::{tokens_of, Tokens};

/// A token as the matcher compares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CanonToken {
    /// Hash of the token's canonical, lower-case spelling.
    pub hash: u64,
    /// A number (see [`super::normalize::Token::number`]).
    pub number: bool,
    /// A probable name (meaningful only when the text kept its case).
    pub name: bool,
    /// Byte offset of the token in the text read.
    pub start: usize,
}

/// The tokens of `text`, a lower-case (normalised) text, with numbers,
/// units and months in one spelling.
pub fn canonical_tokens(text: &str) -> Canonical<'_> {
    Canonical {
        inner: tokens_of(text).peekable(),
        base: text.as_ptr() as usize,
        after_number: false,
        buf: String::new(),
        cased: false,
    }
}

/// [`canonical_tokens`] of a text that kept its case (names are marked,
/// hashes are of the lower-cased tokens).
pub fn canonical_tokens_cased(text: &str) -> Canonical<'_> {
    Canonical {
        cased: true,
        ..canonical_tokens(text)
    }
}

/// Iterator of [`canonical_tokens`].
pub struct Canonical<'a> {
    inner: Peekable<Tokens<'a>>,
    /// Address of the text's first byte: a token's offset is its slice's
    /// address less this.
    base: usize,
    /// The previous token was a number ("3 m" is three million, "27 feb" a date).
    after_number: bool,
    /// Lower-casing scratch space, reused so that no token allocates.
    buf: String,
    /// The text kept its case: tokens are lower-cased before hashing.
    cased: bool,
}

impl Iterator for Canonical<'_> {
    type Item = CanonToken;

    fn next(&mut self) -> Option<CanonToken> {
        let t = self.inner.next()?;
        let start = (t.text.as_ptr() as usize).saturating_sub(self.base);
        let after_number = std::mem::replace(&mut self.after_number, t.number);
        if t.number {
            return Some(CanonToken {
                hash: token_hash(&canonical_number(t.text)),
                number: true,
                name: false,
                start,
            });
        }
        // Stored texts are lower case already: their words need no copy.
        let lower = if !self.cased || t.text.bytes().all(|b| b.is_ascii_lowercase()) {
            t.text
        } else {
            self.buf.clear();
            if t.text.is_ascii() {
                self.buf.push_str(t.text);
                self.buf.make_ascii_lowercase();
            } else {
                self.buf.extend(t.text.chars().flat_map(char::to_lowercase));
            }
            self.buf.as_str()
        };
        let next_is_number = self.inner.peek().is_some_and(|n| n.number);
        let word = match lower {
            "per"
                if self
                    .inner
                    .peek()
                    .is_some_and(|n| n.text.eq_ignore_ascii_case("cent")) =>
            {
                self.inner.next();
                "percent"
            }
            w => canonical_word(w, after_number, next_is_number),
        };
        Some(CanonToken {
            hash: token_hash(word),
            number: false,
            name: t.name,
            start,
        })
    }
}

/// One spelling of a unit word, a currency or (next to a number) a month.
fn canonical_word(w: &str, after_number: bool, next_is_number: bool) -> &str {
    match w {
        "%" | "pct" | "percent" => "percent",
        "bn" | "billion" | "bln" => "billion",
        "mn" | "mln" | "million" => "million",
        "m" if after_number => "million",
        "tn" | "trillion" => "trillion",
        "$" | "usd" | "dollar" | "dollars" => "usd",
        "rs" | "rupee" | "rupees" | "₹" => "rupees",
        "€" | "euro" | "euros" | "eur" => "eur",
        "£" | "gbp" => "gbp",
        // Three-letter abbreviations are words too ("mar" is Spanish for
        // sea): only next to a number are they a date.
        _ if after_number || next_is_number => month(w).unwrap_or(w),
        _ => w,
    }
}

/// The full English name of an abbreviated month.
fn month(w: &str) -> Option<&'static str> {
    Some(match w {
        "jan" => "january",
        "feb" => "february",
        "mar" => "march",
        "apr" => "april",
        "jun" => "june",
        "jul" => "july",
        "aug" => "august",
        "sep" | "sept" => "september",
        "oct" => "october",
        "nov" => "november",
        "dec" => "december",
        _ => return None,
    })
}

/// A number's value as one string: thousands separators dropped ("12,500",
/// "12.500" and "12500" alike), a decimal comma made a point ("1,5" is
/// "1.5"), leading zeros and an ordinal suffix dropped ("06", "6th", "6").
pub fn canonical_number(n: &str) -> Cow<'_, str> {
    // A space inside a number is a thousands separator (the tokenizer only
    // joins groups of three).
    if n.contains([' ', '\u{A0}', '\u{202F}']) {
        let joined = n.replace([' ', '\u{A0}', '\u{202F}'], "");
        return Cow::Owned(canonical_number(&joined).into_owned());
    }
    let digits_end = n
        .bytes()
        .position(|b| !(b.is_ascii_digit() || b == b'.' || b == b','))
        .unwrap_or(n.len());
    let n = &n[..digits_end];
    if !n.contains(['.', ',']) {
        let trimmed = n.trim_start_matches('0');
        return Cow::Borrowed(if trimmed.is_empty() { "0" } else { trimmed });
    }
    // The last separator is a decimal mark unless three digits follow it and
    // every group before it is a thousands group.
    let groups: Vec<&str> = n.split(['.', ',']).collect();
    let thousands = groups[1..].iter().all(|g| g.len() == 3) && groups[0].len() <= 3;
    let mut out = String::with_capacity(n.len());
    let last = groups.len() - 1;
    for (i, g) in groups.iter().enumerate() {
        if i == last && !thousands {
            out.push('.');
        }
        out.push_str(g);
    }
    let trimmed = out.trim_start_matches('0');
    Cow::Owned(if trimmed.is_empty() || trimmed.starts_with('.') {
        format!("0{trimmed}")
    } else {
        trimmed.to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hashes(text: &str) -> Vec<u64> {
        canonical_tokens_cased(text).map(|t| t.hash).collect()
    }

    #[test]
    fn numbers_compare_by_value() {
        assert_eq!(canonical_number("12,500"), "12500");
        assert_eq!(canonical_number("12.500"), "12500");
        assert_eq!(canonical_number("1,234,567.5"), "1234567.5");
        assert_eq!(canonical_number("1.5"), "1.5");
        assert_eq!(canonical_number("1,5"), "1.5");
        assert_eq!(canonical_number("06"), "6");
        assert_eq!(canonical_number("27th"), "27");
        assert_eq!(canonical_number("0.25"), "0.25");
        assert_eq!(canonical_number("34 730"), "34730");
    }

    #[test]
    fn house_styles_of_one_fact_hash_alike() {
        for (a, b) in [
            ("exports rose 12,500 tonnes", "exports rose 12500 tonnes"),
            ("up 5% on the year", "up 5 percent on the year"),
            ("up 5% on the year", "up 5 per cent on the year"),
            ("a Rs1.5bn loan", "a Rs 1.5 billion loan"),
            ("a $3m grant", "a $ 3 million grant"),
            ("on Feb. 27 in Istanbul", "on February 27 in Istanbul"),
            ("on 27th Feb, 2025", "on 27 February 2025"),
            ("more than 232 000 cases", "more than 232,000 cases"),
        ] {
            assert_eq!(hashes(a), hashes(b), "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn different_values_and_plain_words_stay_apart() {
        assert_ne!(hashes("closed at 12,500"), hashes("closed at 12,050"));
        assert_ne!(hashes("el mar"), hashes("el march"));
        assert_eq!(hashes("el mar 3")[1], hashes("el march 3")[1]);
    }
}
