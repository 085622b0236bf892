//! The only module that calls wgpu: adapters, devices, buffers, pipelines, command submission.
//! wgpu changes its API between major versions; keeping every call here confines an upgrade to
//! one file.
//!
//! Ordering model: every command of a device (kernel dispatch, copy, clear, upload) is recorded
//! into one pending command encoder under a mutex and submitted in recording order. The
//! dependency engine records an operation only after the operations it depends on were recorded,
//! so the GPU runs them in dependency order, and wgpu inserts the barriers between them.

use std::collections::HashMap;
use std::num::NonZeroU64;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use wgpu::util::DeviceExt;

use crate::pool::BufferPool;
use crate::{GpuError, Result};

/// Commands recorded before the encoder is submitted without being asked: bounds the latency
/// of work queued by a Python loop that never synchronises.
const MAX_PENDING_COMMANDS: usize = 64;

/// Staging buffers kept for downloads: a few, so that a loop reading results back reuses
/// them, and at most 256 MiB of mappable memory held idle.
const MAX_STAGING_BUFFERS: usize = 4;
const MAX_STAGING_BYTES: u64 = 256 << 20;

/// 32-bit words of the uniform block every kernel receives (shapes, strides, scalars).
pub const PARAM_WORDS: usize = 96;

/// One adapter that can run compute shaders, as `mx.gpu(i)` numbers them.
#[derive(Clone, Debug)]
pub struct AdapterDesc {
    pub name: String,
    /// "Vulkan", "Metal", "Dx12" or "Gl".
    pub backend: String,
    /// "DiscreteGpu", "IntegratedGpu", "VirtualGpu", "Cpu" or "Other".
    pub device_type: String,
    pub driver: String,
    /// The GPU shares the host's memory (an integrated GPU or a software rasteriser) and wgpu
    /// can map its storage buffers, so reads to the host map the array's own buffer.
    pub unified_memory: bool,
}

struct Adapters {
    list: Vec<(wgpu::Adapter, AdapterDesc)>,
    devices: Vec<OnceLock<std::result::Result<Arc<Device>, String>>>,
}

static ADAPTERS: OnceLock<Adapters> = OnceLock::new();

fn adapters() -> &'static Adapters {
    ADAPTERS.get_or_init(|| {
        // WGPU_BACKEND (vulkan, metal, dx12, gl) narrows the backends, as in every wgpu program.
        // GL only when nothing else can compute: it lacks features the other backends have,
        // and probing it prints EGL warnings on headless machines.
        let mut found = enumerate(wgpu::Backends::all() - wgpu::Backends::GL);
        if found.is_empty() {
            found = enumerate(wgpu::Backends::GL);
        }
        if let Ok(wanted) = std::env::var("WGPU_ADAPTER_NAME") {
            let wanted = wanted.to_lowercase();
            found.retain(|(_, d)| d.name.to_lowercase().contains(&wanted));
        }
        // Hardware first, software rasterisers (llvmpipe, WARP) last, keeping wgpu's order within
        // a class, so gpu(0) is the fastest adapter on a machine with both.
        let rank = |d: &AdapterDesc| match d.device_type.as_str() {
            "DiscreteGpu" => 0,
            "IntegratedGpu" => 1,
            "VirtualGpu" => 2,
            "Other" => 3,
            _ => 4,
        };
        found.sort_by_key(|(_, d)| rank(d));
        let devices = found.iter().map(|_| OnceLock::new()).collect();
        Adapters {
            list: found,
            devices,
        }
    })
}

/// Adapters of `backends` (narrowed by WGPU_BACKEND) that can run compute shaders.
fn enumerate(backends: wgpu::Backends) -> Vec<(wgpu::Adapter, AdapterDesc)> {
    let mut descriptor = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    descriptor.backends &= backends;
    if descriptor.backends.is_empty() {
        return Vec::new();
    }
    let instance = wgpu::Instance::new(descriptor);
    pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()))
        .into_iter()
        .filter(|a| {
            a.get_downlevel_capabilities()
                .flags
                .contains(wgpu::DownlevelFlags::COMPUTE_SHADERS)
        })
        .map(|a| {
            let info = a.get_info();
            let shares_host_memory = matches!(
                info.device_type,
                wgpu::DeviceType::IntegratedGpu | wgpu::DeviceType::Cpu
            );
            let desc = AdapterDesc {
                unified_memory: shares_host_memory
                    && a.features()
                        .contains(wgpu::Features::MAPPABLE_PRIMARY_BUFFERS),
                name: info.name.clone(),
                backend: format!("{:?}", info.backend),
                device_type: format!("{:?}", info.device_type),
                driver: format!("{} {}", info.driver, info.driver_info)
                    .trim()
                    .to_string(),
            };
            (a, desc)
        })
        .collect()
}

