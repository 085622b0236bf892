//! Unary elementwise math (`abs`, `exp`, `erf`, `relu`, ...). One table row per operator gives
//! its name, its float kernel and its gradient, which is written with registered operators.
//!
//! Floats follow numpy for NaN and infinity (`sign(nan)` is nan, `log(0)` is -inf). `round`
//! and `rint` keep MXNet 1.9.1's rounding of halves, which differs from numpy's (see their rows).

use std::f64::consts::{LN_10, LN_2, PI};
use std::sync::Arc;

use mxnet_cpu::math;
use mxnet_cpu::simd;
use mxnet_cpu::strided::unary_map;
use mxnet_cpu::parallel;
use mxnet_cpu::Layout;

use super::arith::{Arith, Float};
use super::grad_util::{div, mul, scalar_op};
use crate::attrs::{AttrReader, Attrs};
use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use crate::imperative::call1;
use crate::ndarray::NDArray;
use crate::operator::{GradContext, OpContext, OpDef, Operator, TensorDesc};
use crate::dispatch_float;

fn un(name: &str, x: &NDArray) -> Result<NDArray> {
    call1(name, &[x], &[])
}

/// `dy * scale`.
fn scaled(dy: &NDArray, scale: f64) -> Result<NDArray> {
    scalar_op("_mul_scalar", dy, scale)
}

#[inline(always)]
fn c<T: Element>(v: f64) -> T {
    T::from_f64(v)
}

/// Apply an f64 function (from `libm` or `statrs`) to a float element.
#[inline(always)]
fn via_f64<T: Element>(x: T, f: impl Fn(f64) -> f64) -> T {
    T::from_f64(f(x.to_f64()))
}

/// numpy's `sign`: 0 for 0, nan for nan.
#[inline(always)]
fn sign<T: Float>(x: T) -> T {
    if x > c(0.0) {
        c(1.0)
    } else if x < c(0.0) {
        c(-1.0)
    } else {
        x
    }
}

/// Compute the inverse error function. `statrs` returns ±inf for |x| > 1; numpy and scipy return nan.
fn erfinv(x: f64) -> f64 {
    if x.is_nan() || x.abs() > 1.0 {
        f64::NAN
    } else {
        statrs::function::erf::erf_inv(x)
    }
}

/// The kernels for integer inputs, for the operators that accept them. Integers wrap on
/// overflow (`negative(int8(-128))` is -128), as in C and numpy.
fn int_apply<T: Arith>(kind: UnaryKind, x: T) -> T {
    let zero = T::from_f64(0.0);
    match kind {
        UnaryKind::Negative => zero.sub(x),
        UnaryKind::Abs => {
            if x < zero {
                zero.sub(x)
            } else {
                x
            }
        }
        UnaryKind::Sign => {
            if x > zero {
                T::from_f64(1.0)
            } else if x < zero {
                T::from_f64(-1.0)
            } else {
                zero
            }
        }
        UnaryKind::Square => x.mul(x),
        UnaryKind::LogicalNot => T::from_bool(x == zero),
        // `infer` admits integer inputs only for the kinds above.
        _ => x,
    }
}

