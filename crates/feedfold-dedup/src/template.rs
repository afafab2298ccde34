//! Step 1c′: each feed's lead template, learned.
//!
//! Outlets put their own text before the lede of every story they carry: a
//! byline, a "Published &lt;date&gt;" line, a dateline in a shape no table lists
//! (`Lahore [Punjab] (Newsdesk):`). No list of shapes can be complete, so
//! each feed's template is learned the way its boilerplate is: the opening
//! of every item is read as a *shape* — numbers become `0`, a run of
//! capitalised words one `A`, lower-case words and punctuation stay as they are — and every
//! shape prefix that ends at a separator (`:` `-` `—` `|` `)` `]` or the end
//! of a paragraph) is counted in the feed's [`BoilerplateModel`]. A prefix
//! seen in enough items is the feed's template, and is cut from the text
//! that is stored and compared.
//!
//! Lower-case words stay literal so that a lede ("the government said on
//! Monday") never repeats as a shape; names and numbers are what a
//! template varies, so they are the wildcards.

use xxhash_rust::xxh3::xxh3_64_with_seed;

use super::boilerplate::BoilerplateModel;

/// Shape tokens of an opening that are read: a template is shorter.
const MAX_SHAPE_TOKENS: usize = 40;

/// A paragraph of the template on its own line (a byline, a "Published"
/// line) is at most this many shape tokens long.
const MAX_LINE_TOKENS: usize = 14;

/// Text that must be left after a template is cut (in bytes): an item that
/// would be all template keeps its text.
const MIN_REST_BYTES: usize = 40;

/// Seed of the template keys, apart from the sentence keys of the same model.
const TEMPLATE_SEED: u64 = 0x7465_6d70_6c61_7465;

/// A place where a template may end: after `paragraph`'s byte `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cut {
    /// The shape key of the opening up to here.
    key: u64,
    /// The paragraph the cut is in.
    paragraph: usize,
    /// Byte offset in that paragraph where the rest starts.
    offset: usize,
}

/// The cut points of the opening of `paragraphs`, in order.
fn cuts(paragraphs: &[String]) -> Vec<Cut> {
    let mut shape = String::new();
    let mut tokens = 0;
    let mut out = Vec::new();
    for (p, text) in paragraphs.iter().enumerate() {
        let paragraph_start = tokens;
        let mut chars = text.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if tokens >= MAX_SHAPE_TOKENS {
                return out;
            }
            if c.is_whitespace() {
                continue;
            }
            tokens += 1;
            if c.is_alphanumeric() {
                let mut end = i + c.len_utf8();
                while let Some(&(j, d)) = chars.peek() {
                    let inner = matches!(d, '.' | ',') && c.is_ascii_digit();
                    if !(d.is_alphanumeric() || inner) {
                        break;
                    }
                    end = j + d.len_utf8();
                    chars.next();
                }
                let word = &text[i..end];
                if c.is_ascii_digit() {
                    shape.push_str("\u{1f}0");
                } else if c.is_uppercase() {
                    // A run of capitalised words is one name, however many
                    // words it has: "Berlin" and "Buenos Aires", "Ahmed
                    // Khan" and "Maria del Carmen Ruiz" fill one slot.
                    if !shape.ends_with("\u{1f}A") {
                        shape.push_str("\u{1f}A");
                    }
                } else {
                    shape.push('\u{1f}');
                    shape.push_str(word);
                }
                continue;
            }
            shape.push('\u{1f}');
            shape.push(c);
            // A separator ends a part of the template only before a space:
            // "KSE-100", "5:48", "-1,204" are inside the text.
            let before_space = chars.peek().is_none_or(|&(_, d)| d.is_whitespace());
            if before_space && matches!(c, ':' | '-' | '—' | '–' | '|' | ')' | ']') {
                out.push(Cut {
                    key: xxh3_64_with_seed(shape.as_bytes(), TEMPLATE_SEED),
                    paragraph: p,
                    offset: i + c.len_utf8(),
                });
            }
        }
        if tokens - paragraph_start > MAX_LINE_TOKENS {
            // A long first paragraph is the lede, however regular its shape
            // (a templated report's is): no template ends with it.
            return out;
        }
        tokens += 1;
        shape.push_str("\u{1f}\u{b6}");
        out.push(Cut {
            key: xxh3_64_with_seed(shape.as_bytes(), TEMPLATE_SEED),
            paragraph: p + 1,
            offset: 0,
        });
    }
    out
}

