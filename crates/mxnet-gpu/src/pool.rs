//! A size-bucketed cache of device buffers. Creating a wgpu buffer costs a driver allocation
//! and zeroing, and an eager loop frees and requests the same sizes every step. So freed
//! buffers wait here for the next request of their bucket.

use std::collections::HashMap;
use std::sync::Arc;

use crate::backend::{Device, RawBuffer};
use crate::Result;

/// Upper bound on the bytes kept per device; buffers freed beyond it go back to the driver.
/// NOTE: a fixed guess, not tuned.
const MAX_CACHED_BYTES: u64 = 1 << 30;

#[derive(Default)]
pub(crate) struct BufferPool {
    free: HashMap<u64, Vec<RawBuffer>>,
    cached_bytes: u64,
    /// Bytes of buffers handed out and not yet returned.
    pub(crate) in_use_bytes: u64,
}

/// Round a request up to its bucket: multiples of 256 bytes up to 64 KiB, then four buckets
/// per power of two, so a reused buffer wastes at most 25%.
pub(crate) fn bucket_size(nbytes: u64) -> u64 {
    let n = nbytes.max(4);
    if n <= 1 << 16 {
        return n.div_ceil(256) * 256;
    }
    let top = 63 - n.leading_zeros();
    let step = 1u64 << (top - 2);
    n.div_ceil(step) * step
}

/// Device memory behind an array. The buffer returns to its device's pool when dropped. The
/// engine drops it only after the last operation using it was recorded, and the GPU runs
/// recorded commands in order, so a later user of the buffer runs after that operation.
pub struct Buffer {
    raw: Option<RawBuffer>,
    device: Arc<Device>,
}

impl std::fmt::Debug for Buffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Buffer({} bytes on {:?})",
            self.raw().capacity,
            self.device
        )
    }
}

impl Buffer {
    /// Take a buffer of at least `nbytes` from the pool of `device`, or create one.
    pub fn allocate(device: &Arc<Device>, nbytes: u64) -> Result<Buffer> {
        if nbytes > device.max_binding_bytes() {
            return Err(crate::GpuError::OutOfMemory(format!(
                "an array of {nbytes} bytes exceeds the {} bytes one kernel binding can address on {device:?}; \
                 split the array or keep it on the CPU",
                device.max_binding_bytes()
            )));
        }
        let capacity =
            bucket_size(nbytes).min(crate::backend::round4(device.max_binding_bytes().max(4)));
        let reused = {
            let mut pool = device.pool.lock().unwrap_or_else(|p| p.into_inner());
            let raw = pool.free.get_mut(&capacity).and_then(Vec::pop);
            if raw.is_some() {
                pool.cached_bytes -= capacity;
            }
            pool.in_use_bytes += capacity;
            raw
        };
        let raw = match reused {
            Some(raw) => raw,
            None => device.create_buffer(capacity).inspect_err(|_| {
                device
                    .pool
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .in_use_bytes -= capacity;
            })?,
        };
        Ok(Buffer {
            raw: Some(raw),
            device: device.clone(),
        })
    }

    pub fn device(&self) -> &Arc<Device> {
        &self.device
    }

    pub fn raw(&self) -> &RawBuffer {
        self.raw
            .as_ref()
            .expect("a buffer holds its allocation until dropped")
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        let Some(raw) = self.raw.take() else { return };
        if crate::backend::is_forked_child() {
            // The driver behind this buffer lives in the parent process.
            std::mem::forget(raw);
            return;
        }
        let mut pool = self.device.pool.lock().unwrap_or_else(|p| p.into_inner());
        pool.in_use_bytes -= raw.capacity;
        if pool.cached_bytes + raw.capacity <= MAX_CACHED_BYTES {
            pool.cached_bytes += raw.capacity;
            pool.free.entry(raw.capacity).or_default().push(raw);
        }
    }
}

/// Bytes of `device` held by arrays and bytes cached for reuse.
pub fn memory_usage(device: &Device) -> (u64, u64) {
    let pool = device.pool.lock().unwrap_or_else(|p| p.into_inner());
    (pool.in_use_bytes, pool.cached_bytes)
}

#[cfg(test)]
mod tests {
    use super::bucket_size;

    #[test]
    fn buckets_waste_at_most_a_quarter() {
        assert_eq!(bucket_size(0), 256);
        assert_eq!(bucket_size(257), 512);
        for n in [70_000u64, 1 << 20, (1 << 20) + 1, 123_456_789] {
            let b = bucket_size(n);
            assert!(b >= n, "{n} -> {b}");
            assert!((b - n) * 4 <= n, "{n} -> {b}");
        }
    }
}
