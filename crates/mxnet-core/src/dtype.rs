//! Runtime element types and the Rust types behind them.

use half::{bf16, f16};

use crate::error::{Error, Result};

/// Element type of an NDArray. The discriminants are MXNet's type flags (`mshadow::TypeFlag`),
/// used in `.params` files and symbol JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum DType {
    Float32 = 0,
    Float64 = 1,
    Float16 = 2,
    UInt8 = 3,
    Int32 = 4,
    Int8 = 5,
    Int64 = 6,
    Bool = 7,
    BFloat16 = 12,
}

impl DType {
    pub const ALL: [DType; 9] = [
        DType::Float32,
        DType::Float64,
        DType::Float16,
        DType::UInt8,
        DType::Int32,
        DType::Int8,
        DType::Int64,
        DType::Bool,
        DType::BFloat16,
    ];

    /// Size of one element in bytes.
    pub fn size(self) -> usize {
        match self {
            DType::Float32 | DType::Int32 => 4,
            DType::Float64 | DType::Int64 => 8,
            DType::Float16 | DType::BFloat16 => 2,
            DType::UInt8 | DType::Int8 | DType::Bool => 1,
        }
    }

    /// numpy's name for the type (`bfloat16` has no numpy type and keeps its own name).
    pub fn name(self) -> &'static str {
        match self {
            DType::Float32 => "float32",
            DType::Float64 => "float64",
            DType::Float16 => "float16",
            DType::UInt8 => "uint8",
            DType::Int32 => "int32",
            DType::Int8 => "int8",
            DType::Int64 => "int64",
            DType::Bool => "bool",
            DType::BFloat16 => "bfloat16",
        }
    }

    pub fn from_name(name: &str) -> Result<DType> {
        let name = name.trim().trim_matches('\'');
        let found = match name {
            "float32" | "float" | "f4" | "<f4" | "real_t" => Some(DType::Float32),
            "float64" | "double" | "f8" | "<f8" => Some(DType::Float64),
            "float16" | "half" | "f2" | "<f2" => Some(DType::Float16),
            "uint8" | "u1" | "|u1" => Some(DType::UInt8),
            "int32" | "i4" | "<i4" => Some(DType::Int32),
            "int8" | "i1" | "|i1" => Some(DType::Int8),
            "int64" | "i8" | "<i8" => Some(DType::Int64),
            "bool" | "bool_" | "|b1" | "b1" => Some(DType::Bool),
            "bfloat16" => Some(DType::BFloat16),
            _ => None,
        };
        found.ok_or_else(|| {
            Error::Type(format!(
                "unsupported dtype '{name}'; supported dtypes are {}",
                DType::ALL.iter().map(|d| d.name()).collect::<Vec<_>>().join(", ")
            ))
        })
    }

    pub fn from_flag(flag: i32) -> Result<DType> {
        DType::ALL
            .iter()
            .copied()
            .find(|d| *d as i32 == flag)
            .ok_or_else(|| Error::Type(format!("unsupported MXNet dtype flag {flag}")))
    }

    pub fn is_float(self) -> bool {
        matches!(self, DType::Float32 | DType::Float64 | DType::Float16 | DType::BFloat16)
    }
}

impl std::fmt::Display for DType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A Rust type that can be an NDArray element.
pub trait Element: Copy + Send + Sync + 'static + bytemuck::Pod + Default {
    const DTYPE: DType;
    /// True for the integer types, which convert to one another through `i64`, keeping the
    /// low bits as C and numpy do (`int32(300)` to int8 is 44) instead of saturating.
    const INTEGER: bool = false;
    fn to_f64(self) -> f64;
    fn from_f64(v: f64) -> Self;
    fn to_i64(self) -> i64 {
        self.to_f64() as i64
    }
    fn from_i64_wrapping(v: i64) -> Self {
        Self::from_f64(v as f64)
    }
    /// Convert a scalar argument (a fill value, the `s` of `x + s`): for the integer types as
    /// [`float_to_integer`] does, as MXNet does (`full(3, 300, dtype='int8')` is 44, `uint8 +
    /// (-1)` wraps), where `from_f64` saturates.
    fn from_scalar(v: f64) -> Self {
        if Self::INTEGER {
            float_to_integer(v)
        } else {
            Self::from_f64(v)
        }
    }
}

/// Convert one element between dtypes: integers to integers through `i64` (wrapping), floats
/// to integers with [`float_to_integer`], all other pairs through `f64`.
#[inline(always)]
pub fn convert<S: Element, D: Element>(x: S) -> D {
    if S::INTEGER && D::INTEGER {
        D::from_i64_wrapping(x.to_i64())
    } else if D::INTEGER {
        float_to_integer(x.to_f64())
    } else {
        D::from_f64(x.to_f64())
    }
}

