//! Operator attributes in MXNet's string form (`"(2, 3)"`, `"True"`, `"1e-05"`, `"None"`).
//!
//! Python's `str()` of a keyword argument is what MXNet stores in symbol JSON, so parsing the
//! same strings lets imperative calls and saved graphs share one code path.

use crate::dtype::DType;
use crate::error::{Error, Result};

/// Attribute list of one operator call, in the order given.
pub type Attrs = Vec<(String, String)>;

/// Reads typed attributes for operator `op` and rejects names the operator does not know.
pub struct AttrReader<'a> {
    op: &'static str,
    attrs: &'a [(String, String)],
    used: Vec<bool>,
}

impl<'a> AttrReader<'a> {
    pub fn new(op: &'static str, attrs: &'a [(String, String)]) -> Self {
        AttrReader { op, attrs, used: vec![false; attrs.len()] }
    }

    fn raw(&mut self, key: &str) -> Option<&'a str> {
        let pos = self.attrs.iter().position(|(k, _)| k == key)?;
        self.used[pos] = true;
        Some(self.attrs[pos].1.as_str())
    }

    /// Parse the attribute as `T`, or return `default` when absent (or the string `"None"`).
    pub fn get<T: FromAttr>(&mut self, key: &str, default: T) -> Result<T> {
        Ok(self.opt(key)?.unwrap_or(default))
    }

    /// Parse the attribute as `T`, or return `None` when absent or `"None"`.
    pub fn opt<T: FromAttr>(&mut self, key: &str) -> Result<Option<T>> {
        match self.raw(key) {
            None => Ok(None),
            Some(s) if s.trim() == "None" => Ok(None),
            Some(s) => T::from_attr(s).map(Some).map_err(|why| {
                Error::Value(format!("{}: invalid value '{}' for argument '{}': {}", self.op, s, key, why))
            }),
        }
    }

    /// Parse an attribute whose `"None"` means something other than its default (`sort`'s
    /// `axis=None`, the flattened array): `default` when absent, `None` for `"None"`.
    pub fn get_or_none<T: FromAttr>(&mut self, key: &str, default: T) -> Result<Option<T>> {
        match self.raw(key) {
            None => Ok(Some(default)),
            Some(s) if s.trim() == "None" => Ok(None),
            Some(_) => self.opt(key),
        }
    }

    /// Parse a required attribute as `T`. The error names the operator and the missing argument.
    pub fn required<T: FromAttr>(&mut self, key: &str) -> Result<T> {
        self.opt(key)?.ok_or_else(|| Error::Value(format!("{}: required argument '{}' is missing", self.op, key)))
    }

    /// Mark attributes as accepted but unused (MXNet options with no effect here, such as
    /// `cudnn_tune` or `workspace`).
    pub fn ignore(&mut self, keys: &[&str]) {
        for key in keys {
            let _ = self.raw(key);
        }
    }

    /// Reject attributes that no getter asked for, listing the ones the operator accepts.
    pub fn finish(self, accepted: &[&str]) -> Result<()> {
        let unknown: Vec<&str> = self
            .attrs
            .iter()
            .zip(&self.used)
            .filter(|(_, used)| !**used)
            .map(|((k, _), _)| k.as_str())
            // Hidden attributes (`__shape__`, `__lr_mult__`, ...) travel with symbol JSON.
            .filter(|k| !(k.starts_with("__") && k.ends_with("__")))
            .collect();
        if unknown.is_empty() {
            return Ok(());
        }
        Err(Error::Value(format!(
            "{}: unknown argument(s) {}; accepted arguments are {}",
            self.op,
            unknown.join(", "),
            if accepted.is_empty() { "none".to_string() } else { accepted.join(", ") }
        )))
    }
}

/// A value that can be parsed from MXNet's attribute string form.
pub trait FromAttr: Sized {
    fn from_attr(s: &str) -> std::result::Result<Self, String>;
}

impl FromAttr for bool {
    fn from_attr(s: &str) -> std::result::Result<Self, String> {
        match s.trim() {
            "True" | "true" | "1" => Ok(true),
            "False" | "false" | "0" => Ok(false),
            _ => Err("expected True or False".into()),
        }
    }
}

