//! The operator contract. Each operator is defined once: its attributes, shape and dtype
//! inference, its CPU and GPU kernels and its gradient (written with other registered operators), and
//! imperative calls, autograd and the symbolic executor all go through this definition.

use std::sync::Arc;

use crate::attrs::Attrs;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::ndarray::NDArray;

/// Shape and dtype of one input or output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorDesc {
    pub shape: Vec<usize>,
    pub dtype: DType,
}

impl TensorDesc {
    pub fn new(shape: Vec<usize>, dtype: DType) -> Self {
        TensorDesc { shape, dtype }
    }

    pub fn of(x: &NDArray) -> Self {
        TensorDesc { shape: x.shape().to_vec(), dtype: x.dtype() }
    }
}

/// Run-time information for a kernel.
pub struct OpContext {
    /// Training mode (`autograd.is_training()` when the op was called): Dropout and BatchNorm
    /// behave differently.
    pub is_train: bool,
    /// Seed drawn from the global generator when the op was called, so random ops give the same
    /// values for the same `mx.random.seed` whatever order the engine runs them in.
    pub seed: u64,
}

/// Input of a gradient function: the op's inputs, outputs and the head gradients of the
/// outputs. All arrays are detached; calling operators on them records a new graph only when
/// `create_graph` was requested.
pub struct GradContext<'a> {
    pub inputs: &'a [NDArray],
    /// Whether each input takes part in the graph; a gradient that is not needed may be
    /// skipped (returned as `None`).
    pub needs_grad: &'a [bool],
    pub outputs: &'a [NDArray],
    pub out_grads: &'a [NDArray],
    pub is_train: bool,
}

/// A parsed operator instance: the registry creates one from the attributes of each call.
pub trait Operator: Send + Sync + 'static {
    /// Registered name, as in MXNet (`broadcast_add`, `FullyConnected`).
    fn name(&self) -> &'static str;

    /// Number of outputs given the number of inputs.
    fn num_outputs(&self) -> usize {
        1
    }

    /// Number of outputs users see; extra outputs are internal (BatchNorm's saved statistics).
    fn num_visible_outputs(&self) -> usize {
        self.num_outputs()
    }

    /// Indices of inputs the kernel updates in place (BatchNorm's running statistics, optimizer
    /// states). The engine treats them as written.
    fn mutate_inputs(&self) -> Vec<usize> {
        Vec::new()
    }

    /// Output shapes and dtypes from input shapes and dtypes; errors name the op and shapes.
    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>>;

    /// For view operators (reshape, transpose, slicing, broadcast): the output layout over the
    /// input's storage. When this returns `Some`, no kernel runs and the output shares storage.
    fn view(&self, _input: &NDArray) -> Option<mxnet_cpu::Layout> {
        None
    }

    /// Run the CPU kernel, inside an engine operation that reads `inputs` and writes
    /// `outputs` (contiguous, freshly allocated or caller-provided) and the mutated inputs.
    fn forward(&self, ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()>;

    /// The context of the outputs when it is not the inputs' (the copy between devices).
    fn output_context(&self) -> Option<crate::Context> {
        None
    }

    /// Report whether [`Operator::forward_gpu`] is implemented. It is checked before an
    /// operation on a GPU context is pushed, so a missing kernel raises at the call.
    fn supports_gpu(&self) -> bool {
        false
    }

    /// Record the GPU kernels on the outputs' device, under the same contract as `forward`
    /// (the engine orders it; the device runs it later, in recording order).
    fn forward_gpu(&self, _ctx: &OpContext, _inputs: &[NDArray], _outputs: &[NDArray]) -> Result<()> {
        Err(crate::gpu::no_kernel(self.name()))
    }

    /// Gradients of the inputs (`None` where an input gets no gradient), computed by calling
    /// registered operators.
    fn backward(&self, _g: &GradContext) -> Result<Vec<Option<NDArray>>> {
        Err(Error::MXNet(format!(
            "operator {} is not differentiable; wrap its inputs with stop_gradient or compute it outside autograd.record()",
            self.name()
        )))
    }

    /// True when `forward` writes every element of every output, so new outputs may skip the
    /// zero fill. Kernels that accumulate into their outputs keep the default.
    fn overwrites_outputs(&self) -> bool {
        false
    }

    /// Report whether the kernel may write an output that shares storage with an input: true for
    /// elementwise kernels, which read each element before writing it.
    fn inplace_safe(&self) -> bool {
        false
    }

    /// True when the CPU kernel handles float16 and bfloat16 itself (copies, casts, views).
    /// Other operators compute half-precision inputs in float32 (see `crate::widen`).
    fn computes_half(&self) -> bool {
        false
    }

    /// Whether autograd should record this op at all (false for random draws, comparisons).
    fn differentiable(&self) -> bool {
        true
    }

    /// Report whether the op draws random numbers (it then receives a fresh seed per call).
    fn is_random(&self) -> bool {
        false
    }

    /// Attributes in MXNet's string form, for symbol JSON.
    fn attrs(&self) -> Attrs {
        Attrs::new()
    }
}

/// Registry entry of an operator: its names, inputs, attributes and constructor.
pub struct OpDef {
    pub name: &'static str,
    /// Other names the operator is registered under (`Reshape` for `reshape`).
    pub aliases: &'static [&'static str],
    /// Names of the array inputs in order; `["*data"]` marks a variable number of inputs.
    pub arguments: &'static [&'static str],
    /// Attribute names in MXNet's order, so positional Python arguments after the inputs map
    /// to them (`nd.transpose(x, (1, 0))`).
    pub params: &'static [&'static str],
    /// One-line description for generated docstrings.
    pub doc: &'static str,
    pub create: fn(&Attrs) -> Result<Arc<dyn Operator>>,
}

impl OpDef {
    pub fn is_variadic(&self) -> bool {
        self.arguments.first().is_some_and(|a| a.starts_with('*'))
    }
}
