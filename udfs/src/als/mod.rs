//! Alternating least squares, the part that runs inside SQL: the normal
//! equations of one user's (or one item's) regularised least-squares
//! problem, their solve, and the deterministic helpers the recommender's
//! jobs use. The driver that strings the half-steps together lives in
//! `moodflow-ml`; the dashboard's fold-in of a new user solves the same
//! [`NormalEquations`] on one machine.
//!
//! One half-step of ALS solves, for every key `k` (a user, or an item),
//!
//! ```text
//! minimise  Σ_j a_j (x_j·w)² − 2 t_j (x_j·w)  +  reg·|w|²  +  wᵀ G w
//! ```
//!
//! over the rows `j` of that key, where `x_j` is the other side's vector.
//! Explicit ratings (biased ALS): `x = [q_i, 1]`, `a = 1`,
//! `t = r − μ − b_i`, `reg = λ·n_k` (Spark's count-scaled regularisation),
//! `G = 0`. Implicit feedback (Hu, Koren & Volinsky 2008, binary
//! preference with confidence `c = 1 + α`): `x = y_i`, `a = c − 1`, `t = c`,
//! `reg = λ`, `G = YᵀY` over every item (the unobserved zeros).
//! Both reduce to `(Σ a xxᵀ + reg·I + G) w = Σ t x`.
//!
//! - [`udf`]: the SQL functions `als_solve` (aggregate), `als_gram`
//!   (aggregate), `als_init`, `als_dot` and `split_unit` (scalar).

pub mod udf;

/// Length of the packed upper triangle of a `d × d` matrix.
pub fn packed_len(d: usize) -> usize {
    d * (d + 1) / 2
}

/// The sums of one key's normal equations: `Σ a xxᵀ` (packed upper
/// triangle, row-major), `Σ t x`, `Σ t²/a` (for the training error of the
/// explicit model, where `a = 1`) and the row count.
#[derive(Debug, Clone, PartialEq)]
pub struct NormalEquations {
    /// Dimension of `x`.
    pub dim: usize,
    /// `Σ a xxᵀ`, packed.
    pub ata: Vec<f64>,
    /// `Σ t x`.
    pub atb: Vec<f64>,
    /// `Σ t²` over rows with `a = 1`, i.e. `Σ y²` of the explicit model.
    pub btb: f64,
    /// Rows added.
    pub count: u64,
}

impl NormalEquations {
    /// Empty equations of dimension `dim`.
    pub fn new(dim: usize) -> Self {
        Self {
            dim,
            ata: vec![0.0; packed_len(dim)],
            atb: vec![0.0; dim],
            btb: 0.0,
            count: 0,
        }
    }

    /// Adds one row.
    pub fn add(&mut self, x: &[f64], a: f64, t: f64) {
        add_row(&mut self.ata, &mut self.atb, &mut self.btb, x, a, t);
        self.count += 1;
    }

    /// Solves `(Σ a xxᵀ + reg·I + G) w = Σ t x` with `reg = λ·count` when
    /// `count_scaled`, else `λ`; `gram` is `G` (row-major `d × d`) or empty.
    /// `None` when the system is singular (only possible with `λ = 0`).
    pub fn solve(&self, lambda: f64, count_scaled: bool, gram: &[f64]) -> Option<Solution> {
        solve_packed(
            self.dim,
            &self.ata,
            &self.atb,
            self.btb,
            self.count,
            lambda,
            count_scaled,
            gram,
        )
    }
}

/// Adds one row to packed sums (shared by [`NormalEquations`] and the
/// aggregate's flat per-group storage).
pub(crate) fn add_row(ata: &mut [f64], atb: &mut [f64], btb: &mut f64, x: &[f64], a: f64, t: f64) {
    let d = x.len();
    let mut p = 0;
    for i in 0..d {
        let ax = a * x[i];
        for xj in &x[i..d] {
            ata[p] += ax * xj;
            p += 1;
        }
        atb[i] += t * x[i];
    }
    if a == 1.0 {
        *btb += t * t;
    }
}

