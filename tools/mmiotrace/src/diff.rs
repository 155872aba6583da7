// SPDX-License-Identifier: GPL-2.0
//! Longest common subsequence of two sequences, by Myers' O(ND) algorithm.
//!
//! The sequences are not passed in: [`lcs`] only needs their lengths and an
//! equality test on a pair of indices, so callers can align any kind of item
//! under any notion of "same".
//!
//! The search is the linear-space, divide-and-conquer variant ("middle
//! snake"), with common prefixes and suffixes stripped first, so two
//! sequences of 50 000 items that differ in a handful of places cost about
//! one pass over them. To bound the cost on sequences that differ almost
//! everywhere, one step of the search stops after `max_cost` edits and splits
//! the problem at the furthest point it reached; the result is then still a
//! common subsequence, just not always the longest one.

/// Default bound on the edits one bisection step explores (see [`lcs_bounded`]).
pub const DEFAULT_MAX_COST: usize = 2048;

/// Matched index pairs `(i, j)` of a longest common subsequence of `a` (length
/// `n`) and `b` (length `m`), where `eq(i, j)` tells whether `a[i]` and `b[j]`
/// are the same. Pairs are strictly increasing in both `i` and `j`.
pub fn lcs<F>(n: usize, m: usize, eq: F) -> Vec<(usize, usize)>
where
    F: Fn(usize, usize) -> bool,
{
    lcs_bounded(n, m, eq, DEFAULT_MAX_COST)
}

/// Like [`lcs`], but each bisection step gives up the exact search after
/// `max_cost` edits (at least 2) and splits at the furthest point reached.
/// The result is exact whenever the sequences differ by fewer than about
/// `2 * max_cost` insertions and deletions.
pub fn lcs_bounded<F>(n: usize, m: usize, eq: F, max_cost: usize) -> Vec<(usize, usize)>
where
    F: Fn(usize, usize) -> bool,
{
    let cap = max_cost.max(2);
    let mut out = Vec::new();
    let mut v1 = Vec::new();
    let mut v2 = Vec::new();
    let mut stack = vec![(0, n, 0, m)];
    while let Some((mut a0, mut a1, mut b0, mut b1)) = stack.pop() {
        while a0 < a1 && b0 < b1 && eq(a0, b0) {
            out.push((a0, b0));
            a0 += 1;
            b0 += 1;
        }
        while a0 < a1 && b0 < b1 && eq(a1 - 1, b1 - 1) {
            a1 -= 1;
            b1 -= 1;
            out.push((a1, b1));
        }
        if a0 == a1 || b0 == b1 {
            continue;
        }
        let sub = Sub {
            eq: &eq,
            a0,
            n: a1 - a0,
            b0,
            m: b1 - b0,
        };
        match sub.bisect(cap, &mut v1, &mut v2) {
            Some((x, y)) if (x, y) != (0, 0) && (x, y) != (sub.n, sub.m) => {
                stack.push((a0 + x, a1, b0 + y, b1));
                stack.push((a0, a0 + x, b0, b0 + y));
            }
            // Nothing in common (or, defensively, a split that would not
            // shrink the problem): every item is an insertion or deletion.
            _ => {}
        }
    }
    out.sort_unstable();
    out
}

/// One sub-problem: `a[a0..a0 + n]` against `b[b0..b0 + m]`, both non-empty,
/// in local coordinates `x` in `0..=n`, `y` in `0..=m`.
struct Sub<'a, F> {
    eq: &'a F,
    a0: usize,
    n: usize,
    b0: usize,
    m: usize,
}

/// Marks a diagonal that has no reachable point (yet).
const NONE: isize = -1;