macro_rules! unary_table {
    ($(
        $kind:ident $name:literal [$($alias:literal),*] int: $int:literal,
        fwd |$x:ident| $f:expr,
        grad |$gx:ident, $gy:ident, $gdy:ident| $df:expr;
    )*) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum UnaryKind { $($kind),* }

        impl UnaryKind {
            pub fn name(self) -> &'static str {
                match self { $(UnaryKind::$kind => $name),* }
            }

            /// Whether integer dtypes are accepted (they keep their dtype).
            pub fn allows_int(self) -> bool {
                match self { $(UnaryKind::$kind => $int),* }
            }

            #[inline(always)]
            pub fn apply<T: Float>(self, x: T) -> T {
                match self { $(UnaryKind::$kind => { let $x = x; $f }),* }
            }
        }

        /// `out = kind(x)` with one loop per kind, for the reason given at `with_binary_fn`.
        fn map_float<E: Float + Send + Sync>(kind: UnaryKind, x: &[E], layout: &Layout, out: &mut [E]) {
            match kind {
                $(UnaryKind::$kind => {
                    #[inline(always)]
                    fn element<T: Float>($x: T) -> T {
                        $f
                    }
                    map_elements(x, layout, out, |v: E, _| element(v))
                }),*
            }
        }

        /// `dx` from the input `x`, the output `y` and the output gradient `dy`.
        #[allow(unused_variables)]
        fn gradient_of(kind: UnaryKind, x: &NDArray, y: &NDArray, dy: &NDArray) -> Result<NDArray> {
            match kind {
                $(UnaryKind::$kind => { let ($gx, $gy, $gdy) = (x, y, dy); $df }),*
            }
        }

        pub fn register(defs: &mut Vec<OpDef>) {
            $(
                defs.push(OpDef {
                    name: $name,
                    aliases: &[$($alias),*],
                    arguments: &["data"],
                    params: &[],
                    doc: concat!("Elementwise ", $name, " of the input."),
                    create: |attrs: &Attrs| {
                        AttrReader::new($name, attrs).finish(&[])?;
                        Ok(Arc::new(Unary { kind: UnaryKind::$kind }) as Arc<dyn Operator>)
                    },
                });
            )*
        }
    };
}

