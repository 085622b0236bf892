//! Array-scalar operators (`_plus_scalar`, `_rminus_scalar`, ...). The scalar is cast to the
//! array's dtype, so an int32 array stays int32, as in MXNet.

use std::sync::Arc;

use mxnet_gpu::kernels::elementwise::int_scalar;

use mxnet_cpu::strided::unary_map;

use super::binary::{with_binary_fn, BinaryKind};
use super::grad_util::{div, mul, scalar_op};
use crate::attrs::{AttrReader, Attrs};
use crate::dispatch_real;
use crate::dtype::Element;
use crate::error::{Error, Result};
use crate::imperative::call1;
use crate::ndarray::NDArray;
use crate::operator::{GradContext, OpContext, OpDef, Operator, TensorDesc};

pub struct Scalar {
    pub name: &'static str,
    pub kind: BinaryKind,
    /// True for the reflected forms (`scalar - x`).
    pub reversed: bool,
    pub scalar: f64,
}

impl Operator for Scalar {
    fn name(&self) -> &'static str {
        self.name
    }

    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        let [x] = inputs else {
            return Err(Error::Value(format!("{}: expected 1 input, got {}", self.name, inputs.len())));
        };
        Ok(vec![x.clone()])
    }

    fn overwrites_outputs(&self) -> bool {
        true
    }

    fn inplace_safe(&self) -> bool {
        true
    }

    fn forward(&self, _ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let (x, out) = (&inputs[0], &outputs[0]);
        let (kind, reversed) = (self.kind, self.reversed);
        // SAFETY: called by the engine with `x` read and `out` written.
        unsafe {
            dispatch_real!(self.name, x.dtype(), T => {
                let (s, src, out) = (T::from_scalar(self.scalar), x.data::<T>(), out.out_data::<T>());
                if kind == BinaryKind::Power && !reversed && self.scalar == 2.0 {
                    // `x ** 2` (squared errors, variances) as x * x: the same correctly rounded
                    // value, where `pow` is a library call per element (6x slower on 4M floats).
                    unary_map(src, x.layout(), out, |v: T| BinaryKind::Mul.apply(v, v));
                    return Ok(());
                }
                // `move` closures: with `s` captured by reference, the loop loaded it again for
                // every element and stayed scalar.
                with_binary_fn!(kind, T, |f| if reversed {
                    unary_map(src, x.layout(), out, move |v: T| f(s, v))
                } else {
                    unary_map(src, x.layout(), out, move |v: T| f(v, s))
                })
            });
        }
        Ok(())
    }

    fn supports_gpu(&self) -> bool {
        true
    }

    fn forward_gpu(&self, _ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let int = inputs[0].dtype() == crate::DType::Int32;
        // The scalar converts to the array's dtype, as on the CPU (saturating for int32).
        let (s, value) = if int { ("si0", int_scalar(self.scalar as i64 as i32)) } else { ("s0", self.scalar as f32) };
        let (a, b) = if self.reversed { (s, "x0") } else { ("x0", s) };
        let expr = self.kind.wgsl(a, b, int);
        crate::gpu::map(self.name, &expr, &[&inputs[0]], &[value], &outputs[0])
    }

    fn differentiable(&self) -> bool {
        !self.kind.is_comparison()
    }

    fn attrs(&self) -> Attrs {
        vec![("scalar".into(), format_scalar(self.scalar))]
    }

    fn backward(&self, g: &GradContext) -> Result<Vec<Option<NDArray>>> {
        use BinaryKind::*;
        let (x, y, dy) = (&g.inputs[0], &g.outputs[0], &g.out_grads[0]);
        let s = self.scalar;
        let dx = match (self.kind, self.reversed) {
            (Add, _) => dy.clone(),
            (Sub, false) => dy.clone(),
            (Sub, true) => call1("negative", &[dy], &[])?,
            (Mul, _) => scalar_op("_mul_scalar", dy, s)?,
            (Div, false) => scalar_op("_div_scalar", dy, s)?,
            // d(s/x)/dx = -y/x
            (Div, true) => call1("negative", &[&mul(dy, &div(y, x)?)?], &[])?,
            (Mod, false) => dy.clone(),
            (Mod, true) => {
                // s % x = s - floor(s/x) * x
                let q = call1("floor", &[&scalar_op("_rdiv_scalar", x, s)?], &[])?;
                call1("negative", &[&mul(dy, &q)?], &[])?
            }
            // d(x^s)/dx = s * x^(s-1)
            (Power, false) => mul(dy, &scalar_op("_mul_scalar", &scalar_op("_power_scalar", x, s - 1.0)?, s)?)?,
            // d(s^x)/dx = y * ln(s)
            (Power, true) => scalar_op("_mul_scalar", &mul(dy, y)?, s.ln())?,
            (Maximum, _) => mul(dy, &scalar_op("_greater_equal_scalar", x, s)?)?,
            (Minimum, _) => mul(dy, &scalar_op("_lesser_equal_scalar", x, s)?)?,
            (Hypot, _) => mul(dy, &div(x, y)?)?,
            _ => return Ok(vec![None]),
        };
        Ok(vec![Some(dx)])
    }
}