impl FromAttr for i64 {
    fn from_attr(s: &str) -> std::result::Result<Self, String> {
        let t = s.trim();
        t.parse::<i64>().or_else(|_| {
            // Accept integral floats such as "2.0", which Python users sometimes pass.
            match t.parse::<f64>() {
                Ok(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(f as i64),
                _ => Err("expected an integer".to_string()),
            }
        })
    }
}

impl FromAttr for i32 {
    fn from_attr(s: &str) -> std::result::Result<Self, String> {
        i64::from_attr(s).and_then(|v| i32::try_from(v).map_err(|_| "integer out of range".to_string()))
    }
}

impl FromAttr for usize {
    fn from_attr(s: &str) -> std::result::Result<Self, String> {
        let v = i64::from_attr(s)?;
        usize::try_from(v).map_err(|_| "expected a non-negative integer".to_string())
    }
}

impl FromAttr for f64 {
    fn from_attr(s: &str) -> std::result::Result<Self, String> {
        match s.trim() {
            "inf" | "Infinity" => Ok(f64::INFINITY),
            "-inf" | "-Infinity" => Ok(f64::NEG_INFINITY),
            "nan" | "NaN" => Ok(f64::NAN),
            t => t.parse::<f64>().map_err(|_| "expected a number".to_string()),
        }
    }
}

impl FromAttr for f32 {
    fn from_attr(s: &str) -> std::result::Result<Self, String> {
        f64::from_attr(s).map(|v| v as f32)
    }
}

impl FromAttr for crate::Context {
    /// `cpu(0)`, `gpu(1)`: the form Python's `str(mx.gpu(1))` gives.
    fn from_attr(s: &str) -> std::result::Result<Self, String> {
        let s = s.trim();
        let (kind, rest) = s.split_once('(').ok_or_else(|| format!("invalid context '{s}'; expected cpu(i) or gpu(i)"))?;
        let id: u32 = rest
            .strip_suffix(')')
            .and_then(|n| n.trim().parse().ok())
            .ok_or_else(|| format!("invalid context '{s}'; expected cpu(i) or gpu(i) with i >= 0"))?;
        match kind.trim() {
            "cpu" | "cpu_pinned" | "cpu_shared" => Ok(crate::Context::Cpu(id)),
            "gpu" => Ok(crate::Context::Gpu(id)),
            other => Err(format!("invalid device type '{other}' in context '{s}'; expected cpu or gpu")),
        }
    }
}

impl FromAttr for String {
    fn from_attr(s: &str) -> std::result::Result<Self, String> {
        Ok(s.trim().trim_matches('\'').trim_matches('"').to_string())
    }
}

impl FromAttr for DType {
    fn from_attr(s: &str) -> std::result::Result<Self, String> {
        let name = s.trim().trim_start_matches("<class 'numpy.").trim_end_matches("'>");
        DType::from_name(name).map_err(|e| e.to_string())
    }
}

/// A tuple such as `"(2, 3)"`, `"[2,3]"`, `"(2,)"`, `"()"` or a bare `"2"`.
impl<T: FromAttr> FromAttr for Vec<T> {
    fn from_attr(s: &str) -> std::result::Result<Self, String> {
        let t = s.trim();
        let inner = t
            .strip_prefix('(')
            .and_then(|x| x.strip_suffix(')'))
            .or_else(|| t.strip_prefix('[').and_then(|x| x.strip_suffix(']')))
            .unwrap_or(t);
        inner
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(T::from_attr)
            .collect()
    }
}

/// An element of a tuple that may be `None` (used by `slice`'s begin/end/step).
impl<T: FromAttr> FromAttr for Option<T> {
    fn from_attr(s: &str) -> std::result::Result<Self, String> {
        if s.trim() == "None" {
            Ok(None)
        } else {
            T::from_attr(s).map(Some)
        }
    }
}

/// Format attributes back into MXNet's string form, for symbol JSON.
pub fn tuple_string<T: std::fmt::Display>(values: &[T]) -> String {
    match values.len() {
        1 => format!("({},)", values[0]),
        _ => format!("({})", values.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(pairs: &[(&str, &str)]) -> Attrs {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn parses_python_str_forms() {
        let a = attrs(&[("shape", "(2, 3)"), ("flag", "True"), ("eps", "1e-05"), ("axis", "None")]);
        let mut r = AttrReader::new("test", &a);
        assert_eq!(r.required::<Vec<i64>>("shape").unwrap(), vec![2, 3]);
        assert!(r.required::<bool>("flag").unwrap());
        assert_eq!(r.required::<f64>("eps").unwrap(), 1e-5);
        assert_eq!(r.opt::<i64>("axis").unwrap(), None);
        r.finish(&[]).unwrap();
    }

    #[test]
    fn tuples_with_none_entries() {
        let v = Vec::<Option<i64>>::from_attr("(0, None)").unwrap();
        assert_eq!(v, vec![Some(0), None]);
    }

    #[test]
    fn unknown_argument_is_rejected() {
        let a = attrs(&[("axsi", "1")]);
        let r = AttrReader::new("sum", &a);
        let msg = r.finish(&["axis", "keepdims"]).unwrap_err().to_string();
        assert!(msg.contains("axsi"), "{msg}");
        assert!(msg.contains("keepdims"), "{msg}");
    }
}
