//! Shape, strides and offset of a strided view over a flat buffer.

/// A strided view: element `(i0, i1, ...)` lives at `offset + sum(ik * strides[k])`.
/// Strides are in elements and may be zero (broadcast) or negative (reversed views).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    pub shape: Vec<usize>,
    pub strides: Vec<isize>,
    pub offset: usize,
}

impl Layout {
    /// Row-major (C order) layout of `shape` starting at offset 0.
    pub fn contiguous(shape: &[usize]) -> Layout {
        Layout { shape: shape.to_vec(), strides: contiguous_strides(shape), offset: 0 }
    }

    pub fn ndim(&self) -> usize {
        self.shape.len()
    }

    /// Number of elements.
    pub fn size(&self) -> usize {
        self.shape.iter().product()
    }

    /// True when the elements are packed in row-major order (offset may be non-zero).
    pub fn is_contiguous(&self) -> bool {
        if self.size() == 0 {
            // No element is addressed, so any strides describe a packed (empty) array.
            return true;
        }
        let mut expected = 1isize;
        for (&dim, &stride) in self.shape.iter().zip(&self.strides).rev() {
            if dim != 1 && stride != expected {
                return false;
            }
            expected *= dim as isize;
        }
        true
    }

    /// True when two different indices can map to the same element (a zero stride on a dim > 1).
    pub fn has_overlap(&self) -> bool {
        self.shape.iter().zip(&self.strides).any(|(&d, &s)| d > 1 && s == 0)
    }

    /// Broadcast the view to `shape` (NumPy rules: align trailing dims; size-1 dims stretch).
    /// Returns `None` when the shapes are incompatible.
    pub fn broadcast_to(&self, shape: &[usize]) -> Option<Layout> {
        if shape.len() < self.ndim() {
            return None;
        }
        let lead = shape.len() - self.ndim();
        let mut strides = vec![0isize; shape.len()];
        for (i, &target) in shape.iter().enumerate().skip(lead) {
            let dim = self.shape[i - lead];
            if dim == target {
                strides[i] = self.strides[i - lead];
            } else if dim == 1 {
                strides[i] = 0;
            } else {
                return None;
            }
        }
        Some(Layout { shape: shape.to_vec(), strides, offset: self.offset })
    }

    /// Reorder the axes: new axis `i` is old axis `axes[i]`.
    pub fn permute(&self, axes: &[usize]) -> Layout {
        Layout {
            shape: axes.iter().map(|&a| self.shape[a]).collect(),
            strides: axes.iter().map(|&a| self.strides[a]).collect(),
            offset: self.offset,
        }
    }

    /// Merge adjacent dims that are laid out back to back, so iteration has fewer, longer runs.
    pub fn coalesced(&self) -> Layout {
        let mut shape: Vec<usize> = Vec::with_capacity(self.ndim());
        let mut strides: Vec<isize> = Vec::with_capacity(self.ndim());
        for (&d, &s) in self.shape.iter().zip(&self.strides) {
            if d == 1 {
                continue;
            }
            if let (Some(&pd), Some(&ps)) = (shape.last(), strides.last()) {
                if ps == s * d as isize {
                    *shape.last_mut().unwrap() = pd * d;
                    *strides.last_mut().unwrap() = s;
                    continue;
                }
            }
            shape.push(d);
            strides.push(s);
        }
        Layout { shape, strides, offset: self.offset }
    }
}

/// Row-major strides of `shape`, in elements.
pub fn contiguous_strides(shape: &[usize]) -> Vec<isize> {
    let mut strides = vec![0isize; shape.len()];
    let mut acc = 1isize;
    for i in (0..shape.len()).rev() {
        strides[i] = acc;
        acc *= shape[i].max(1) as isize;
    }
    strides
}

/// NumPy broadcast of two shapes, or `None` when they are incompatible.
pub fn broadcast_shapes(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let n = a.len().max(b.len());
    let mut out = vec![0usize; n];
    for i in 0..n {
        let da = if i + a.len() >= n { a[i + a.len() - n] } else { 1 };
        let db = if i + b.len() >= n { b[i + b.len() - n] } else { 1 };
        out[i] = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return None,
        };
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_shapes_follow_numpy() {
        assert_eq!(broadcast_shapes(&[2, 1, 3], &[4, 1]), Some(vec![2, 4, 3]));
        assert_eq!(broadcast_shapes(&[2, 3], &[3, 2]), None);
        assert_eq!(broadcast_shapes(&[], &[5]), Some(vec![5]));
    }

    #[test]
    fn transpose_is_not_contiguous() {
        let l = Layout::contiguous(&[2, 3]).permute(&[1, 0]);
        assert!(!l.is_contiguous());
        assert!(Layout::contiguous(&[2, 1, 3]).is_contiguous());
    }

    #[test]
    fn zero_size_layout_is_contiguous() {
        assert!(Layout::contiguous(&[2, 0]).is_contiguous());
    }

    #[test]
    fn coalesce_merges_packed_dims() {
        let l = Layout::contiguous(&[2, 3, 4]).coalesced();
        assert_eq!(l.shape, vec![24]);
    }
}