unary_table! {
    Abs "abs" [] int: true,
        fwd |x| x.abs(),
        grad |x, y, dy| mul(dy, &un("sign", x)?);
    Sign "sign" [] int: true,
        fwd |x| sign(x),
        grad |x, y, dy| un("zeros_like", x);
    // MXNet 1.9.1 rounds halves away from zero (C `round`), where numpy rounds them to even:
    // round(2.5) is 3 here and 2.0 in numpy.
    Round "round" [] int: false,
        fwd |x| x.round(),
        grad |x, y, dy| un("zeros_like", x);
    // MXNet 1.9.1's `rint` takes the floor when x is exactly halfway, so rint(1.5) is 1 and
    // rint(-1.5) is -2, where numpy rounds halves to even. We keep MXNet's results.
    // NOTE: no fixture covers this. The rule follows MXNet's rint docstring ("for input n.5
    // rint returns n while round returns n+1").
    Rint "rint" [] int: false,
        fwd |x| { let (f, cl) = (x.floor(), x.ceil()); if x - f <= cl - x { f } else { cl } },
        grad |x, y, dy| un("zeros_like", x);
    Ceil "ceil" [] int: false,
        fwd |x| x.ceil(),
        grad |x, y, dy| un("zeros_like", x);
    Floor "floor" [] int: false,
        fwd |x| x.floor(),
        grad |x, y, dy| un("zeros_like", x);
    Trunc "trunc" [] int: false,
        fwd |x| x.trunc(),
        grad |x, y, dy| un("zeros_like", x);
    Fix "fix" [] int: false,
        fwd |x| x.trunc(),
        grad |x, y, dy| un("zeros_like", x);
    Square "square" [] int: true,
        fwd |x| x * x,
        grad |x, y, dy| mul(dy, &scaled(x, 2.0)?);
    Sqrt "sqrt" [] int: false,
        fwd |x| x.sqrt(),
        grad |x, y, dy| div(&scaled(dy, 0.5)?, y);
    Rsqrt "rsqrt" [] int: false,
        fwd |x| c::<T>(1.0) / x.sqrt(),
        // d(x^-1/2) = -1/2 x^-3/2 = -y / (2x)
        grad |x, y, dy| mul(dy, &div(&scaled(y, -0.5)?, x)?);
    Cbrt "cbrt" [] int: false,
        fwd |x| x.cbrt(),
        grad |x, y, dy| div(dy, &scaled(&un("square", y)?, 3.0)?);
    Rcbrt "rcbrt" [] int: false,
        fwd |x| c::<T>(1.0) / x.cbrt(),
        grad |x, y, dy| mul(dy, &div(&scaled(y, -1.0 / 3.0)?, x)?);
    Exp "exp" [] int: false,
        fwd |x| x.exp(),
        grad |x, y, dy| mul(dy, y);
    Expm1 "expm1" [] int: false,
        fwd |x| x.exp_m1(),
        grad |x, y, dy| mul(dy, &un("exp", x)?);
    Log "log" [] int: false,
        fwd |x| x.ln(),
        grad |x, y, dy| div(dy, x);
    Log10 "log10" [] int: false,
        fwd |x| x.log10(),
        grad |x, y, dy| div(dy, &scaled(x, LN_10)?);
    Log2 "log2" [] int: false,
        fwd |x| x.log2(),
        grad |x, y, dy| div(dy, &scaled(x, LN_2)?);
    Log1p "log1p" [] int: false,
        fwd |x| x.ln_1p(),
        grad |x, y, dy| div(dy, &scalar_op("_plus_scalar", x, 1.0)?);
    Reciprocal "reciprocal" [] int: false,
        fwd |x| c::<T>(1.0) / x,
        grad |x, y, dy| mul(dy, &scaled(&un("square", y)?, -1.0)?);
    Negative "negative" [] int: true,
        fwd |x| -x,
        grad |x, y, dy| scaled(dy, -1.0);
    Sin "sin" [] int: false,
        fwd |x| x.sin(),
        grad |x, y, dy| mul(dy, &un("cos", x)?);
    Cos "cos" [] int: false,
        fwd |x| x.cos(),
        grad |x, y, dy| mul(dy, &scaled(&un("sin", x)?, -1.0)?);
    Tan "tan" [] int: false,
        fwd |x| x.tan(),
        grad |x, y, dy| mul(dy, &scalar_op("_plus_scalar", &un("square", y)?, 1.0)?);
    Arcsin "arcsin" [] int: false,
        fwd |x| x.asin(),
        // 1 / sqrt(1 - x^2)
        grad |x, y, dy| mul(dy, &un("rsqrt", &scalar_op("_rminus_scalar", &un("square", x)?, 1.0)?)?);
    Arccos "arccos" [] int: false,
        fwd |x| x.acos(),
        grad |x, y, dy| mul(dy, &scaled(&un("rsqrt", &scalar_op("_rminus_scalar", &un("square", x)?, 1.0)?)?, -1.0)?);
    Arctan "arctan" [] int: false,
        fwd |x| x.atan(),
        grad |x, y, dy| div(dy, &scalar_op("_plus_scalar", &un("square", x)?, 1.0)?);
    Sinh "sinh" [] int: false,
        fwd |x| x.sinh(),
        grad |x, y, dy| mul(dy, &un("cosh", x)?);
    Cosh "cosh" [] int: false,
        fwd |x| x.cosh(),
        grad |x, y, dy| mul(dy, &un("sinh", x)?);
    Tanh "tanh" [] int: false,
        fwd |x| x.tanh(),
        grad |x, y, dy| mul(dy, &scalar_op("_rminus_scalar", &un("square", y)?, 1.0)?);
    Arcsinh "arcsinh" [] int: false,
        fwd |x| x.asinh(),
        grad |x, y, dy| mul(dy, &un("rsqrt", &scalar_op("_plus_scalar", &un("square", x)?, 1.0)?)?);
    Arccosh "arccosh" [] int: false,
        fwd |x| x.acosh(),
        grad |x, y, dy| mul(dy, &un("rsqrt", &scalar_op("_minus_scalar", &un("square", x)?, 1.0)?)?);
    Arctanh "arctanh" [] int: false,
        fwd |x| x.atanh(),
        grad |x, y, dy| div(dy, &scalar_op("_rminus_scalar", &un("square", x)?, 1.0)?);
    Degrees "degrees" [] int: false,
        fwd |x| x * c::<T>(180.0 / PI),
        grad |x, y, dy| scaled(dy, 180.0 / PI);
    Radians "radians" [] int: false,
        fwd |x| x * c::<T>(PI / 180.0),
        grad |x, y, dy| scaled(dy, PI / 180.0);
    Erf "erf" [] int: false,
        fwd |x| via_f64(x, libm::erf),
        // 2/sqrt(pi) * exp(-x^2)
        grad |x, y, dy| mul(dy, &scaled(&un("exp", &scaled(&un("square", x)?, -1.0)?)?, 2.0 / PI.sqrt())?);
    Erfinv "erfinv" [] int: false,
        fwd |x| via_f64(x, erfinv),
        // sqrt(pi)/2 * exp(y^2)
        grad |x, y, dy| mul(dy, &scaled(&un("exp", &un("square", y)?)?, PI.sqrt() / 2.0)?);
    Gamma "gamma" [] int: false,
        fwd |x| via_f64(x, libm::tgamma),
        grad |x, y, dy| mul(dy, &mul(y, &un("_digamma", x)?)?);
    // log|gamma(x)|, like C's lgamma and scipy's gammaln.
    Gammaln "gammaln" [] int: false,
        fwd |x| via_f64(x, libm::lgamma),
        grad |x, y, dy| mul(dy, &un("_digamma", x)?);
    // The derivative of gammaln, used by the gradients of gamma and gammaln. Its own
    // gradient (trigamma) is not implemented.
    Digamma "_digamma" [] int: false,
        fwd |x| via_f64(x, statrs::function::gamma::digamma),
        grad |x, y, dy| Err(Error::MXNet("_digamma: the second derivative of gamma and gammaln is not implemented".into()));
    // relu(nan) is nan, like numpy's maximum(x, 0).
    Relu "relu" [] int: false,
        fwd |x| if x > c(0.0) || x.is_nan() { x } else { c(0.0) },
        grad |x, y, dy| mul(dy, &scalar_op("_greater_scalar", x, 0.0)?);
    // e^-|x| is at most 1, so it cannot overflow, and results below the smallest normal float
    // stay subnormal instead of 1 / (1 + inf) = 0.
    Sigmoid "sigmoid" [] int: false,
        fwd |x| {
            let e = (-x.abs()).exp();
            let s = c::<T>(1.0) / (c::<T>(1.0) + e);
            if x >= c(0.0) { s } else { e * s }
        },
        grad |x, y, dy| mul(dy, &mul(y, &scalar_op("_rminus_scalar", y, 1.0)?)?);
    Softsign "softsign" [] int: false,
        fwd |x| x / (c::<T>(1.0) + x.abs()),
        // 1 / (1 + |x|)^2
        grad |x, y, dy| div(dy, &un("square", &scalar_op("_plus_scalar", &un("abs", x)?, 1.0)?)?);
    LogicalNot "logical_not" [] int: true,
        fwd |x| if x == c(0.0) { c(1.0) } else { c(0.0) },
        grad |x, y, dy| un("zeros_like", x);
}

