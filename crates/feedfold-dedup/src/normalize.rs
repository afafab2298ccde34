//! Step 1a: markup to plain text, then character folding and tokenisation.
//!
//! Two texts that differ only in markup, entities, Unicode presentation form,
//! case, quote or dash style, or spacing must normalise to the same string:
//! that is what makes the exact fingerprint useful across outlets.

use unicode_normalization::{is_nfkc_quick, IsNormalized, UnicodeNormalization};

/// Converts HTML (or plain text) to plain text, one paragraph per line.
///
/// Most titles and many summaries carry no markup at all: those skip the HTML
/// parser entirely (it costs far more than the rest of the pipeline), and
/// text with entities but no tags only gets its entities decoded.
pub fn html_to_text(input: &str) -> String {
    if !input.contains('<') {
        if !input.contains('&') {
            return input.to_string();
        }
        return decode_entities(input);
    }
    super::html::html_fragment_to_text(input)
}

/// Decodes the HTML entities that occur in feed titles and summaries outside
/// markup: the XML five, `&nbsp;`, typographic quotes and dashes, and
/// numeric references. Unknown entities are left as they are.
pub fn decode_entities(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let end = rest[1..].find(';').map(|i| i + 1).filter(|&i| i <= 10);
        let decoded = end.and_then(|end| decode_entity(&rest[1..end]).map(|c| (c, end)));
        match decoded {
            Some((c, end)) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn decode_entity(name: &str) -> Option<char> {
    if let Some(num) = name.strip_prefix('#') {
        let code = match num.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => num.parse().ok()?,
        };
        return char::from_u32(code);
    }
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => ' ',
        "lsquo" | "rsquo" | "sbquo" => '\'',
        "ldquo" | "rdquo" | "bdquo" | "laquo" | "raquo" => '"',
        "ndash" | "mdash" | "minus" => '-',
        "hellip" => '…',
        _ => return None,
    })
}

/// Folds one character (after NFKC): typographic quotes to ASCII quotes,
/// every dash and hyphen to `-`, invisible format characters to nothing.
/// Outlets differ in these even when they carry the same wire text.
fn fold_char(c: char) -> Option<char> {
    Some(match c {
        '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}' | '\u{2032}' | '\u{00B4}' | '`' => '\'',
        '\u{201C}' | '\u{201D}' | '\u{201E}' | '\u{201F}' | '\u{2033}' | '\u{00AB}'
        | '\u{00BB}' | '\u{2039}' | '\u{203A}' => '"',
        '\u{2010}' | '\u{2011}' | '\u{2012}' | '\u{2013}' | '\u{2014}' | '\u{2015}'
        | '\u{2212}' | '\u{FE58}' | '\u{FE63}' | '\u{FF0D}' => '-',
        '\u{00AD}' | '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{2060}' | '\u{FEFF}' => return None,
        c => c,
    })
}

/// NFKC, quote/dash folding and whitespace collapsed to single spaces, but
/// case kept: name detection needs the capitals, and the caller lower-cases.
pub fn fold_keep_case(input: &str) -> String {
    if input.is_ascii() {
        return fold_ascii(input);
    }
    // Most text (typical Latin-script news) is NFKC already; the quick check
    // costs a fraction of running it through the composer.
    if is_nfkc_quick(input.chars()) == IsNormalized::Yes {
        fold_chars(input.chars(), input.len())
    } else {
        fold_chars(input.nfkc(), input.len())
    }
}

/// [`fold_chars`] for ASCII text: ASCII is NFKC already, and of its
/// characters only the backtick folds (to `'`); whitespace and control
/// characters are exactly the bytes up to the space, and DEL. So the result
/// is the words between those, joined by single spaces, copied whole.
fn fold_ascii(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    let words = input
        .split(|c: char| is_ascii_space_or_control(c as u8))
        .filter(|w| !w.is_empty());
    for word in words {
        if !out.is_empty() {
            out.push(' ');
        }
        if word.contains('`') {
            out.extend(word.chars().map(|c| if c == '`' { '\'' } else { c }));
        } else {
            out.push_str(word);
        }
    }
    out
}

/// `c.is_whitespace() || c.is_control()` for an ASCII byte.
fn is_ascii_space_or_control(b: u8) -> bool {
    b <= b' ' || b == 0x7f
}