/// Python's `str()` of a float scalar, as MXNet stores it (`2` for integral values).
pub fn format_scalar(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e16 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

macro_rules! scalar_defs {
    ($( $name:literal [$($alias:literal),*] => $kind:ident, $rev:expr; )*) => {
        pub fn register(defs: &mut Vec<OpDef>) {
            $(
                defs.push(OpDef {
                    name: $name,
                    aliases: &[$($alias),*],
                    arguments: &["data"],
                    params: &["scalar"],
                    doc: concat!("Elementwise ", stringify!($kind), " with a scalar."),
                    create: |attrs: &Attrs| {
                        let mut r = AttrReader::new($name, attrs);
                        let scalar = r.required::<f64>("scalar")?;
                        r.ignore(&["is_int"]);
                        r.finish(&["scalar"])?;
                        Ok(Arc::new(Scalar { name: $name, kind: BinaryKind::$kind, reversed: $rev, scalar }) as Arc<dyn Operator>)
                    },
                });
            )*
        }
    };
}

scalar_defs! {
    "_plus_scalar" ["_PlusScalar"] => Add, false;
    "_minus_scalar" ["_MinusScalar"] => Sub, false;
    "_rminus_scalar" ["_RMinusScalar"] => Sub, true;
    "_mul_scalar" ["_MulScalar"] => Mul, false;
    "_div_scalar" ["_DivScalar"] => Div, false;
    "_rdiv_scalar" ["_RDivScalar"] => Div, true;
    "_mod_scalar" ["_ModScalar"] => Mod, false;
    "_rmod_scalar" ["_RModScalar"] => Mod, true;
    "_power_scalar" ["_PowerScalar"] => Power, false;
    "_rpower_scalar" ["_RPowerScalar"] => Power, true;
    "_maximum_scalar" ["_MaximumScalar"] => Maximum, false;
    "_minimum_scalar" ["_MinimumScalar"] => Minimum, false;
    "_hypot_scalar" ["_HypotScalar"] => Hypot, false;
    "_equal_scalar" ["_EqualScalar"] => Equal, false;
    "_not_equal_scalar" ["_NotEqualScalar"] => NotEqual, false;
    "_greater_scalar" ["_GreaterScalar"] => Greater, false;
    "_greater_equal_scalar" ["_GreaterEqualScalar"] => GreaterEqual, false;
    "_lesser_scalar" ["_LesserScalar"] => Lesser, false;
    "_lesser_equal_scalar" ["_LesserEqualScalar"] => LesserEqual, false;
    "_logical_and_scalar" [] => LogicalAnd, false;
    "_logical_or_scalar" [] => LogicalOr, false;
    "_logical_xor_scalar" [] => LogicalXor, false;
}