/// One key's solution and how well it fits its own rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Solution {
    /// The solved vector.
    pub w: Vec<f64>,
    /// `Σ (t − x·w)²` over the rows (explicit model: its squared training
    /// error; meaningless for the implicit one, where `a ≠ 1`).
    pub sse: f64,
    /// Rows of the key.
    pub count: u64,
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn solve_packed(
    d: usize,
    ata: &[f64],
    atb: &[f64],
    btb: f64,
    count: u64,
    lambda: f64,
    count_scaled: bool,
    gram: &[f64],
) -> Option<Solution> {
    let reg = if count_scaled { lambda * count as f64 } else { lambda };
    let mut m = vec![0.0; d * d];
    let mut p = 0;
    for i in 0..d {
        for j in i..d {
            m[i * d + j] = ata[p];
            m[j * d + i] = ata[p];
            p += 1;
        }
    }
    if gram.len() == d * d {
        for (v, g) in m.iter_mut().zip(gram) {
            *v += g;
        }
    }
    for i in 0..d {
        m[i * d + i] += reg;
    }
    let w = cholesky_solve(d, &m, atb)?;
    // Σ(t − x·w)² = Σt² − 2 wᵀ(Σ t x) + wᵀ(Σ xxᵀ) w, from the sums alone.
    let mut quad = 0.0;
    let mut p = 0;
    for i in 0..d {
        for j in i..d {
            let v = ata[p] * w[i] * w[j];
            quad += if i == j { v } else { 2.0 * v };
            p += 1;
        }
    }
    let cross: f64 = w.iter().zip(atb).map(|(w, b)| w * b).sum();
    Some(Solution {
        sse: (btb - 2.0 * cross + quad).max(0.0),
        w,
        count,
    })
}

/// Solves `m w = b` for a symmetric positive definite `m` (row-major);
/// `None` when `m` is not positive definite.
pub fn cholesky_solve(d: usize, m: &[f64], b: &[f64]) -> Option<Vec<f64>> {
    let mut l = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..=i {
            let mut s = m[i * d + j];
            for k in 0..j {
                s -= l[i * d + k] * l[j * d + k];
            }
            if i == j {
                if s <= 0.0 || !s.is_finite() {
                    return None;
                }
                l[i * d + i] = s.sqrt();
            } else {
                l[i * d + j] = s / l[j * d + j];
            }
        }
    }
    let mut y = vec![0.0; d];
    for i in 0..d {
        let s: f64 = (0..i).map(|k| l[i * d + k] * y[k]).sum();
        y[i] = (b[i] - s) / l[i * d + i];
    }
    let mut w = vec![0.0; d];
    for i in (0..d).rev() {
        let s: f64 = (i + 1..d).map(|k| l[k * d + i] * w[k]).sum();
        w[i] = (y[i] - s) / l[i * d + i];
    }
    Some(w)
}

/// SplitMix64: the mixing step of every deterministic draw here.
pub fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// FNV-1a of a string, mixed: a key's hash that is the same on every
/// machine and every run (Rust's `DefaultHasher` promises neither).
pub fn hash_str(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    mix(h)
}

/// A uniform draw in `[0, 1)` from a hash.
pub fn unit(h: u64) -> f64 {
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// The starting vector of a key: `rank` draws of a normal distribution with
/// standard deviation `scale` (Box-Muller on hashes of seed, key and
/// position), so it depends on nothing but its arguments.
pub fn init_vector(key_hash: u64, seed: i64, rank: usize, scale: f64) -> Vec<f64> {
    let base = mix(key_hash ^ mix(seed as u64));
    (0..rank)
        .map(|j| {
            let u1 = unit(mix(base.wrapping_add(2 * j as u64))).max(f64::MIN_POSITIVE);
            let u2 = unit(mix(base.wrapping_add(2 * j as u64 + 1)));
            scale * (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solves_a_known_system() {
        // Rows of y = 2·x0 − x1 exactly; with λ → 0 the solve recovers it.
        let mut eq = NormalEquations::new(2);
        for (x0, x1) in [(1.0, 0.0), (0.0, 1.0), (1.0, 1.0), (2.0, 1.0)] {
            eq.add(&[x0, x1], 1.0, 2.0 * x0 - x1);
        }
        let s = eq.solve(1e-12, false, &[]).expect("solvable");
        assert!((s.w[0] - 2.0).abs() < 1e-9 && (s.w[1] + 1.0).abs() < 1e-9, "{:?}", s.w);
        assert!(s.sse < 1e-9);
        assert_eq!(s.count, 4);
        // Singular without regularisation.
        let mut flat = NormalEquations::new(2);
        flat.add(&[1.0, 1.0], 1.0, 1.0);
        assert!(flat.solve(0.0, false, &[]).is_none());
    }

    #[test]
    fn init_is_deterministic_and_scaled() {
        let a = init_vector(hash_str("ml:1"), 42, 2000, 0.1);
        assert_eq!(a, init_vector(hash_str("ml:1"), 42, 2000, 0.1));
        assert_ne!(a, init_vector(hash_str("ml:1"), 43, 2000, 0.1));
        let mean = a.iter().sum::<f64>() / a.len() as f64;
        let sd = (a.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / a.len() as f64).sqrt();
        assert!(mean.abs() < 0.01 && (sd - 0.1).abs() < 0.01, "mean {mean} sd {sd}");
    }
}
