//! The dot-product kernel: query · row for a block of rows.
//!
//! Written as plain loops over fixed-size lanes with independent accumulators, which
//! LLVM turns into SIMD on its own. On x86-64 CPUs with AVX2 + FMA (checked at run
//! time, once) the same loops are compiled a second time with those features enabled.

/// Accumulator lanes: 32 f32 = 4 AVX registers or 8 SSE registers, enough independent
/// sums to hide the add latency.
const LANES: usize = 32;

/// The instruction set the kernel runs with, detected once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kernel {
    /// Whatever the compile target allows (SSE2 on x86-64).
    Portable,
    /// AVX2 with fused multiply-add.
    #[cfg(target_arch = "x86_64")]
    Avx2Fma,
}

impl Kernel {
    /// The best kernel this CPU runs.
    pub(crate) fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
                return Kernel::Avx2Fma;
            }
        }
        Kernel::Portable
    }

    /// `out[i] = query · rows[i]` for each row of `rows` (row-major, `query.len()` wide).
    /// `out.len()` must be `rows.len() / query.len()`.
    #[inline]
    pub(crate) fn scores(self, query: &[f32], rows: &[f32], out: &mut [f32]) {
        match self {
            Kernel::Portable => scores_generic::<false>(query, rows, out),
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `Avx2Fma` is only constructed by `detect` after checking that the
            // CPU supports both features.
            Kernel::Avx2Fma => unsafe { scores_avx2_fma(query, rows, out) },
        }
    }

    /// `query · row` for one row.
    #[inline]
    pub(crate) fn dot(self, query: &[f32], row: &[f32]) -> f32 {
        let mut out = [0.0f32];
        self.scores(query, row, &mut out);
        out[0]
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn scores_avx2_fma(query: &[f32], rows: &[f32], out: &mut [f32]) {
    scores_generic::<true>(query, rows, out)
}

#[inline(always)]
fn scores_generic<const FMA: bool>(query: &[f32], rows: &[f32], out: &mut [f32]) {
    let dim = query.len();
    if dim == 0 {
        out.fill(0.0);
        return;
    }
    for (row, o) in rows.chunks_exact(dim).zip(out.iter_mut()) {
        *o = dot_generic::<FMA>(query, row);
    }
}

#[inline(always)]
fn dot_generic<const FMA: bool>(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; LANES];
    let (ca, ra) = a.as_chunks::<LANES>();
    let (cb, rb) = b.as_chunks::<LANES>();
    for (x, y) in ca.iter().zip(cb) {
        for ((s, &x), &y) in acc.iter_mut().zip(x).zip(y) {
            *s = if FMA { x.mul_add(y, *s) } else { *s + x * y };
        }
    }
    // Pairwise reduction keeps the tree shape the vectoriser likes.
    let mut width = LANES / 2;
    while width > 0 {
        let (lo, hi) = acc.split_at_mut(width);
        for (l, h) in lo.iter_mut().zip(hi.iter()) {
            *l += *h;
        }
        width /= 2;
    }
    let mut s = acc[0];
    for (x, y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[f32], b: &[f32]) -> f64 {
        a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum()
    }

    #[test]
    fn kernels_agree_with_a_naive_dot_for_odd_dimensions() {
        for dim in [1usize, 7, 31, 32, 33, 100, 384, 385] {
            let q: Vec<f32> = (0..dim).map(|i| ((i * 7 + 3) % 11) as f32 / 11.0 - 0.5).collect();
            let rows: Vec<f32> = (0..dim * 3).map(|i| ((i * 5 + 1) % 13) as f32 / 13.0 - 0.5).collect();
            for kernel in [Kernel::Portable, Kernel::detect()] {
                let mut out = [0.0f32; 3];
                kernel.scores(&q, &rows, &mut out);
                for (r, o) in out.iter().enumerate() {
                    let want = naive(&q, &rows[r * dim..(r + 1) * dim]);
                    assert!((*o as f64 - want).abs() < 1e-4, "{kernel:?} dim {dim} row {r}: {o} vs {want}");
                }
            }
        }
    }
}