impl<F> Sub<'_, F>
where
    F: Fn(usize, usize) -> bool,
{
    /// Forward equality in local coordinates (both in range).
    fn eq_fwd(&self, x: isize, y: isize) -> bool {
        (self.eq)(self.a0 + x as usize, self.b0 + y as usize)
    }

    /// Equality of the items just before `(n - x, m - y)`: the reverse search.
    fn eq_rev(&self, x: isize, y: isize) -> bool {
        let (n, m) = (self.n as isize, self.m as isize);
        (self.eq)(
            self.a0 + (n - x - 1) as usize,
            self.b0 + (m - y - 1) as usize,
        )
    }

    /// A point through which a shortest edit path passes, other than the
    /// corners; `None` if the two ranges have nothing in common.
    ///
    /// `v1[k]` / `v2[k]` hold the furthest `x` reached on diagonal `k = x - y`
    /// by the forward search and by the reverse search (which runs on the
    /// reversed sequences, so its diagonal `k` is the forward `delta - k`).
    fn bisect(
        &self,
        cap: usize,
        v1: &mut Vec<isize>,
        v2: &mut Vec<isize>,
    ) -> Option<(usize, usize)> {
        let (n, m) = (self.n as isize, self.m as isize);
        let max_d = (self.n + self.m).div_ceil(2);
        let d_end = max_d.min(cap) as isize;
        let off = d_end + 1;
        let len = (2 * off + 1) as usize;
        v1.clear();
        v1.resize(len, NONE);
        v2.clear();
        v2.resize(len, NONE);
        // The virtual start point: diagonal 1 at x = 0, so that d = 0 starts
        // at (0, 0) by a "down" move.
        v1[(off + 1) as usize] = 0;
        v2[(off + 1) as usize] = 0;
        let delta = n - m;
        let odd = delta % 2 != 0;
        let at = |k: isize| (off + k) as usize;
        let valid = |k: isize| -m <= k && k <= n;

        for d in 0..d_end {
            // Forward search, one more edit.
            let mut k = -d;
            while k <= d {
                if valid(k) {
                    let x = furthest(v1, at(k), n, m, k);
                    if x != NONE {
                        let (mut x, mut y) = (x, x - k);
                        while x < n && y < m && self.eq_fwd(x, y) {
                            x += 1;
                            y += 1;
                        }
                        v1[at(k)] = x;
                        let c = delta - k;
                        if odd && c.abs() < d {
                            let r = v2[at(c)];
                            if r != NONE && x >= n - r {
                                return Some((x as usize, y as usize));
                            }
                        }
                    }
                }
                k += 2;
            }
            // Reverse search, one more edit.
            let mut k = -d;
            while k <= d {
                if valid(k) {
                    let x = furthest(v2, at(k), n, m, k);
                    if x != NONE {
                        let (mut x, mut y) = (x, x - k);
                        while x < n && y < m && self.eq_rev(x, y) {
                            x += 1;
                            y += 1;
                        }
                        v2[at(k)] = x;
                        let c = delta - k;
                        if !odd && c.abs() <= d {
                            let f = v1[at(c)];
                            if f != NONE && f >= n - x {
                                return Some((f as usize, (f - c) as usize));
                            }
                        }
                    }
                }
                k += 2;
            }
        }
        if d_end as usize == max_d {
            // D = n + m: no item in common.
            return None;
        }
        // Too expensive: split at the forward point that got furthest.
        let last = d_end - 1;
        let mut best: Option<(isize, isize)> = None;
        let mut k = -last;
        while k <= last {
            let x = v1[at(k)];
            if x != NONE && valid(k) {
                let y = x - k;
                if best.is_none_or(|(bx, by)| x + y > bx + by) {
                    best = Some((x, y));
                }
            }
            k += 2;
        }
        best.map(|(x, y)| (x as usize, y as usize))
    }
}