impl UnaryKind {
    /// The GPU kernel: a WGSL expression of `x0` (see `mxnet_gpu::kernels::elementwise`),
    /// for float32 and, where `allows_int`, int32. `None` where no GPU kernel exists yet.
    fn wgsl(self, int: bool) -> Option<&'static str> {
        use UnaryKind::*;
        if int {
            return Some(match self {
                Negative => "-x0",
                Abs => "abs(x0)",
                Sign => "sign(x0)",
                Square => "x0 * x0",
                LogicalNot => "select(0, 1, x0 == 0)",
                _ => return None,
            });
        }
        Some(match self {
            Abs => "abs(x0)",
            Sign => "f_sign(x0)",
            Round => "f_round(x0)",
            Rint => "f_rint(x0)",
            Ceil => "ceil(x0)",
            Floor => "floor(x0)",
            Trunc | Fix => "trunc(x0)",
            Square => "x0 * x0",
            Sqrt => "f_sqrt(x0)",
            Rsqrt => "1.0 / f_sqrt(x0)",
            Cbrt => "f_cbrt(x0)",
            Rcbrt => "1.0 / f_cbrt(x0)",
            Exp => "exp(x0)",
            Expm1 => "f_expm1(x0)",
            Log => "f_log(x0)",
            Log10 => "f_log(x0) * 0.4342944819032518",
            Log2 => "f_log(x0) * 1.4426950408889634",
            Log1p => "f_log1p(x0)",
            Reciprocal => "1.0 / x0",
            Negative => "-x0",
            Sin => "sin(x0)",
            Cos => "cos(x0)",
            Tan => "tan(x0)",
            Arcsin => "f_asin(x0)",
            Arccos => "f_acos(x0)",
            Arctan => "f_atan(x0)",
            Sinh => "f_sinh(x0)",
            Cosh => "0.5 * (exp(x0) + exp(-x0))",
            Tanh => "f_tanh(x0)",
            Arcsinh => "f_asinh(x0)",
            Arccosh => "f_acosh(x0)",
            Arctanh => "f_atanh(x0)",
            Degrees => "x0 * 57.29577951308232",
            Radians => "x0 * 0.017453292519943295",
            Erf => "f_erf(x0)",
            Relu => "select(0.0, x0, x0 > 0.0 || is_nan(x0))",
            Sigmoid => "f_sigmoid(x0)",
            Softsign => "x0 / (1.0 + abs(x0))",
            LogicalNot => "select(0.0, 1.0, x0 == 0.0)",
            Erfinv | Gamma | Gammaln | Digamma => return None,
        })
    }
}