/// Convert a float to an integer dtype as numpy and MXNet 1.9.1 do on x86-64 (a C cast).
/// The value is truncated toward zero into an int32 (an int64 for int64), with NaN and values
/// out of that range as its minimum, and the low bits are kept. So `300.0` gives 44 as int8,
/// `-1.0` gives 255 as uint8, and NaN gives -2147483648 as int32 and 0 as int8.
#[inline(always)]
pub fn float_to_integer<D: Element>(v: f64) -> D {
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    let wide = if D::DTYPE == DType::Int64 {
        if (-TWO_63..TWO_63).contains(&v) {
            v as i64
        } else {
            i64::MIN
        }
    } else if v > -2_147_483_649.0 && v < 2_147_483_648.0 {
        v as i64
    } else {
        i32::MIN as i64
    };
    D::from_i64_wrapping(wide)
}

macro_rules! element {
    ($t:ty, $dt:expr, |$x:ident| $to:expr, |$v:ident| $from:expr) => {
        impl Element for $t {
            const DTYPE: DType = $dt;
            #[inline(always)]
            fn to_f64(self) -> f64 {
                let $x = self;
                $to
            }
            #[inline(always)]
            fn from_f64($v: f64) -> Self {
                $from
            }
        }
    };
}

element!(f32, DType::Float32, |x| x as f64, |v| v as f32);
element!(f64, DType::Float64, |x| x, |v| v);
element!(f16, DType::Float16, |x| x.to_f64(), |v| f16::from_f64(v));
element!(bf16, DType::BFloat16, |x| x.to_f64(), |v| bf16::from_f64(v));
macro_rules! integer_element {
    ($t:ty, $dt:expr) => {
        impl Element for $t {
            const DTYPE: DType = $dt;
            const INTEGER: bool = true;
            #[inline(always)]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline(always)]
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            #[inline(always)]
            fn to_i64(self) -> i64 {
                self as i64
            }
            #[inline(always)]
            fn from_i64_wrapping(v: i64) -> Self {
                v as $t
            }
        }
    };
}

integer_element!(u8, DType::UInt8);
integer_element!(i8, DType::Int8);
integer_element!(i32, DType::Int32);
integer_element!(i64, DType::Int64);

/// `bool` elements are stored as one byte holding 0 or 1.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(transparent)]
pub struct Bool8(pub u8);

element!(Bool8, DType::Bool, |x| x.0 as f64, |v| Bool8((v != 0.0) as u8));

/// Run `$body` with `$T` bound to the Rust type of `$dtype`, for every dtype.
#[macro_export]
macro_rules! dispatch_all {
    ($dtype:expr, $T:ident => $body:expr) => {
        match $dtype {
            $crate::DType::Float32 => { type $T = f32; $body }
            $crate::DType::Float64 => { type $T = f64; $body }
            $crate::DType::Float16 => { type $T = half::f16; $body }
            $crate::DType::BFloat16 => { type $T = half::bf16; $body }
            $crate::DType::UInt8 => { type $T = u8; $body }
            $crate::DType::Int8 => { type $T = i8; $body }
            $crate::DType::Int32 => { type $T = i32; $body }
            $crate::DType::Int64 => { type $T = i64; $body }
            $crate::DType::Bool => { type $T = $crate::dtype::Bool8; $body }
        }
    };
}

/// Run `$body` with `$T` bound to `f32` or `f64`; other dtypes return a `TypeError` naming `$op`.
#[macro_export]
macro_rules! dispatch_float {
    ($op:expr, $dtype:expr, $T:ident => $body:expr) => {
        match $dtype {
            $crate::DType::Float32 => { type $T = f32; $body }
            $crate::DType::Float64 => { type $T = f64; $body }
            other => {
                return Err($crate::Error::Type(format!(
                    "{}: dtype {} is not supported; this operator computes in float32 or float64, \
                     cast the input first (x.astype('float32'))",
                    $op, other
                )))
            }
        }
    };
}

/// Like [`dispatch_float!`] but also admits the integer types `int8`, `uint8`, `int32`, `int64`.
#[macro_export]
macro_rules! dispatch_real {
    ($op:expr, $dtype:expr, $T:ident => $body:expr) => {
        match $dtype {
            $crate::DType::Float32 => { type $T = f32; $body }
            $crate::DType::Float64 => { type $T = f64; $body }
            $crate::DType::UInt8 => { type $T = u8; $body }
            $crate::DType::Int8 => { type $T = i8; $body }
            $crate::DType::Int32 => { type $T = i32; $body }
            $crate::DType::Int64 => { type $T = i64; $body }
            other => {
                return Err($crate::Error::Type(format!(
                    "{}: dtype {} is not supported; cast the input to float32 first", $op, other
                )))
            }
        }
    };
}
