//! Clustering quality: pairwise and B-cubed precision/recall/F1.

use std::collections::HashMap;

/// Precision, recall and their harmonic mean.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Prf {
    /// Precision.
    pub precision: f64,
    /// Recall.
    pub recall: f64,
    /// F1.
    pub f1: f64,
}

impl Prf {
    fn new(precision: f64, recall: f64) -> Self {
        let f1 = if precision + recall == 0.0 {
            0.0
        } else {
            2.0 * precision * recall / (precision + recall)
        };
        Prf {
            precision,
            recall,
            f1,
        }
    }
}

/// Pair counts behind the pairwise scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PairCounts {
    /// Pairs the engine put in one story.
    pub merged: u64,
    /// Of those, pairs of different gold stories (false merges).
    pub false_merged: u64,
    /// Pairs of one gold story.
    pub gold: u64,
}

fn pairs(n: u64) -> u64 {
    n * n.saturating_sub(1) / 2
}

/// Pairwise and B-cubed scores of `predicted` against `gold` (one label per item).
pub fn score(gold: &[usize], predicted: &[usize]) -> (Prf, Prf, PairCounts) {
    let n = gold.len().min(predicted.len());
    let mut cells: HashMap<(usize, usize), u64> = HashMap::new();
    let mut pred_sizes: HashMap<usize, u64> = HashMap::new();
    let mut gold_sizes: HashMap<usize, u64> = HashMap::new();
    for i in 0..n {
        *cells.entry((predicted[i], gold[i])).or_default() += 1;
        *pred_sizes.entry(predicted[i]).or_default() += 1;
        *gold_sizes.entry(gold[i]).or_default() += 1;
    }
    let merged: u64 = pred_sizes.values().map(|&s| pairs(s)).sum();
    let gold_pairs: u64 = gold_sizes.values().map(|&s| pairs(s)).sum();
    let true_pairs: u64 = cells.values().map(|&s| pairs(s)).sum();
    let ratio = |a: u64, b: u64| if b == 0 { 1.0 } else { a as f64 / b as f64 };
    let pairwise = Prf::new(ratio(true_pairs, merged), ratio(true_pairs, gold_pairs));
    let (mut bp, mut br) = (0.0, 0.0);
    for (&(p, g), &c) in &cells {
        let c = c as f64;
        bp += c * c / pred_sizes[&p] as f64;
        br += c * c / gold_sizes[&g] as f64;
    }
    let bcubed = if n == 0 {
        Prf::new(1.0, 1.0)
    } else {
        Prf::new(bp / n as f64, br / n as f64)
    };
    (
        pairwise,
        bcubed,
        PairCounts {
            merged,
            false_merged: merged - true_pairs,
            gold: gold_pairs,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfect_and_merged_everything() {
        let gold = [0, 0, 1, 2];
        let (p, b, c) = score(&gold, &gold);
        assert_eq!((p.f1, b.f1, c.false_merged), (1.0, 1.0, 0));
        let (p, b, c) = score(&gold, &[0, 0, 0, 0]);
        assert_eq!(c.merged, 6);
        assert_eq!(c.false_merged, 5);
        assert!((p.precision - 1.0 / 6.0).abs() < 1e-9);
        assert!((b.precision - (2.0 * 0.5 + 2.0 * 0.25) / 4.0).abs() < 1e-9);
        assert_eq!(b.recall, 1.0);
    }
}