fn fold_chars(chars: impl Iterator<Item = char>, len: usize) -> String {
    let mut out = String::with_capacity(len);
    let mut pending_space = false;
    for c in chars {
        // ASCII first: most characters of most text are, and for them the
        // folding table and Unicode property lookups reduce to two tests.
        let c = if c.is_ascii() {
            if is_ascii_space_or_control(c as u8) {
                pending_space = !out.is_empty();
                continue;
            }
            if c == '`' {
                '\''
            } else {
                c
            }
        } else {
            match fold_char(c) {
                Some(c) if c.is_whitespace() || c.is_control() => {
                    pending_space = !out.is_empty();
                    continue;
                }
                Some(c) => c,
                None => continue,
            }
        };
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        out.push(c);
    }
    out
}

/// The full normalisation of a text: NFKC, quote/dash folding, case folding
/// (full Unicode lower case), whitespace collapsed. Numbers are kept as they
/// are: they are what tells two templated reports apart.
pub fn normalize_text(input: &str) -> String {
    lowercase(&fold_keep_case(input))
}

/// Full Unicode lower case: exactly `s.to_lowercase()`, faster.
pub fn lowercase(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    lowercase_into(s, &mut out);
    out
}

/// Appends `s.to_lowercase()` to `out`. The standard library lowers the
/// ASCII prefix in bulk but every character after the first non-ASCII one
/// through a table search, and most news text has one early (an accent, a
/// euro sign, an ellipsis): here every ASCII run is lowered in bulk.
pub fn lowercase_into(s: &str, out: &mut String) {
    // Σ is the one letter whose lower case depends on its neighbours (σ or
    // final ς): text with one is left to the standard library.
    if s.contains('Σ') {
        out.push_str(&s.to_lowercase());
        return;
    }
    let mut rest = s;
    while !rest.is_empty() {
        let ascii = rest
            .bytes()
            .position(|b| !b.is_ascii())
            .unwrap_or(rest.len());
        let start = out.len();
        out.push_str(&rest[..ascii]);
        out[start..].make_ascii_lowercase();
        rest = &rest[ascii..];
        if let Some(c) = rest.chars().next() {
            out.extend(c.to_lowercase());
            rest = &rest[c.len_utf8()..];
        }
    }
}

/// True for characters of scripts written without spaces between words,
/// where every character is a token and shingles are character n-grams.
pub fn is_unspaced_script(c: char) -> bool {
    // Nearly every character of most text lies below the first range: one
    // comparison instead of the whole range test (a measured 8 % of analysis).
    if c < '\u{0E00}' {
        return false;
    }
    matches!(c as u32,
        0x0E00..=0x0EFF // Thai, Lao
        | 0x1000..=0x109F // Myanmar
        | 0x1780..=0x17FF // Khmer
        | 0x3040..=0x30FF // Hiragana, Katakana
        | 0x3400..=0x4DBF // CJK extension A
        | 0x4E00..=0x9FFF // CJK unified ideographs
        | 0xF900..=0xFAFF // CJK compatibility ideographs
        | 0x20000..=0x2FFFF) // CJK extensions B..
}

/// One word of a text, as the matcher sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token<'a> {
    /// The token's text (a slice of the tokenised string).
    pub text: &'a str,
    /// Starts with an upper-case letter and does not open a sentence: a
    /// probable name. Only meaningful when the input kept its case.
    pub name: bool,
    /// Made of digits (with `.`/`,` separators inside, and perhaps an
    /// ordinal suffix: `27th`).
    pub number: bool,
}

/// Splits folded text into word tokens: runs of letters, runs of digits
/// (a number glued to a word is a token of its own: "Rs1.5bn" is "Rs",
/// "1.5", "bn"); numbers keep inner `.` and `,` (`38,123.45` is one token)
/// and an ordinal suffix (`27th`); `%` and currency signs are tokens;
/// characters of unspaced scripts are one token each. Apostrophes and other
/// punctuation separate.
pub fn tokenize(text: &str) -> Vec<Token<'_>> {
    let mut tokens = Vec::with_capacity(text.len() / 5);
    tokens.extend(tokens_of(text));
    tokens
}