/// `out[i] = f(x[i], fused)`, in parallel chunks for large contiguous inputs, where `fused` is
/// true when `mul_add` is one instruction in the copy running (`simd::dispatch_fused`).
fn map_elements<T: Copy + Send + Sync>(x: &[T], layout: &Layout, out: &mut [T], f: impl Fn(T, bool) -> T + Sync) {
    if !layout.is_contiguous() {
        return unary_map(x, layout, out, |v| f(v, false));
    }
    if out.is_empty() {
        // An empty view's offset may lie past the end of its storage.
        return;
    }
    let src = &x[layout.offset..layout.offset + layout.size()];
    parallel::for_each_chunk(src, out, |src, dst| simd::map_fused(src, dst, &f))
}

/// One unary elementwise operator; `kind` selects the row of the table.
pub struct Unary {
    pub(crate) kind: UnaryKind,
}

impl Operator for Unary {
    fn name(&self) -> &'static str {
        self.kind.name()
    }

    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        let [x] = inputs else {
            return Err(Error::Value(format!("{}: expected 1 input, got {}", self.name(), inputs.len())));
        };
        let ok = match x.dtype {
            DType::Float32 | DType::Float64 => true,
            DType::Int8 | DType::UInt8 | DType::Int32 | DType::Int64 => self.kind.allows_int(),
            _ => false,
        };
        if !ok {
            let accepted = if self.kind.allows_int() {
                "float32, float64, int8, uint8, int32 or int64"
            } else {
                "float32 or float64"
            };
            return Err(Error::Type(format!(
                "{}: dtype {} is not supported; this operator accepts {}, so cast the input first (x.astype('float32'))",
                self.name(),
                x.dtype,
                accepted
            )));
        }
        Ok(vec![x.clone()])
    }

    fn overwrites_outputs(&self) -> bool {
        true
    }

    fn inplace_safe(&self) -> bool {
        true
    }

    fn differentiable(&self) -> bool {
        !matches!(self.kind, UnaryKind::LogicalNot)
    }

    fn forward(&self, _ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let (x, out) = (&inputs[0], &outputs[0]);
        let kind = self.kind;
        // SAFETY: called by the engine with `x` read and `out` written. When `out` is `x`
        // (an in-place call), each element is read before it is written.
        unsafe {
            match x.dtype() {
                DType::Int8 => map_elements(x.data::<i8>(), x.layout(), out.out_data::<i8>(), |v, _| int_apply(kind, v)),
                DType::UInt8 => map_elements(x.data::<u8>(), x.layout(), out.out_data::<u8>(), |v, _| int_apply(kind, v)),
                DType::Int32 => map_elements(x.data::<i32>(), x.layout(), out.out_data::<i32>(), |v, _| int_apply(kind, v)),
                DType::Int64 => map_elements(x.data::<i64>(), x.layout(), out.out_data::<i64>(), |v, _| int_apply(kind, v)),
                // exp, log, log1p, expm1, tanh, erf and sigmoid in float32 through the
                // vectorisable functions of `mxnet_cpu::math` (at most 2-3 ulp from the
                // correctly rounded result), because the standard library's functions run one
                // element at a time.
                DType::Float32 if kind == UnaryKind::Exp => {
                    map_elements(x.data::<f32>(), x.layout(), out.out_data::<f32>(), math::exp)
                }
                DType::Float32 if kind == UnaryKind::Log => {
                    map_elements(x.data::<f32>(), x.layout(), out.out_data::<f32>(), math::ln)
                }
                DType::Float32 if kind == UnaryKind::Tanh => {
                    map_elements(x.data::<f32>(), x.layout(), out.out_data::<f32>(), math::tanh)
                }
                DType::Float32 if kind == UnaryKind::Erf => {
                    map_elements(x.data::<f32>(), x.layout(), out.out_data::<f32>(), math::erf)
                }
                DType::Float32 if kind == UnaryKind::Log1p => {
                    map_elements(x.data::<f32>(), x.layout(), out.out_data::<f32>(), math::ln_1p)
                }
                DType::Float32 if kind == UnaryKind::Expm1 => {
                    map_elements(x.data::<f32>(), x.layout(), out.out_data::<f32>(), math::exp_m1)
                }
                DType::Float32 if kind == UnaryKind::Sigmoid => {
                    map_elements(x.data::<f32>(), x.layout(), out.out_data::<f32>(), |v, fused| {
                        // e^-|v| is at most 1, so results below f32::MIN_POSITIVE stay
                        // subnormal instead of becoming 1 / (1 + inf) = 0.
                        let e = math::exp(-v.abs(), fused);
                        let s = 1.0 / (1.0 + e);
                        if v >= 0.0 { s } else { e * s }
                    })
                }
                other => dispatch_float!(self.name(), other, T => {
                    map_float(kind, x.data::<T>(), x.layout(), out.out_data::<T>());
                }),
            }
        }
        Ok(())
    }

    fn supports_gpu(&self) -> bool {
        self.kind.wgsl(false).is_some()
    }

    fn forward_gpu(&self, _ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let int = inputs[0].dtype() == DType::Int32;
        let expr = self.kind.wgsl(int).ok_or_else(|| crate::gpu::no_kernel(self.name()))?;
        crate::gpu::map(self.name(), expr, &[&inputs[0]], &[], &outputs[0])
    }

    fn backward(&self, g: &GradContext) -> Result<Vec<Option<NDArray>>> {
        let dx = gradient_of(self.kind, &g.inputs[0], &g.outputs[0], &g.out_grads[0])?;
        Ok(vec![Some(dx)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_keeps_zero_and_nan() {
        assert_eq!(UnaryKind::Sign.apply(0.0f64), 0.0);
        assert_eq!(UnaryKind::Sign.apply(-3.0f32), -1.0);
        assert!(UnaryKind::Sign.apply(f64::NAN).is_nan());
    }

    #[test]
    fn rint_takes_floor_at_halves() {
        assert_eq!(UnaryKind::Rint.apply(1.5f64), 1.0);
        assert_eq!(UnaryKind::Rint.apply(-1.5f64), -2.0);
        assert_eq!(UnaryKind::Rint.apply(1.6f64), 2.0);
        assert_eq!(UnaryKind::Round.apply(2.5f64), 3.0);
    }

    #[test]
    fn erfinv_outside_domain_is_nan() {
        assert!(erfinv(1.5).is_nan());
        assert_eq!(erfinv(1.0), f64::INFINITY);
        assert!((libm::erf(erfinv(0.3)) - 0.3).abs() < 1e-12);
    }

    #[test]
    fn integer_negative_wraps() {
        assert_eq!(int_apply(UnaryKind::Negative, i8::MIN), i8::MIN);
        assert_eq!(int_apply(UnaryKind::Abs, -5i32), 5);
        assert_eq!(int_apply(UnaryKind::LogicalNot, 0i64), 1);
    }
}