/// List the adapters `mx.gpu(i)` can open, in index order.
pub fn list_adapters() -> Vec<AdapterDesc> {
    adapters().list.iter().map(|(_, d)| d.clone()).collect()
}

/// Set in a child process after `fork`: the parent's device handles, driver threads and
/// mappings do not survive a fork, so the child may not touch them.
static FORKED: AtomicBool = AtomicBool::new(false);

/// Record that this process is a forked child: every GPU call fails from now on, and device
/// buffers inherited from the parent are abandoned instead of being released to a driver that
/// does not exist in this process.
pub fn forget_after_fork() {
    FORKED.store(true, Ordering::SeqCst);
}

/// Report whether [`forget_after_fork`] ran in this process.
pub fn is_forked_child() -> bool {
    FORKED.load(Ordering::Relaxed)
}

/// Open (once) and return device `index`.
pub fn device(index: usize) -> Result<Arc<Device>> {
    if is_forked_child() {
        return Err(GpuError::NoDevice(format!(
            "gpu({index}) cannot be used in a process forked from the one that opened it; \
             keep GPU work in the main process (DataLoader workers should return CPU arrays), \
             or start workers with multiprocessing's 'spawn' method"
        )));
    }
    let all = adapters();
    let Some((adapter, desc)) = all.list.get(index) else {
        let names: Vec<String> = all
            .list
            .iter()
            .enumerate()
            .map(|(i, (_, d))| format!("gpu({i}): {} ({})", d.name, d.backend))
            .collect();
        return Err(GpuError::NoDevice(format!(
            "gpu({index}) does not exist: {} found{}. Check the driver (Vulkan, Metal or DX12), WGPU_BACKEND and WGPU_ADAPTER_NAME, or use mx.cpu()",
            names.len(),
            if names.is_empty() { String::new() } else { format!(" ({})", names.join(", ")) }
        )));
    };
    all.devices[index]
        .get_or_init(|| Device::open(index, adapter, desc).map(Arc::new))
        .clone()
        .map_err(GpuError::NoDevice)
}

/// Return every device opened so far (for `waitall`).
pub fn opened_devices() -> Vec<Arc<Device>> {
    // A process that never asked for a GPU must not start the graphics drivers at `waitall`.
    let Some(adapters) = ADAPTERS.get() else {
        return Vec::new();
    };
    if is_forked_child() {
        return Vec::new();
    }
    adapters
        .devices
        .iter()
        .filter_map(|d| d.get().and_then(|r| r.as_ref().ok()).cloned())
        .collect()
}

/// Commands recorded and not yet submitted. Dispatches share one open compute pass, and their
/// parameter blocks go to consecutive slots of `params`, which is written to the device's
/// uniform arena right before the submit.
struct Pending {
    // Declared before the encoder, so it is dropped first.
    pass: Option<wgpu::ComputePass<'static>>,
    encoder: Option<wgpu::CommandEncoder>,
    commands: usize,
    params: Vec<u8>,
}

/// An opened adapter: its queue, pending commands, pipelines and buffer pool.
pub struct Device {
    pub index: usize,
    pub desc: AdapterDesc,
    device: wgpu::Device,
    queue: wgpu::Queue,
    limits: wgpu::Limits,
    pending: Mutex<Pending>,
    /// Parameter blocks of the pending dispatches, one slot each, bound with dynamic offsets.
    /// One buffer serves every submission: the queue runs the arena's write for a submission
    /// after the previous submission's dispatches have read their slots.
    arena: wgpu::Buffer,
    /// Bytes between slots: a parameter block rounded up to the uniform offset alignment.
    slot: u64,
    pipelines: Mutex<HashMap<String, Arc<Pipeline>>>,
    pub(crate) pool: Mutex<BufferPool>,
    /// Mappable buffers that downloads copied through, kept for the next download.
    staging: Mutex<Vec<wgpu::Buffer>>,
    /// First error wgpu reported outside an error scope; raised at the next synchronisation.
    error: Arc<Mutex<Option<String>>>,
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "gpu({}) {} ({})",
            self.index, self.desc.name, self.desc.backend
        )
    }
}

