//! Broadcasting ops and channel sums whose gradients are fast on the CPU and bit-identical to
//! candle's own.
//!
//! When a bias, gain or norm is broadcast over an activation, candle's backward sums the
//! activation-sized gradient back to the small shape with `sum_keepdim` over the broadcast
//! dims. Unless those are the last dims, candle 0.11's CPU reduction does two or three integer
//! divisions per element to find where it lands; those sums were a fifth of the VAE phase's
//! time and a seventh of the unified phase's. The same holds for the VAE norm's forward sum
//! over channels.
//!
//! [`expand`] takes the place of candle's `broadcast_as` in the graph (one node for one node,
//! so the backward visits and accumulates in the same order) and materialises the broadcast;
//! its backward is [`ordered_sum`], which adds each element to its destination in the order
//! candle does (memory order of the source), a run of elements at a time. The sums are the
//! same floating-point additions in the same order, so every gradient has the same bits, as
//! the tests below check against candle's own ops.
//!
//! The broadcasts take this path only for f32 CPU tensors whose gradient is tracked, the
//! channel sum for every f32 CPU tensor (inference too, with the same bits); everything else
//! (GPUs, other dtypes) is exactly candle's op.

use candle_core::{CpuStorage, CustomOp1, DType, Layout, Result, Shape, Tensor};

/// `x + b` with `b` broadcast to `x`'s shape (as `broadcast_add`).
pub fn add(x: &Tensor, b: &Tensor) -> Result<Tensor> {
    match expanded(x, b)? {
        Some(b) => x.add(&b),
        None => x.broadcast_add(b),
    }
}

/// `x * b` with `b` broadcast to `x`'s shape (as `broadcast_mul`).
pub fn mul(x: &Tensor, b: &Tensor) -> Result<Tensor> {
    match expanded(x, b)? {
        Some(b) => x.mul(&b),
        None => x.broadcast_mul(b),
    }
}

/// `x / b` with `b` broadcast to `x`'s shape (as `broadcast_div`).
pub fn div(x: &Tensor, b: &Tensor) -> Result<Tensor> {
    match expanded(x, b)? {
        Some(b) => x.div(&b),
        None => x.broadcast_div(b),
    }
}

/// `x.sum_keepdim(dim)`, with a fast forward on the CPU (the backward is a broadcast either
/// way).
pub fn sum_keepdim(x: &Tensor, dim: usize) -> Result<Tensor> {
    if dim >= x.rank() {
        return x.sum_keepdim(dim); // candle's error names the dim
    }
    let reduced: Vec<bool> = (0..x.rank()).map(|d| d == dim).collect();
    ordered_sum(x, &reduced)
}

/// `b` materialised at `x`'s shape through [`Expand`], when `b` must broadcast to `x` (and not
/// `x` to `b`) and the fast path applies; `None` leaves the op to candle.
fn expanded(x: &Tensor, b: &Tensor) -> Result<Option<Tensor>> {
    let tracked = x.track_op() || b.track_op();
    if !tracked || !fast(x) || !fast(b) || x.shape() == b.shape() {
        return Ok(None);
    }
    let shape = x
        .shape()
        .broadcast_shape_binary_op(b.shape(), "broadcast")?;
    if shape != *x.shape() {
        return Ok(None);
    }
    Ok(Some(expand(b, x.shape())?))
}

fn fast(x: &Tensor) -> bool {
    x.device().is_cpu() && x.dtype() == DType::F32
}

/// `b.broadcast_as(shape)`, materialised, with [`ordered_sum`] as its backward (`shape` is
/// one `b` broadcasts to, as [`expanded`] checks).
fn expand(b: &Tensor, shape: &Shape) -> Result<Tensor> {
    if !fast(b) {
        return b.broadcast_as(shape);
    }
    b.apply_op1(Expand {
        to: shape.dims().to_vec(),
    })
}

/// The broadcast of a tensor to `to`: candle's `broadcast_as` with a contiguous result.
struct Expand {
    to: Vec<usize>,
}

impl Expand {
    /// `from`'s dims left-padded with 1s to `to`'s rank.
    fn padded(&self, from: &[usize]) -> Vec<usize> {
        let mut dims = vec![1; self.to.len() - from.len()];
        dims.extend_from_slice(from);
        dims
    }
}