/// Cuts the longest template the feed's `model` has learned from the
/// opening of `paragraphs`. Returns the template keys of the opening as it
/// was (before the cut, so that the model goes on counting the feed's
/// template in every item), for [`BoilerplateModel::observe`].
pub fn strip_learned(paragraphs: &mut Vec<String>, model: &BoilerplateModel) -> Vec<u64> {
    let cuts = cuts(paragraphs);
    let keys = cuts.iter().map(|c| c.key).collect();
    let total: usize = paragraphs.iter().map(String::len).sum();
    let Some(cut) = cuts
        .into_iter()
        .rev()
        .filter(|c| model.is_boilerplate(c.key))
        .find(|c| {
            let before: usize = paragraphs[..c.paragraph.min(paragraphs.len())]
                .iter()
                .map(String::len)
                .sum();
            total.saturating_sub(before + c.offset) >= MIN_REST_BYTES
        })
    else {
        return keys;
    };
    paragraphs.drain(..cut.paragraph.min(paragraphs.len()));
    if cut.offset > 0 {
        if let Some(first) = paragraphs.first_mut() {
            let rest = first.get(cut.offset..).unwrap_or_default().trim_start();
            *first = rest.to_string();
        }
    }
    paragraphs.retain(|p| !p.is_empty());
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paras(text: &str) -> Vec<String> {
        text.lines().map(str::to_string).collect()
    }

    #[test]
    fn a_house_style_nobody_described_is_learned_and_cut() {
        let mut model = BoilerplateModel::new(3);
        let ledes = [
            "Officials met in Istanbul on Thursday for six hours of talks on their embassies.",
            "the stock market closed higher on Friday as banks and energy firms led gains.",
            "Heavy rain flooded low-lying parts of the city, the weather office said on Monday.",
        ];
        let styled = |reporter: &str, city: &str, day: u32, lede: &str| {
            paras(&format!(
                "By {reporter}\nPublished {day}.02.2025 09:14\n{city} [Punjab] (Newsdesk): {lede}"
            ))
        };
        for (i, lede) in ledes.iter().enumerate() {
            model.observe(&strip_learned(
                &mut styled("Ahmed Khan", "Lahore", 20 + i as u32, lede),
                &model.clone(),
            ));
        }
        let mut next = styled(
            "Sara Malik",
            "Multan",
            27,
            "Wheat prices rose for a third week as millers bought ahead of the harvest.",
        );
        strip_learned(&mut next, &model);
        assert_eq!(
            next,
            ["Wheat prices rose for a third week as millers bought ahead of the harvest."]
        );
    }

    #[test]
    fn names_of_any_length_fill_one_slot() {
        let mut model = BoilerplateModel::new(3);
        let lede =
            "officials met on Thursday for six hours of talks on the work of their embassies.";
        let styled = |reporter: &str, city: &str| {
            paras(&format!("By {reporter}\n{city} (Newsdesk): {lede}"))
        };
        for (reporter, city) in [
            ("Ahmed Khan", "Lahore"),
            ("Anna Maria Weber", "Dera Ghazi Khan"),
            ("Li Wei", "Buenos Aires"),
        ] {
            model.observe(&strip_learned(&mut styled(reporter, city), &model.clone()));
        }
        let mut next = styled("Maria Luisa Garcia Lopez", "Rome");
        strip_learned(&mut next, &model);
        assert_eq!(next, [lede]);
    }

    #[test]
    fn templated_reports_keep_their_numbers() {
        let mut model = BoilerplateModel::new(2);
        let report = |close: &str, change: &str| {
            paras(&format!("The benchmark KSE-100 index closed at {close} points, a change of -{change} points, as 400 million shares changed hands.\nAnalysts said investors remained cautious."))
        };
        for (c, d) in [
            ("112,415.20", "1,204.55"),
            ("113,020.75", "605.55"),
            ("111,000.10", "20.5"),
        ] {
            model.observe(&strip_learned(&mut report(c, d), &model.clone()));
        }
        let mut next = report("110,999.99", "1.01");
        let before = next.clone();
        strip_learned(&mut next, &model);
        assert_eq!(next, before);
    }

    #[test]
    fn ledes_are_not_templates_and_short_items_keep_their_text() {
        let mut model = BoilerplateModel::new(2);
        for lede in [
            "Rain hit Lahore: roads flooded.",
            "Rain hit Multan: roads flooded.",
        ] {
            model.observe(&strip_learned(&mut paras(lede), &model.clone()));
        }
        let mut short = paras("Rain hit Quetta: roads flooded.");
        strip_learned(&mut short, &model);
        assert_eq!(
            short,
            paras("Rain hit Quetta: roads flooded."),
            "nothing would be left"
        );
        let text = "The government said on Monday that the budget would be delayed.";
        let mut other = paras(text);
        strip_learned(&mut other, &model);
        assert_eq!(other, paras(text));
    }
}