struct Pipeline {
    pipeline: wgpu::ComputePipeline,
    layout: wgpu::BindGroupLayout,
}

/// A device buffer with its capacity in bytes (a multiple of 4).
pub struct RawBuffer {
    buffer: wgpu::Buffer,
    pub capacity: u64,
}

/// A binding of a kernel: the whole buffer.
pub type Binding<'a> = &'a RawBuffer;

impl Device {
    fn open(
        index: usize,
        adapter: &wgpu::Adapter,
        desc: &AdapterDesc,
    ) -> std::result::Result<Device, String> {
        // The adapter's own limits: wgpu's defaults cap storage bindings at 128 MiB.
        let limits = adapter.limits();
        let descriptor = wgpu::DeviceDescriptor {
            label: Some("mxnet"),
            required_features: if desc.unified_memory {
                wgpu::Features::MAPPABLE_PRIMARY_BUFFERS
            } else {
                wgpu::Features::empty()
            },
            required_limits: limits.clone(),
            experimental_features: wgpu::ExperimentalFeatures::default(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        };
        let (device, queue) =
            pollster::block_on(adapter.request_device(&descriptor)).map_err(|e| {
                format!(
                    "cannot open gpu({index}) {} ({}): {e}",
                    desc.name, desc.backend
                )
            })?;
        let error: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
        let sink = error.clone();
        // wgpu's default handler panics; keep the first error and raise it at the next sync.
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            let mut slot = sink.lock().unwrap_or_else(|p| p.into_inner());
            slot.get_or_insert_with(|| e.to_string());
        }));
        let slot = ((PARAM_WORDS * 4) as u64)
            .next_multiple_of(limits.min_uniform_buffer_offset_alignment as u64);
        let arena = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("params"),
            size: slot * MAX_PENDING_COMMANDS as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        Ok(Device {
            arena,
            slot,
            index,
            desc: desc.clone(),
            device,
            queue,
            limits,
            pending: Mutex::new(Pending {
                encoder: None,
                pass: None,
                commands: 0,
                params: Vec::new(),
            }),
            pipelines: Mutex::new(HashMap::new()),
            pool: Mutex::new(BufferPool::default()),
            staging: Mutex::new(Vec::new()),
            error,
        })
    }

    /// Largest array in bytes one kernel binding can address.
    pub fn max_binding_bytes(&self) -> u64 {
        (self.limits.max_storage_buffer_binding_size as u64).min(self.limits.max_buffer_size)
    }

    /// Most workgroups along one dispatch dimension.
    pub fn max_workgroups_per_dim(&self) -> u32 {
        self.limits.max_compute_workgroups_per_dimension
    }

    /// Create a buffer of `capacity` bytes (a multiple of 4) usable by kernels and copies.
    pub(crate) fn create_buffer(&self, capacity: u64) -> Result<RawBuffer> {
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let mut usage = wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::COPY_SRC
            | wgpu::BufferUsages::COPY_DST;
        if self.desc.unified_memory {
            usage |= wgpu::BufferUsages::MAP_READ;
        }
        let buffer = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: None,
            size: capacity,
            usage,
            mapped_at_creation: false,
        });
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(GpuError::OutOfMemory(format!(
                "{capacity} bytes on {self:?}: {e}"
            )));
        }
        Ok(RawBuffer { buffer, capacity })
    }

    /// Record a copy or clear with `f`, outside any compute pass.
    fn record<R>(&self, f: impl FnOnce(&mut wgpu::CommandEncoder) -> R) -> R {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        // The encoder stays locked while a pass is open.
        pending.pass = None;
        let encoder = pending.encoder.get_or_insert_with(|| {
            self.device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None })
        });
        let result = f(encoder);
        self.count_command(&mut pending);
        result
    }

    fn count_command(&self, pending: &mut Pending) {
        pending.commands += 1;
        if pending.commands >= MAX_PENDING_COMMANDS {
            self.submit_locked(pending);
        }
    }

    fn submit_locked(&self, pending: &mut Pending) {
        pending.pass = None;
        pending.commands = 0;
        if !pending.params.is_empty() {
            self.queue.write_buffer(&self.arena, 0, &pending.params);
            pending.params.clear();
        }
        if let Some(encoder) = pending.encoder.take() {
            self.queue.submit([encoder.finish()]);
        }
    }

    /// Submit the recorded commands without waiting for them.
    pub fn flush(&self) {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        self.submit_locked(&mut pending);
    }

    /// Submit the recorded commands and wait until the GPU has run them; raise the first error
    /// wgpu reported since the last synchronisation.
    pub fn synchronize(&self) -> Result<()> {
        self.flush();
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| {
                GpuError::Device(format!("{self:?}: waiting for the queue failed: {e}"))
            })?;
        self.take_error()
    }

    fn take_error(&self) -> Result<()> {
        match self.error.lock().unwrap_or_else(|p| p.into_inner()).take() {
            Some(e) => Err(GpuError::Device(format!("{self:?}: {e}"))),
            None => Ok(()),
        }
    }

    /// Record a fill of the first `nbytes` (rounded up to 4) of `buffer` with zeros.
    pub fn clear(&self, buffer: &RawBuffer, nbytes: u64) {
        let size = round4(nbytes).min(buffer.capacity);
        if size > 0 {
            self.record(|e| e.clear_buffer(&buffer.buffer, 0, Some(size)));
        }
    }

    /// Record a copy of `nbytes` (rounded up to 4) from `src` to `dst`; offsets are multiples of 4.
    pub fn copy(
        &self,
        src: &RawBuffer,
        src_offset: u64,
        dst: &RawBuffer,
        dst_offset: u64,
        nbytes: u64,
    ) {
        let size = round4(nbytes);
        if size > 0 {
            self.record(|e| {
                e.copy_buffer_to_buffer(&src.buffer, src_offset, &dst.buffer, dst_offset, size)
            });
        }
    }

    /// Record an upload of `data` to the start of `dst`. The bytes go through a staging buffer
    /// recorded in the same encoder, so they land in order with the kernels around them.
    pub fn upload(&self, dst: &RawBuffer, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        let mut padded;
        let bytes = if data.len() % 4 == 0 {
            data
        } else {
            padded = data.to_vec();
            padded.resize(round4(data.len() as u64) as usize, 0);
            &padded[..]
        };
        let staging = self
            .device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("upload"),
                contents: bytes,
                usage: wgpu::BufferUsages::COPY_SRC,
            });
        self.record(|e| e.copy_buffer_to_buffer(&staging, 0, &dst.buffer, 0, bytes.len() as u64));
    }

    /// Copy the first `out.len()` bytes of `src` to the host, waiting for every recorded command.
    /// On unified memory the buffer itself is mapped; otherwise the GPU first copies it into a
    /// mappable staging buffer.
    pub fn download(&self, src: &RawBuffer, out: &mut [u8]) -> Result<()> {
        if out.is_empty() {
            return self.take_error();
        }
        if self.desc.unified_memory {
            self.download_mapped(src, out)
        } else {
            self.download_staged(src, out)
        }
    }

    fn download_mapped(&self, src: &RawBuffer, out: &mut [u8]) -> Result<()> {
        // A submission that uses a mapped buffer is invalid, so none may happen while `src` is
        // mapped: the pending lock is held from the submit to the unmap.
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        self.submit_locked(&mut pending);
        let result = self.map_and_read(&src.buffer, out);
        src.buffer.unmap();
        result
    }

    fn download_staged(&self, src: &RawBuffer, out: &mut [u8]) -> Result<()> {
        let size = round4(out.len() as u64);
        let staging = self.take_staging(size);
        self.record(|e| e.copy_buffer_to_buffer(&src.buffer, 0, &staging, 0, size));
        self.flush();
        let result = self.map_and_read(&staging, out);
        staging.unmap();
        self.keep_staging(staging);
        result
    }

    /// Map the start of `buffer` once the queue has run every submitted command, copy
    /// `out.len()` bytes to `out`, and leave the buffer mapped (the caller unmaps it).
    fn map_and_read(&self, buffer: &wgpu::Buffer, out: &mut [u8]) -> Result<()> {
        let range = buffer.slice(..round4(out.len() as u64));
        let (sender, receiver) = std::sync::mpsc::channel();
        range.map_async(wgpu::MapMode::Read, move |r| {
            let _ = sender.send(r);
        });
        // The callback runs inside some thread's `poll`: ours, or a concurrent `synchronize`
        // or download that took it and may still be running it when ours returns.
        let mapped = loop {
            self.device
                .poll(wgpu::PollType::wait_indefinitely())
                .map_err(|e| {
                    GpuError::Device(format!("{self:?}: waiting for a download failed: {e}"))
                })?;
            match receiver.recv_timeout(std::time::Duration::from_millis(1)) {
                Ok(result) => break result,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => continue,
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(GpuError::Device(format!(
                        "{self:?}: wgpu dropped a buffer mapping without reporting it"
                    )))
                }
            }
        };
        self.take_error()?;
        mapped.map_err(|e| {
            GpuError::Device(format!(
                "{self:?}: mapping a buffer for reading failed: {e}"
            ))
        })?;
        let view = range.get_mapped_range().map_err(|e| {
            GpuError::Device(format!("{self:?}: reading a mapped buffer failed: {e}"))
        })?;
        out.copy_from_slice(&view[..out.len()]);
        Ok(())
    }

    /// Take a cached staging buffer of at least `size` bytes, or create one.
    fn take_staging(&self, size: u64) -> wgpu::Buffer {
        let mut cache = self.staging.lock().unwrap_or_else(|p| p.into_inner());
        let fitting = cache
            .iter()
            .enumerate()
            .filter(|(_, b)| b.size() >= size)
            .min_by_key(|(_, b)| b.size())
            .map(|(i, _)| i);
        if let Some(i) = fitting {
            return cache.swap_remove(i);
        }
        drop(cache);
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("download"),
            size: crate::pool::bucket_size(size)
                .min(self.limits.max_buffer_size)
                .max(size),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    }

    /// Return a staging buffer to the cache, dropping the largest ones past its budget.
    fn keep_staging(&self, buffer: wgpu::Buffer) {
        let mut cache = self.staging.lock().unwrap_or_else(|p| p.into_inner());
        cache.push(buffer);
        cache.sort_by_key(|b| b.size());
        while cache.len() > MAX_STAGING_BUFFERS
            || cache.iter().map(|b| b.size()).sum::<u64>() > MAX_STAGING_BYTES
        {
            cache.pop();
        }
    }

    /// Compile (once per key) the WGSL `source` made by `make_source`, entry point `main`, with
    /// `storage` read-write storage buffers at bindings 0.. and the uniform block after them.
    /// The layout is explicit because a derived one drops bindings a kernel variant leaves unused.
    fn pipeline(
        &self,
        key: &str,
        storage: usize,
        make_source: impl FnOnce() -> String,
    ) -> Result<Arc<Pipeline>> {
        if let Some(p) = self
            .pipelines
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
        {
            return Ok(p.clone());
        }
        let source = make_source();
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let module = self
            .device
            .create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(key),
                source: wgpu::ShaderSource::Wgsl(source.into()),
            });
        let entry = |binding: usize, ty: wgpu::BufferBindingType| wgpu::BindGroupLayoutEntry {
            binding: binding as u32,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty,
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        };
        let mut entries: Vec<wgpu::BindGroupLayoutEntry> = (0..storage)
            .map(|i| entry(i, wgpu::BufferBindingType::Storage { read_only: false }))
            .collect();
        let mut uniform = entry(storage, wgpu::BufferBindingType::Uniform);
        uniform.ty = wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Uniform,
            has_dynamic_offset: true,
            min_binding_size: NonZeroU64::new((PARAM_WORDS * 4) as u64),
        };
        entries.push(uniform);
        let layout = self
            .device
            .create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                label: Some(key),
                entries: &entries,
            });
        let pipeline_layout = self
            .device
            .create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some(key),
                bind_group_layouts: &[Some(&layout)],
                immediate_size: 0,
            });
        let pipeline = self
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(key),
                layout: Some(&pipeline_layout),
                module: &module,
                entry_point: Some("main"),
                compilation_options: wgpu::PipelineCompilationOptions::default(),
                cache: None,
            });
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(GpuError::Kernel(format!(
                "kernel {key} does not compile on {self:?}: {e}"
            )));
        }
        let pipeline = Arc::new(Pipeline { pipeline, layout });
        self.pipelines
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.to_string(), pipeline.clone());
        Ok(pipeline)
    }

    /// Record one dispatch of the kernel `key`: `buffers` bind to 0..n (all `read_write`, so an
    /// output may alias an input), `params` to binding n as a uniform block of [`PARAM_WORDS`].
    pub fn dispatch(
        &self,
        key: &str,
        make_source: impl FnOnce() -> String,
        buffers: &[Binding],
        params: &[u32],
        workgroups: [u32; 3],
    ) -> Result<()> {
        if workgroups.contains(&0) {
            return Ok(());
        }
        if params.len() > PARAM_WORDS {
            return Err(GpuError::Kernel(format!(
                "kernel {key}: {} parameter words exceed {PARAM_WORDS}",
                params.len()
            )));
        }
        let pipeline = self.pipeline(key, buffers.len(), make_source)?;
        let mut entries: Vec<wgpu::BindGroupEntry> = buffers
            .iter()
            .enumerate()
            .map(|(i, b)| wgpu::BindGroupEntry {
                binding: i as u32,
                resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: &b.buffer,
                    offset: 0,
                    size: NonZeroU64::new(b.capacity),
                }),
            })
            .collect();
        entries.push(wgpu::BindGroupEntry {
            binding: buffers.len() as u32,
            resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                buffer: &self.arena,
                offset: 0,
                size: NonZeroU64::new((PARAM_WORDS * 4) as u64),
            }),
        });
        let bind_group = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(key),
            layout: &pipeline.layout,
            entries: &entries,
        });
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        let offset = pending.params.len();
        pending.params.resize(offset + self.slot as usize, 0);
        pending.params[offset..offset + params.len() * 4]
            .copy_from_slice(bytemuck::cast_slice(params));
        if pending.pass.is_none() {
            let encoder = pending.encoder.get_or_insert_with(|| {
                self.device
                    .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None })
            });
            let pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: None,
                timestamp_writes: None,
            });
            pending.pass = Some(pass.forget_lifetime());
        }
        let pass = pending
            .pass
            .as_mut()
            .expect("a compute pass was opened above");
        pass.set_pipeline(&pipeline.pipeline);
        pass.set_bind_group(0, &bind_group, &[offset as u32]);
        pass.dispatch_workgroups(workgroups[0], workgroups[1], workgroups[2]);
        self.count_command(&mut pending);
        Ok(())
    }
}