impl CustomOp1 for Expand {
    fn name(&self) -> &'static str {
        "expand"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let src = contiguous_f32(storage, layout)?;
        let from = self.padded(layout.dims());
        let mut out = vec![0f32; self.to.iter().product()];
        let groups = Groups::new(&self.to, |d| from[d] != self.to[d]);
        groups.for_each_run(|run, dst_at| {
            // `dst_at` walks the kept dims, which are exactly the source's elements.
            let piece = &mut out[run.start..run.end];
            if groups.inner_is_reduced() {
                piece.fill(src[dst_at]);
            } else {
                piece.copy_from_slice(&src[dst_at..dst_at + piece.len()]);
            }
        });
        Ok((CpuStorage::F32(out), Shape::from_dims(&self.to)))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        // candle's `Broadcast` backward: sum over the padded dims and the stretched ones,
        // then drop the padded ones.
        let left = self.to.len() - arg.rank();
        let from = self.padded(arg.dims());
        let reduced: Vec<bool> = (0..self.to.len())
            .map(|d| d < left || from[d] != self.to[d])
            .collect();
        Ok(Some(ordered_sum(grad, &reduced)?.reshape(arg.shape())?))
    }
}

/// `sum_keepdim` over the `reduced` dims on CPU f32 storage, in candle's order; its backward
/// is candle's for a sum (the gradient broadcast back).
struct SumKeepdim {
    reduced: Vec<bool>,
}

impl CustomOp1 for SumKeepdim {
    fn name(&self) -> &'static str {
        "ordered-sum-keepdim"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let src = contiguous_f32(storage, layout)?;
        let dims = layout.dims();
        let out = sum_slice(&src, dims, &self.reduced);
        Ok((
            CpuStorage::F32(out),
            Shape::from_dims(&kept_dims(dims, &self.reduced)),
        ))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(grad.broadcast_as(arg.shape())?))
    }
}

fn kept_dims(dims: &[usize], reduced: &[bool]) -> Vec<usize> {
    dims.iter()
        .zip(reduced)
        .map(|(&n, &r)| if r { 1 } else { n })
        .collect()
}

/// Whether candle sums over `reduced` with its own vectorised loop, whose order of additions
/// differs from the one-by-one order: a contiguous source summed over exactly its last dims.
/// Those sums are fast already and are left to candle.
fn candle_is_fast(x: &Tensor, reduced: &[bool]) -> bool {
    let rank = reduced.len();
    x.is_contiguous()
        && reduced_dims(reduced)
            .iter()
            .rev()
            .enumerate()
            .all(|(i, &d)| d == rank - 1 - i)
}

/// The indices of the `reduced` dims, as candle's `sum_keepdim` takes them.
fn reduced_dims(reduced: &[bool]) -> Vec<usize> {
    (0..reduced.len()).filter(|&d| reduced[d]).collect()
}

/// `x.sum_keepdim(dims where reduced[d])` with candle's bits: one by one in memory order, or
/// candle itself where it uses its vectorised loop. The gradient, when `x` tracks one, is
/// candle's for a sum.
fn ordered_sum(x: &Tensor, reduced: &[bool]) -> Result<Tensor> {
    if !fast(x) || candle_is_fast(x, reduced) {
        return x.sum_keepdim(reduced_dims(reduced));
    }
    x.apply_op1(SumKeepdim {
        reduced: reduced.to_vec(),
    })
}

/// The sum over the `reduced` dims of a contiguous `src` of shape `dims`. candle adds the
/// source elements to their destinations one by one in memory order, starting from zero; so
/// does this, but a run of the innermost group of dims at a time: a reduced run adds into one
/// destination in order, a kept run adds element-wise into a run of destinations.
fn sum_slice(src: &[f32], dims: &[usize], reduced: &[bool]) -> Vec<f32> {
    let kept: usize = dims
        .iter()
        .zip(reduced)
        .filter(|(_, r)| !**r)
        .map(|(n, _)| n)
        .product();
    let mut out = vec![0f32; kept];
    let groups = Groups::new(dims, |d| reduced[d]);
    groups.for_each_run(|run, dst_at| {
        let piece = &src[run.start..run.end];
        if groups.inner_is_reduced() {
            let mut acc = out[dst_at];
            for &v in piece {
                acc += v;
            }
            out[dst_at] = acc;
        } else {
            for (o, &v) in out[dst_at..dst_at + piece.len()].iter_mut().zip(piece) {
                *o += v;
            }
        }
    });
    out
}