/// The tokens of [`tokenize`], one at a time: callers that need only the
/// first few, or only a hash of each, need not build the whole list.
pub fn tokens_of(text: &str) -> Tokens<'_> {
    Tokens {
        text,
        pos: 0,
        sentence_start: true,
    }
}

/// Iterator over the tokens of a text (see [`tokens_of`]).
pub struct Tokens<'a> {
    text: &'a str,
    /// Byte offset of the next character to read.
    pos: usize,
    /// The next word opens a sentence (so its capital says nothing).
    sentence_start: bool,
}

/// The character at byte offset `i` of `text` (a character boundary).
/// ASCII, the common case, is read without UTF-8 decoding.
fn char_at(text: &str, i: usize) -> Option<char> {
    let b = *text.as_bytes().get(i)?;
    if b.is_ascii() {
        Some(char::from(b))
    } else {
        text.get(i..)?.chars().next()
    }
}

impl<'a> Iterator for Tokens<'a> {
    type Item = Token<'a>;

    fn next(&mut self) -> Option<Token<'a>> {
        let text = self.text;
        while let Some(c) = char_at(text, self.pos) {
            let start = self.pos;
            self.pos += c.len_utf8();
            // One character, one token: a character of an unspaced script,
            // or a unit sign ("5%" and "5 percent", "$3m" and "3 million
            // dollars": the sign is a word of its own, which `canon` spells out).
            if is_unspaced_script(c) || is_unit_sign(c) {
                self.sentence_start = false;
                return Some(Token {
                    text: &text[start..self.pos],
                    name: false,
                    number: false,
                });
            }
            if !c.is_alphanumeric() {
                if matches!(c, '.' | '!' | '?' | ':' | '"' | '(' | '-' | '\u{3002}') {
                    self.sentence_start = true;
                }
                continue;
            }
            let number = c.is_ascii_digit();
            let end = if number {
                number_end(text, self.pos)
            } else {
                word_end(text, self.pos)
            };
            self.pos = end;
            let word = &text[start..end];
            let name = !self.sentence_start && c.is_uppercase() && word.chars().count() > 1;
            self.sentence_start = false;
            return Some(Token {
                text: word,
                name,
                number,
            });
        }
        None
    }
}

/// Signs that stand for a unit word: `%` for "percent", currency signs.
fn is_unit_sign(c: char) -> bool {
    matches!(c, '%' | '$' | '€' | '£' | '¥' | '₹')
}

/// End of a number token starting before byte `end`: digits with inner `.`
/// or `,` separators (`38,123.45`), and an ordinal suffix (`27th`) taken in
/// so that "27th Feb" and "27 Feb" share the number. Letters glued to a
/// number otherwise start a word of their own ("1.5bn" is "1.5" "bn").
fn number_end(text: &str, mut end: usize) -> usize {
    let bytes = text.as_bytes();
    // The first digit, one byte long, is just before `end`.
    let start = end - 1;
    loop {
        match bytes.get(end) {
            Some(b) if b.is_ascii_digit() => end += 1,
            Some(b'.' | b',') if bytes.get(end + 1).is_some_and(u8::is_ascii_digit) => end += 1,
            _ => match thousands_space(text, start, end) {
                Some(next) => end = next,
                None => break,
            },
        }
    }
    let letters = text[end..]
        .char_indices()
        .find(|&(_, d)| !d.is_alphanumeric() || is_unspaced_script(d))
        .map_or(text.len() - end, |(i, _)| i);
    let suffix = &text[end..end + letters];
    if ["st", "nd", "rd", "th"]
        .iter()
        .any(|o| suffix.eq_ignore_ascii_case(o))
    {
        end += letters;
    }
    end
}