/// The furthest x on diagonal `k` (at index `i`) after one more edit than its
/// neighbours `k - 1` and `k + 1` have had: a move down from `k + 1` or right
/// from `k - 1`, whichever goes further, or [`NONE`] if neither stays in the
/// `n` x `m` grid.
fn furthest(v: &[isize], i: usize, n: isize, m: isize, k: isize) -> isize {
    let down = v[i + 1];
    let down = if down != NONE && down - k <= m {
        down
    } else {
        NONE
    };
    let right = v[i - 1];
    let right = if right != NONE && right < n {
        right + 1
    } else {
        NONE
    };
    down.max(right)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Length of the LCS by dynamic programming, for checking.
    fn lcs_len_dp<T: PartialEq>(a: &[T], b: &[T]) -> usize {
        let mut prev = vec![0usize; b.len() + 1];
        let mut cur = vec![0usize; b.len() + 1];
        for x in a {
            for (j, y) in b.iter().enumerate() {
                cur[j + 1] = if x == y {
                    prev[j] + 1
                } else {
                    cur[j].max(prev[j + 1])
                };
            }
            std::mem::swap(&mut prev, &mut cur);
        }
        prev[b.len()]
    }

    fn check_pairs<T: PartialEq>(a: &[T], b: &[T], pairs: &[(usize, usize)]) {
        for w in pairs.windows(2) {
            assert!(w[0].0 < w[1].0 && w[0].1 < w[1].1, "not increasing: {w:?}");
        }
        for &(i, j) in pairs {
            assert!(a[i] == b[j], "pair ({i}, {j}) is not equal");
        }
    }

    /// A small deterministic generator (xorshift64*), to avoid a dependency.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    #[test]
    fn empty_and_trivial() {
        let none: [u8; 0] = [];
        assert!(lcs(0, 0, |_, _| true).is_empty());
        assert!(lcs(3, 0, |_, _| true).is_empty());
        assert!(lcs(0, 3, |_, _| true).is_empty());
        let a = [1, 2, 3];
        assert_eq!(lcs(3, 3, |i, j| a[i] == a[j]), vec![(0, 0), (1, 1), (2, 2)]);
        let b = [4, 5];
        assert!(lcs(3, 2, |i, j| a[i] == b[j]).is_empty());
        assert!(lcs(0, 0, |i, j| none[i] == none[j]).is_empty());
    }

    #[test]
    fn one_insertion_and_one_deletion() {
        let a = [1, 2, 3, 4, 5];
        let b = [1, 2, 9, 3, 4, 5];
        let p = lcs(a.len(), b.len(), |i, j| a[i] == b[j]);
        assert_eq!(p, vec![(0, 0), (1, 1), (2, 3), (3, 4), (4, 5)]);
        let p = lcs(b.len(), a.len(), |i, j| b[i] == a[j]);
        assert_eq!(p, vec![(0, 0), (1, 1), (3, 2), (4, 3), (5, 4)]);
    }

    #[test]
    fn random_small_sequences_are_optimal() {
        let mut rng = Rng(0x1234_5678_9abc_def1);
        for round in 0..3000 {
            let alphabet = 1 + rng.below(4);
            let n = rng.below(14) as usize;
            let m = rng.below(14) as usize;
            let a: Vec<u64> = (0..n).map(|_| rng.below(alphabet)).collect();
            let b: Vec<u64> = (0..m).map(|_| rng.below(alphabet)).collect();
            let p = lcs(n, m, |i, j| a[i] == b[j]);
            check_pairs(&a, &b, &p);
            assert_eq!(p.len(), lcs_len_dp(&a, &b), "round {round}: {a:?} {b:?}");
        }
    }

    #[test]
    fn random_edits_of_a_longer_sequence_are_optimal() {
        let mut rng = Rng(42);
        for _ in 0..200 {
            let n = 50 + rng.below(150) as usize;
            let a: Vec<u64> = (0..n).map(|_| rng.below(6)).collect();
            let mut b = a.clone();
            for _ in 0..rng.below(12) {
                let at = rng.below(b.len() as u64 + 1) as usize;
                match rng.below(3) {
                    0 if at < b.len() => {
                        b.remove(at);
                    }
                    1 if at < b.len() => b[at] = rng.below(6),
                    _ => b.insert(at, rng.below(6)),
                }
            }
            let p = lcs(a.len(), b.len(), |i, j| a[i] == b[j]);
            check_pairs(&a, &b, &p);
            assert_eq!(p.len(), lcs_len_dp(&a, &b));
        }
    }

    #[test]
    fn bounded_search_still_gives_a_common_subsequence() {
        let mut rng = Rng(7);
        for cap in [1, 2, 3, 5, 8] {
            for _ in 0..300 {
                let n = rng.below(40) as usize;
                let m = rng.below(40) as usize;
                let a: Vec<u64> = (0..n).map(|_| rng.below(3)).collect();
                let b: Vec<u64> = (0..m).map(|_| rng.below(3)).collect();
                let p = lcs_bounded(n, m, |i, j| a[i] == b[j], cap);
                check_pairs(&a, &b, &p);
                assert!(p.len() <= lcs_len_dp(&a, &b));
            }
        }
    }

    #[test]
    fn fifty_thousand_nearly_equal_items() {
        let mut rng = Rng(99);
        let a: Vec<u64> = (0..50_000).map(|_| rng.below(64)).collect();
        let mut b = a.clone();
        // Scattered edits, so that prefix/suffix stripping alone cannot help.
        b.remove(40_000);
        b.insert(30_000, 1000);
        b[20_000] = 2000;
        b.remove(10_000);
        b.insert(5, 3000);
        let p = lcs(a.len(), b.len(), |i, j| a[i] == b[j]);
        check_pairs(&a, &b, &p);
        assert_eq!(p.len(), 50_000 - 3);
    }

    #[test]
    fn unrelated_sequences_terminate() {
        let mut rng = Rng(5);
        let a: Vec<u64> = (0..6_000).map(|_| rng.below(1000)).collect();
        let b: Vec<u64> = (0..6_000).map(|_| rng.below(1000)).collect();
        let p = lcs_bounded(a.len(), b.len(), |i, j| a[i] == b[j], 64);
        check_pairs(&a, &b, &p);
    }
}