/// A shape's dims merged into alternating groups of reduced (or broadcast) and kept dims, for
/// walking a contiguous tensor one innermost run at a time.
struct Groups {
    /// (size, reduced), outermost first; neighbours differ in `reduced`.
    groups: Vec<(usize, bool)>,
}

impl Groups {
    fn new(dims: &[usize], reduced: impl Fn(usize) -> bool) -> Self {
        let mut groups: Vec<(usize, bool)> = Vec::new();
        for (d, &n) in dims.iter().enumerate() {
            // A dim of size 1 is the same kept or reduced; calling it kept merges more.
            let r = reduced(d) && n > 1;
            match groups.last_mut() {
                Some((size, last)) if *last == r => *size *= n,
                _ => groups.push((n, r)),
            }
        }
        if groups.is_empty() {
            groups.push((1, false));
        }
        Self { groups }
    }

    fn inner_is_reduced(&self) -> bool {
        self.groups.last().is_some_and(|g| g.1)
    }

    /// Calls `f(run, dst_at)` for each innermost run of the full tensor, in memory order:
    /// `run` is its range in the full tensor, `dst_at` the index in the kept-dims tensor of its
    /// first element.
    fn for_each_run(&self, mut f: impl FnMut(std::ops::Range<usize>, usize)) {
        let (outer, inner) = self.groups.split_at(self.groups.len() - 1);
        let run = inner[0].0;
        let runs: usize = outer.iter().map(|g| g.0).product();
        // Stride of each outer group in the kept-dims tensor (0 for reduced groups).
        let mut kept_stride = vec![0usize; outer.len()];
        let mut stride = if inner[0].1 { 1 } else { run };
        for (i, &(size, r)) in outer.iter().enumerate().rev() {
            if !r {
                kept_stride[i] = stride;
                stride *= size;
            }
        }
        let mut index = vec![0usize; outer.len()];
        for k in 0..runs {
            let dst_at: usize = index.iter().zip(&kept_stride).map(|(i, s)| i * s).sum();
            f(k * run..(k + 1) * run, dst_at);
            for i in (0..outer.len()).rev() {
                index[i] += 1;
                if index[i] < outer[i].0 {
                    break;
                }
                index[i] = 0;
            }
        }
    }
}

fn contiguous_f32<'a>(
    storage: &'a CpuStorage,
    layout: &Layout,
) -> Result<std::borrow::Cow<'a, [f32]>> {
    let data = storage.as_slice::<f32>()?;
    Ok(match layout.contiguous_offsets() {
        Some((a, b)) => std::borrow::Cow::Borrowed(&data[a..b]),
        None => std::borrow::Cow::Owned(logical_order(data, layout)),
    })
}