/// Round a byte count up to the 4-byte granularity of buffer copies.
pub fn round4(n: u64) -> u64 {
    n.div_ceil(4) * 4
}

#[cfg(test)]
mod tests {
    /// Both ways to the host, on the first adapter: mapping the buffer itself (used on unified
    /// memory) and copying through a cached staging buffer (used on discrete GPUs).
    #[test]
    fn download_mapped_and_staged() {
        let device = match super::device(0) {
            Ok(d) => d,
            Err(e) if std::env::var("MXNET_TEST_REQUIRE_GPU").as_deref() != Ok("1") => {
                eprintln!("skipped: {e}");
                return;
            }
            Err(e) => panic!("MXNET_TEST_REQUIRE_GPU=1 but {e}"),
        };
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 251) as u8).collect();
        let buffer = device.create_buffer(1024).unwrap();
        device.upload(&buffer, &data);

        // 998 bytes: a length that is not a multiple of 4 reads a rounded-up range.
        let mut staged = vec![0u8; 998];
        device.download_staged(&buffer, &mut staged).unwrap();
        assert_eq!(staged, data[..998]);
        assert_eq!(device.staging.lock().unwrap().len(), 1);

        device.download_staged(&buffer, &mut staged).unwrap();
        assert_eq!(
            device.staging.lock().unwrap().len(),
            1,
            "the staging buffer was reused"
        );

        if device.desc.unified_memory {
            let mut mapped = vec![0u8; 998];
            device.download_mapped(&buffer, &mut mapped).unwrap();
            assert_eq!(mapped, data[..998]);
            // The buffer is unmapped again, so kernels and copies may use it.
            device.clear(&buffer, 1024);
            device.download_mapped(&buffer, &mut mapped).unwrap();
            assert!(mapped.iter().all(|&b| b == 0));
        }
    }
}