/// A space used as a thousands separator ("34 730", "5\u{202F}000"): after
/// a first group of one to three digits (or a previous such group), a
/// space, no-break space or narrow no-break space, then exactly three digits
/// and no more. Returns where the group after the space ends.
fn thousands_space(text: &str, start: usize, end: usize) -> Option<usize> {
    let sep = text[end..].chars().next()?;
    if !matches!(sep, ' ' | '\u{A0}' | '\u{202F}') {
        return None;
    }
    let group = &text[start..end];
    let last_group = group.rsplit([' ', '\u{A0}', '\u{202F}']).next()?;
    if !(1..=3).contains(&last_group.len()) || !last_group.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let after = end + sep.len_utf8();
    let digits = text.as_bytes()[after..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    let next = text[after + digits..].chars().next();
    (digits == 3 && !next.is_some_and(char::is_alphanumeric)).then_some(after + 3)
}

/// End of a word token starting before byte `end`: letters (and the digits
/// of a word such as "Covid19" split off as a number of their own).
fn word_end(text: &str, mut end: usize) -> usize {
    while let Some(d) = char_at(text, end) {
        if d.is_alphanumeric() && !d.is_ascii_digit() && !is_unspaced_script(d) {
            end += d.len_utf8();
        } else {
            break;
        }
    }
    end
}

/// Splits a paragraph into sentences at `.`, `!`, `?` (and the ideographic
/// full stop) followed by a space and not preceded by a single capital
/// (initials such as "U.S." or "J. Smith" do not end sentences).
pub fn split_sentences(paragraph: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut at_mark = |i: usize, c: char| {
        let ends = match c {
            '\u{3002}' | '\u{FF01}' | '\u{FF1F}' => true,
            // The three are one byte long: the next character starts at i + 1.
            '.' | '!' | '?' => {
                let next_space = paragraph[i + 1..]
                    .chars()
                    .next()
                    .is_none_or(char::is_whitespace);
                next_space && !(c == '.' && ends_abbreviation(&paragraph[..i]))
            }
            _ => false,
        };
        if ends {
            let end = i + c.len_utf8();
            let s = paragraph[start..end].trim();
            if !s.is_empty() {
                out.push(s);
            }
            start = end;
        }
    };
    let bytes = paragraph.as_bytes();
    // The full-width marks are encoded with lead byte E3 (U+3002) or EF
    // (U+FF01, U+FF1F). Without either, only the ASCII marks can end a
    // sentence, and memchr jumps from one to the next instead of decoding
    // every character.
    if memchr::memchr2(0xE3, 0xEF, bytes).is_none() {
        for i in memchr::memchr3_iter(b'.', b'!', b'?', bytes) {
            at_mark(i, char::from(bytes[i]));
        }
    } else {
        for (i, c) in paragraph.char_indices() {
            at_mark(i, c);
        }
    }
    let s = paragraph[start..].trim();
    if !s.is_empty() {
        out.push(s);
    }
    out
}

/// True when the text before a dot ends with an initial or abbreviation:
/// "U.S. officials", "Feb. 27", "J. Smith" do not end a sentence there.
fn ends_abbreviation(before: &str) -> bool {
    // The last word: the trailing run of letters, digits and dots (a slice,
    // not a copy: this runs at every full stop).
    let word_start = before
        .char_indices()
        .rev()
        .find(|&(_, p)| !(p.is_alphanumeric() || p == '.'))
        .map_or(0, |(j, p)| j + p.len_utf8());
    let prev_word = &before[word_start..];
    let mut chars = prev_word.chars();
    let single_letter = match (chars.next(), chars.next()) {
        (Some(first), None) => first.is_alphabetic(),
        _ => false,
    };
    single_letter || prev_word.contains('.') || is_abbreviation(prev_word)
}

/// Abbreviations that end with a dot without ending the sentence.
fn is_abbreviation(word: &str) -> bool {
    matches!(
        word,
        "Mr" | "Mrs"
            | "Ms"
            | "Dr"
            | "St"
            | "Gen"
            | "Gov"
            | "Rep"
            | "Sen"
            | "Inc"
            | "Corp"
            | "Co"
            | "Ltd"
            | "Jan"
            | "Feb"
            | "Mar"
            | "Apr"
            | "Aug"
            | "Sept"
            | "Sep"
            | "Oct"
            | "Nov"
            | "Dec"
            | "No"
            | "no"
            | "vs"
            | "Pt"
            | "Col"
            | "Maj"
            | "Lt"
            | "Capt"
            | "Prof"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_dashes_case_and_space_fold() {
        assert_eq!(
            normalize_text("\u{201C}No one\u{201D} \u{2014} it\u{2019}s  A\u{00A0}Process"),
            "\"no one\" - it's a process"
        );
        assert_eq!(normalize_text("ＴＡＳＳ ﬁnal"), "tass final");
    }

    #[test]
    fn ascii_fast_paths_fold_like_the_general_rule() {
        // The definition: fold_char, then whitespace and controls collapse.
        fn reference(input: &str) -> String {
            let mut out = String::new();
            let mut pending_space = false;
            for c in input.nfkc().filter_map(fold_char) {
                if c.is_whitespace() || c.is_control() {
                    pending_space = !out.is_empty();
                    continue;
                }
                if pending_space {
                    out.push(' ');
                    pending_space = false;
                }
                out.push(c);
            }
            out
        }
        let all_ascii: String = (0u8..=127).map(char::from).collect();
        for text in [
            all_ascii.as_str(),
            "  lead\tand\x0b trail \x7f `quoted`  \r\n",
            "caf\u{e9} `x` \u{2019}y\u{2019}\u{a0}z\u{85}w\u{200b}",
            "",
            "\u{1}\u{2}",
        ] {
            assert_eq!(fold_keep_case(text), reference(text), "{text:?}");
        }
    }

    #[test]
    fn lowercase_is_the_standard_library_lower_case() {
        for text in [
            "",
            "PLAIN ASCII Text 123",
            "Caf\u{c9} \u{c0} PARIS \u{2026} \u{20ac}5 ÉTÉ",
            "\u{130}STANBUL",               // İ lowers to two characters
            "ΟΔΥΣΣΕΥΣ ΣΑΣ Σ. ΌΣΟΣ",         // final and medial sigma
            "ТАСС сообщил ΑΘΗΝΑ ǅ ẞ Ω K Å", // Cyrillic, titlecase, sharp s, signs
            "東京 ＴＡＳＳ",
        ] {
            assert_eq!(lowercase(text), text.to_lowercase(), "{text}");
        }
    }

    #[test]
    fn entities_decode_without_markup() {
        assert_eq!(
            html_to_text("AT&amp;T &#8220;deal&#8221; &nbsp;x"),
            "AT&T \u{201C}deal\u{201D}  x"
        );
        assert_eq!(html_to_text("R&D &unknown; & more"), "R&D &unknown; & more");
    }

    #[test]
    fn html_becomes_paragraph_lines() {
        let t = html_to_text("<div><p>One &amp; two.</p><p>Three <b>four</b>.</p></div>");
        let lines: Vec<&str> = t.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines, ["One & two.", "Three four."]);
    }

    #[test]
    fn tokens_keep_numbers_and_mark_names() {
        let toks = tokenize("Stocks rose 1,234.5 points. Shares of Apple fell 3%.");
        let texts: Vec<&str> = toks.iter().map(|t| t.text).collect();
        assert_eq!(
            texts,
            ["Stocks", "rose", "1,234.5", "points", "Shares", "of", "Apple", "fell", "3", "%"]
        );
        assert!(toks[2].number && !toks[1].number);
        assert!(
            !toks[0].name && !toks[4].name,
            "sentence-initial words are not names"
        );
        assert!(toks[6].name);
    }

    #[test]
    fn numbers_glued_to_words_split_but_ordinals_stay() {
        let toks = tokenize("Rs1.5bn on 27th Feb for Covid19");
        let texts: Vec<&str> = toks.iter().map(|t| t.text).collect();
        assert_eq!(
            texts,
            ["Rs", "1.5", "bn", "on", "27th", "Feb", "for", "Covid", "19"]
        );
        assert!(toks[1].number && toks[4].number && toks[8].number);
    }

    #[test]
    fn cjk_characters_are_tokens() {
        let toks = tokenize("東京で会談 talks");
        let texts: Vec<&str> = toks.iter().map(|t| t.text).collect();
        assert_eq!(texts, ["東", "京", "で", "会", "談", "talks"]);
    }

    #[test]
    fn sentences_split_but_not_at_initials() {
        let s = split_sentences("U.S. officials met Mr. Lavrov on Feb. 18. They talked! Done");
        assert_eq!(
            s,
            [
                "U.S. officials met Mr. Lavrov on Feb. 18.",
                "They talked!",
                "Done"
            ]
        );
        // Full-width marks end sentences too (the path that decodes characters).
        assert_eq!(
            split_sentences("東京で会談。U.S. talks ended. Done！ Yes"),
            ["東京で会談。", "U.S. talks ended.", "Done！", "Yes"]
        );
    }
}