/// The elements of a strided view in logical (row-major) order.
fn logical_order(data: &[f32], layout: &Layout) -> Vec<f32> {
    let (dims, strides) = (layout.dims(), layout.stride());
    let mut out = Vec::with_capacity(layout.shape().elem_count());
    let mut index = vec![0usize; dims.len()];
    for _ in 0..layout.shape().elem_count() {
        let at: usize = index.iter().zip(strides).map(|(i, s)| i * s).sum();
        out.push(data[layout.start_offset() + at]);
        for d in (0..dims.len()).rev() {
            index[d] += 1;
            if index[d] < dims[d] {
                break;
            }
            index[d] = 0;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    fn bits(t: &Tensor) -> Vec<u32> {
        t.flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()
            .iter()
            .map(|v| v.to_bits())
            .collect()
    }

    /// Deterministic values of mixed sign and size, different for each `seed`.
    fn randn(shape: &[usize], seed: u64) -> Tensor {
        let n: usize = shape.iter().product();
        Tensor::arange(0f32, n as f32, &Device::Cpu)
            .unwrap()
            .affine(12.9898, seed as f64 * 78.233)
            .unwrap()
            .sin()
            .unwrap()
            .affine(1.7, 0.0)
            .unwrap()
            .reshape(shape)
            .unwrap()
    }

    /// Runs `op` on Vars x and b through candle's broadcast op and through ours, with a
    /// loss whose gradient is non-uniform, and requires every value and gradient bit-equal.
    fn same_bits(
        xs: &[usize],
        bs: &[usize],
        ours: fn(&Tensor, &Tensor) -> Result<Tensor>,
        theirs: fn(&Tensor, &Tensor) -> Result<Tensor>,
    ) {
        let x = Var::from_tensor(&randn(xs, 1)).unwrap();
        let b = Var::from_tensor(&(randn(bs, 2).abs().unwrap() + 0.5).unwrap()).unwrap();
        let weight = randn(xs, 3);
        let run = |f: fn(&Tensor, &Tensor) -> Result<Tensor>| {
            // b is used twice, as a bias is over a clip's chunks, so its gradient accumulates.
            let y = f(x.as_tensor(), b.as_tensor()).unwrap();
            let y = f(&y.sqr().unwrap(), b.as_tensor()).unwrap();
            let loss = (&y * &weight).unwrap().sum_all().unwrap();
            let g = loss.backward().unwrap();
            (y, g.get(&x).unwrap().clone(), g.get(&b).unwrap().clone())
        };
        let (y0, gx0, gb0) = run(theirs);
        let (y1, gx1, gb1) = run(ours);
        let case = format!("{xs:?} by {bs:?}");
        assert_eq!(bits(&y0), bits(&y1), "{case} value");
        assert_eq!(bits(&gx0), bits(&gx1), "{case} x gradient");
        assert_eq!(gb0.dims(), gb1.dims(), "{case} b gradient shape");
        assert_eq!(bits(&gb0), bits(&gb1), "{case} b gradient");
    }

    #[test]
    fn broadcast_ops_have_candles_values_and_gradients_bit_for_bit() {
        let shapes: [(&[usize], &[usize]); 7] = [
            (&[2, 5, 6, 7], &[1, 5, 1, 1]),       // conv bias
            (&[2, 3, 4, 6, 5], &[4, 1, 1]),       // VAE gamma over (B, T, C, H, W)
            (&[2, 3, 4, 6, 5], &[2, 3, 1, 6, 5]), // VAE norm over channels
            (&[3, 7, 16], &[16]),                 // linear bias, LLM gain
            (&[3, 7, 16], &[3, 7, 1]),            // last-dim norm
            (&[6, 1, 9], &[1, 1, 9]),
            (&[4, 300], &[4, 1]),
        ];
        for (xs, bs) in shapes {
            same_bits(xs, bs, add, |x, b| x.broadcast_add(b));
            same_bits(xs, bs, mul, |x, b| x.broadcast_mul(b));
            same_bits(xs, bs, div, |x, b| x.broadcast_div(b));
        }
    }

    #[test]
    fn channel_sums_have_candles_values_and_gradients_bit_for_bit() {
        for (shape, dim) in [
            (vec![2usize, 3, 4, 6, 5], 2usize),
            (vec![5, 8, 3, 3], 1),
            (vec![4, 9], 0),
            (vec![4, 9], 1),
            (vec![1, 1, 7], 2),
        ] {
            let x = Var::from_tensor(&randn(&shape, 4)).unwrap();
            let weight = randn(&shape, 5);
            let run = |ours: bool| {
                let sq = x.as_tensor().sqr().unwrap();
                let s = if ours {
                    sum_keepdim(&sq, dim).unwrap()
                } else {
                    sq.sum_keepdim(dim).unwrap()
                };
                let y = sq.broadcast_div(&(s.clone() + 1.0).unwrap()).unwrap();
                let loss = (&y * &weight).unwrap().sum_all().unwrap();
                (s, loss.backward().unwrap().get(&x).unwrap().clone())
            };
            let (s0, g0) = run(false);
            let (s1, g1) = run(true);
            assert_eq!(bits(&s0), bits(&s1), "{shape:?} over {dim}: sum");
            assert_eq!(bits(&g0), bits(&g1), "{shape:?} over {dim}: gradient");
            // Untracked, on a strided view.
            let t = randn(&shape, 6);
            let t = if shape.len() > 1 {
                t.transpose(0, shape.len() - 1).unwrap()
            } else {
                t
            };
            let d = dim.min(t.rank() - 1);
            assert_eq!(
                bits(&t.sum_keepdim(d).unwrap()),
                bits(&sum_keepdim(&t, d).unwrap()),
                "{shape:?} strided"
            );
        }
    }
}
