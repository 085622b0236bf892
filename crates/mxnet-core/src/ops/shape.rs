//! View operators that change the shape: `Reshape` (with MXNet's special codes) and
//! `broadcast_to`. Both share storage with their input when the layout allows.

use std::sync::Arc;

use mxnet_cpu::Layout;

use crate::attrs::{tuple_string, AttrReader, Attrs};
use crate::error::{Error, Result};
use crate::imperative::call1;
use crate::ndarray::NDArray;
use crate::operator::{GradContext, OpContext, OpDef, Operator, TensorDesc};

/// Resolve MXNet's reshape codes against `input`:
/// `0` copies a dim, `-1` infers one dim, `-2` copies the remaining dims, `-3` merges two
/// dims, `-4` splits one dim into the next two values (one of which may be `-1`).
/// With `reverse`, codes are matched from the right.
pub fn infer_reshape(input: &[usize], codes: &[i64], reverse: bool) -> Result<Vec<usize>> {
    let err = |why: &str| {
        Error::Value(format!("Reshape: cannot reshape array of shape {input:?} with shape {codes:?}: {why}"))
    };
    let (input, codes): (Vec<usize>, Vec<i64>) = if reverse {
        (input.iter().rev().copied().collect(), rev_codes(codes))
    } else {
        (input.to_vec(), codes.to_vec())
    };

    // Output dims, with `None` for the one dim to infer.
    let mut out: Vec<Option<usize>> = Vec::new();
    let mut src = 0usize;
    let mut i = 0usize;
    while i < codes.len() {
        let code = codes[i];
        match code {
            c if c > 0 => {
                out.push(Some(c as usize));
                src += 1;
            }
            0 => {
                let d = *input.get(src).ok_or_else(|| err("code 0 refers past the last input dimension"))?;
                out.push(Some(d));
                src += 1;
            }
            -1 => {
                if out.iter().any(|d| d.is_none()) {
                    return Err(err("more than one -1"));
                }
                out.push(None);
                src += 1;
            }
            -2 => {
                out.extend(input.iter().skip(src).map(|&d| Some(d)));
                src = input.len();
            }
            -3 => {
                if src + 1 >= input.len() {
                    return Err(err("code -3 needs two input dimensions to merge"));
                }
                out.push(Some(input[src] * input[src + 1]));
                src += 2;
            }
            -4 => {
                let d = *input.get(src).ok_or_else(|| err("code -4 refers past the last input dimension"))?;
                let (a, b) = match (codes.get(i + 1), codes.get(i + 2)) {
                    (Some(&a), Some(&b)) => (a, b),
                    _ => return Err(err("code -4 must be followed by two values")),
                };
                let (a, b) = match (a, b) {
                    (-1, b) if b > 0 && d % b as usize == 0 => (d / b as usize, b as usize),
                    (a, -1) if a > 0 && d % a as usize == 0 => (a as usize, d / a as usize),
                    (a, b) if a > 0 && b > 0 && (a * b) as usize == d => (a as usize, b as usize),
                    _ => return Err(err("the two values after -4 must multiply to the split dimension")),
                };
                out.push(Some(a));
                out.push(Some(b));
                src += 1;
                i += 2;
            }
            _ => return Err(err("codes must be positive, 0, -1, -2, -3 or -4")),
        }
        i += 1;
    }

    let total: usize = input.iter().product();
    let known: usize = out.iter().flatten().product();
    let mut shape: Vec<usize> = Vec::with_capacity(out.len());
    for d in &out {
        match d {
            Some(d) => shape.push(*d),
            None => {
                if known == 0 || total % known != 0 {
                    return Err(err("the size does not divide evenly for -1"));
                }
                shape.push(total / known);
            }
        }
    }
    if shape.iter().product::<usize>() != total {
        return Err(err(&format!("the new shape {shape:?} has a different size")));
    }
    if reverse {
        shape.reverse();
    }
    Ok(shape)
}

/// Reverse a code list for `reverse=True`, keeping each `-4 a b` group in its internal order.
fn rev_codes(codes: &[i64]) -> Vec<i64> {
    let mut groups: Vec<Vec<i64>> = Vec::new();
    let mut i = 0;
    while i < codes.len() {
        if codes[i] == -4 && i + 2 < codes.len() {
            groups.push(vec![-4, codes[i + 2], codes[i + 1]]);
            i += 3;
        } else {
            groups.push(vec![codes[i]]);
            i += 1;
        }
    }
    groups.into_iter().rev().flatten().collect()
}

pub struct Reshape {
    codes: Vec<i64>,
    reverse: bool,
}

