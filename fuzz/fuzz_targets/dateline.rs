//! The dateline and credit stripper (`dedup::credit::strip_and_credit`) on
//! any paragraphs, folded the way `dedup::analyze` folds them. Must never
//! panic, must be deterministic, and never invents paragraphs.
#![no_main]

use feedfold::dedup::{credit, normalize};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &str| {
    let paragraphs: Vec<String> = input.split('\n').map(normalize::fold_keep_case).collect();
    let a = credit::strip_and_credit(paragraphs.clone());
    let b = credit::strip_and_credit(paragraphs.clone());
    assert_eq!(a.paragraphs, b.paragraphs, "deterministic");
    assert_eq!(a.credits, b.credits, "deterministic");
    assert!(a.paragraphs.len() <= paragraphs.len(), "no paragraph invented");
});
