"""Device contexts: ``mx.cpu()``, ``mx.gpu()``, ``mx.current_context()``."""
import threading

_DEVTYPE_NAMES = {1: "cpu", 2: "gpu", 3: "cpu_pinned", 5: "cpu_shared"}
_DEVTYPE_IDS = {v: k for k, v in _DEVTYPE_NAMES.items()}


class Context:
    """A device and its index, usable as a ``with`` block that sets the default context."""

    _default = threading.local()

    def __init__(self, device_type, device_id=0):
        if isinstance(device_type, Context):
            device_type, device_id = device_type.device_type, device_type.device_id
        if isinstance(device_type, int):
            device_type = _DEVTYPE_NAMES[device_type]
        if device_type not in _DEVTYPE_IDS:
            raise ValueError(
                f"unknown device type '{device_type}'; use one of {sorted(_DEVTYPE_IDS)}")
        if int(device_id) < 0:
            raise ValueError(f"invalid device id {device_id} for {device_type}; device ids start at 0")
        self.device_type = device_type
        self.device_id = int(device_id)

    @property
    def device_typeid(self):
        return _DEVTYPE_IDS[self.device_type]

    def __eq__(self, other):
        return (isinstance(other, Context) and self.device_type == other.device_type
                and self.device_id == other.device_id)

    def __hash__(self):
        return hash((self.device_type, self.device_id))

    def __repr__(self):
        return f"{self.device_type}({self.device_id})"

    __str__ = __repr__

    def __enter__(self):
        # The previous default goes on a per-thread stack rather than on `self`, so one Context
        # object (a shared one from `from_native`, or a user's) can be entered while it is
        # already active.
        state = Context._default
        stack = getattr(state, "stack", None)
        if stack is None:
            stack = state.stack = []
        stack.append(getattr(state, "value", None))
        state.value = self
        return self

    def __exit__(self, *exc):
        Context._default.value = Context._default.stack.pop()

    def empty_cache(self):
        """Release cached memory of this device (nothing is cached on the CPU)."""


def cpu(device_id=0):
    return Context("cpu", device_id)


def cpu_pinned(device_id=0):
    return Context("cpu_pinned", device_id)


def gpu(device_id=0):
    return Context("gpu", device_id)


def num_gpus():
    """Return the number of wgpu adapters that can run compute (Vulkan, Metal, DX12; GL when
    none of those exists). ``WGPU_BACKEND`` and ``WGPU_ADAPTER_NAME`` narrow the choice."""
    from . import _native
    return len(_native.gpu_adapters())


def gpu_adapters():
    """Describe each adapter ``mx.gpu(i)`` opens: name, backend, device type, driver, and
    whether it shares the host's memory (``unified_memory``: reads to the host then map the
    array's buffer without a copy on the GPU)."""
    from . import _native
    return _native.gpu_adapters()


def gpu_memory_usage(device_id=0):
    """Return ``(in_use, cached)``: bytes of ``gpu(device_id)`` held by this process's arrays
    and bytes kept in its buffer pool for reuse."""
    from . import _native
    return _native.gpu_memory_usage(device_id)


def gpu_memory_info(device_id=0):
    """MXNet's ``(free, total)`` bytes of a GPU. wgpu does not report a device's memory size or
    free memory, so this raises instead of returning made-up numbers; see
    :func:`gpu_memory_usage` for what this process holds."""
    from .base import MXNetError
    raise MXNetError(
        f"gpu_memory_info({device_id}): the wgpu backend cannot read the device's total or free memory; "
        "use mx.context.gpu_memory_usage() for the bytes this process holds, or the vendor's tool (nvidia-smi, rocm-smi)")


def current_context():
    return getattr(Context._default, "value", None) or _CPU0


def from_native(pair):
    """Return the Context of the native ``(device_type, device_id)`` pair.

    One shared object per pair: ``x.context`` runs on every eager Gluon call, and building a
    new Context there cost more than the rest of the lookup.
    """
    ctx = _FROM_NATIVE.get(pair)
    if ctx is None:
        ctx = _FROM_NATIVE[pair] = Context(_DEVTYPE_NAMES[pair[0]], pair[1])
    return ctx


def interned(ctx):
    """Return the shared Context equal to ``ctx``, so that hot paths can compare with ``is``."""
    return from_native((ctx.device_typeid, ctx.device_id))


_FROM_NATIVE = {}
_CPU0 = from_native((1, 0))