impl Operator for Reshape {
    fn name(&self) -> &'static str {
        "Reshape"
    }

    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        let x = &inputs[0];
        Ok(vec![TensorDesc::new(infer_reshape(&x.shape, &self.codes, self.reverse)?, x.dtype)])
    }

    fn view(&self, input: &NDArray) -> Option<Layout> {
        if !input.is_contiguous() {
            return None;
        }
        let shape = infer_reshape(input.shape(), &self.codes, self.reverse).ok()?;
        Some(Layout { offset: input.layout().offset, ..Layout::contiguous(&shape) })
    }

    fn forward(&self, _ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let flat = outputs[0].with_layout(Layout {
            offset: outputs[0].layout().offset,
            ..Layout::contiguous(inputs[0].shape())
        });
        super::copy::copy_kernel(&inputs[0], &flat)
    }

    fn backward(&self, g: &GradContext) -> Result<Vec<Option<NDArray>>> {
        let shape = tuple_string(g.inputs[0].shape());
        Ok(vec![Some(call1("Reshape", &[&g.out_grads[0]], &[("shape", shape)])?)])
    }

    fn attrs(&self) -> Attrs {
        vec![
            ("shape".into(), tuple_string(&self.codes)),
            ("reverse".into(), super::reduce::py_bool(self.reverse)),
        ]
    }
}

pub struct BroadcastTo {
    shape: Vec<i64>,
}

impl BroadcastTo {
    fn target(&self, input: &[usize]) -> Result<Vec<usize>> {
        if self.shape.len() < input.len() {
            return Err(self.error(input));
        }
        let lead = self.shape.len() - input.len();
        // A 0 in the target keeps the input's dimension, as in MXNet.
        let target: Vec<usize> = self
            .shape
            .iter()
            .enumerate()
            .map(|(i, &d)| if d == 0 && i >= lead { input[i - lead] } else { d.max(0) as usize })
            .collect();
        if Layout::contiguous(input).broadcast_to(&target).is_none() {
            return Err(self.error(input));
        }
        Ok(target)
    }

    fn error(&self, input: &[usize]) -> Error {
        Error::Value(format!(
            "broadcast_to: cannot broadcast shape {input:?} to {:?}; dimensions must match or be 1 in the input",
            self.shape
        ))
    }
}

impl Operator for BroadcastTo {
    fn name(&self) -> &'static str {
        "broadcast_to"
    }

    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        let x = &inputs[0];
        Ok(vec![TensorDesc::new(self.target(&x.shape)?, x.dtype)])
    }

    fn view(&self, input: &NDArray) -> Option<Layout> {
        input.layout().broadcast_to(&self.target(input.shape()).ok()?)
    }

    fn forward(&self, _ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let x = &inputs[0];
        let src = x.with_layout(x.layout().broadcast_to(outputs[0].shape()).expect("checked by infer"));
        super::copy::copy_kernel(&src, &outputs[0])
    }

    fn backward(&self, g: &GradContext) -> Result<Vec<Option<NDArray>>> {
        Ok(vec![Some(super::grad_util::reduce_to(&g.out_grads[0], g.inputs[0].shape())?)])
    }

    fn attrs(&self) -> Attrs {
        vec![("shape".into(), tuple_string(&self.shape))]
    }
}

pub fn register(defs: &mut Vec<OpDef>) {
    defs.push(OpDef {
        name: "Reshape",
        aliases: &["reshape"],
        arguments: &["data"],
        params: &["shape", "reverse"],
        doc: "Give the array a new shape; codes 0, -1, -2, -3, -4 as in MXNet.",
        create: |attrs: &Attrs| {
            let mut r = AttrReader::new("Reshape", attrs);
            let codes = r.required::<Vec<i64>>("shape")?;
            let reverse = r.get("reverse", false)?;
            r.finish(&["shape", "reverse"])?;
            Ok(Arc::new(Reshape { codes, reverse }) as Arc<dyn Operator>)
        },
    });
    defs.push(OpDef {
        name: "broadcast_to",
        aliases: &[],
        arguments: &["data"],
        params: &["shape"],
        doc: "Broadcast the array to a new shape (a read-only view).",
        create: |attrs: &Attrs| {
            let mut r = AttrReader::new("broadcast_to", attrs);
            let shape = r.required::<Vec<i64>>("shape")?;
            r.finish(&["shape"])?;
            Ok(Arc::new(BroadcastTo { shape }) as Arc<dyn Operator>)
        },
    });
}

#[cfg(test)]
mod tests {
    use super::infer_reshape;

    #[test]
    fn reshape_codes_match_mxnet() {
        let s = [2, 3, 4];
        assert_eq!(infer_reshape(&s, &[0, -1], false).unwrap(), vec![2, 12]);
        assert_eq!(infer_reshape(&s, &[4, 0, -1], false).unwrap(), vec![4, 3, 2]);
        assert_eq!(infer_reshape(&s, &[-2], false).unwrap(), vec![2, 3, 4]);
        assert_eq!(infer_reshape(&s, &[-3, 4], false).unwrap(), vec![6, 4]);
        assert_eq!(infer_reshape(&s, &[2, -3], false).unwrap(), vec![2, 12]);
        assert_eq!(infer_reshape(&s, &[-4, 1, 2, -2], false).unwrap(), vec![1, 2, 3, 4]);
        assert_eq!(infer_reshape(&s, &[-4, 2, -1, -2], false).unwrap(), vec![2, 1, 3, 4]);
        assert_eq!(infer_reshape(&s, &[0, 0, -4, 2, 2], false).unwrap(), vec![2, 3, 2, 2]);
        assert_eq!(infer_reshape(&[10, 5, 4], &[-1, 0], true).unwrap(), vec![50, 4]);
        assert_eq!(infer_reshape(&[10, 5, 4], &[-1, 0], false).unwrap(), vec![40, 5]);
    }
}
