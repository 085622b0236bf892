//! Autograd: recording of imperative calls and the backward pass.
//!
//! Each recorded output points at a [`Node`] holding the operator and detached copies of its
//! inputs and outputs. Backward walks the nodes in reverse topological order and calls each
//! operator's gradient, which is itself written with registered operators, so recording the
//! backward pass (`create_graph=True`) gives higher-order gradients.

mod backward;
mod state;

pub use backward::{backward, grad};
pub use state::{is_recording, is_training, set_recording, set_training};

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};
use crate::ndarray::NDArray;
use crate::operator::Operator;

/// MXNet's `grad_req`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GradReq {
    Null,
    Write,
    Add,
}

impl GradReq {
    pub fn parse(s: &str) -> Result<GradReq> {
        match s {
            "null" => Ok(GradReq::Null),
            "write" | "inplace" => Ok(GradReq::Write),
            "add" => Ok(GradReq::Add),
            other => Err(Error::Value(format!(
                "invalid grad_req '{other}'; use 'write', 'add' or 'null'"
            ))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            GradReq::Null => "null",
            GradReq::Write => "write",
            GradReq::Add => "add",
        }
    }
}

/// A variable marked with `attach_grad`: its gradient buffer and how to fill it.
pub struct Leaf {
    pub grad: Mutex<Option<NDArray>>,
    pub grad_req: Mutex<GradReq>,
    /// Set by backward when it writes the gradient, cleared by the trainer's step: Gluon's
    /// stale-gradient check.
    pub fresh_grad: AtomicBool,
}

impl Leaf {
    pub fn grad(&self) -> Option<NDArray> {
        self.grad.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn grad_req(&self) -> GradReq {
        *self.grad_req.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn fresh_grad(&self) -> bool {
        self.fresh_grad.load(Ordering::Acquire)
    }

    pub fn set_fresh_grad(&self, fresh: bool) {
        self.fresh_grad.store(fresh, Ordering::Release)
    }
}

/// The autograd identity of an array.
#[derive(Clone)]
pub enum AgEntry {
    Leaf(Arc<Leaf>),
    Output { node: Arc<Node>, index: usize },
}

/// One recorded operator call.
pub struct Node {
    pub(crate) op: Arc<dyn Operator>,
    /// Autograd entries of the inputs (`None` for inputs that need no gradient).
    pub(crate) input_entries: Vec<Option<AgEntry>>,
    /// Detached inputs and outputs kept for the gradient; `None` once the graph is freed.
    pub(crate) saved: Mutex<Option<Saved>>,
    pub(crate) is_train: bool,
}

impl Drop for Node {
    /// Free the chain of nodes behind this one with a loop instead of recursion, because a
    /// graph of 100,000 recorded operations would otherwise overflow the thread's stack.
    fn drop(&mut self) {
        let mut pending: Vec<AgEntry> = self.input_entries.drain(..).flatten().collect();
        while let Some(entry) = pending.pop() {
            if let AgEntry::Output { node, .. } = entry {
                // Only the last owner frees a node; its inputs join the loop, so the node
                // itself drops with nothing left to recurse into.
                if let Ok(mut last) = Arc::try_unwrap(node) {
                    pending.extend(last.input_entries.drain(..).flatten());
                }
            }
        }
    }
}

pub(crate) struct Saved {
    pub inputs: Vec<NDArray>,
    pub outputs: Vec<NDArray>,
}

/// Mark `x` as a variable with a zero gradient buffer of its shape (`attach_grad`).
pub fn attach_grad(x: &mut NDArray, req: GradReq) -> Result<()> {
    let grad = if req == GradReq::Null {
        None
    } else {
        Some(NDArray::zeros(x.shape(), x.dtype(), x.context())?)
    };
    x.ag = Some(AgEntry::Leaf(Arc::new(Leaf {
        grad: Mutex::new(grad),
        grad_req: Mutex::new(req),
        fresh_grad: AtomicBool::new(false),
    })));
    Ok(())
}

/// Mark `x` as a variable whose gradient goes into the given buffer (`mark_variables`).
pub fn mark_variable(x: &mut NDArray, grad: NDArray, req: GradReq) {
    x.ag = Some(AgEntry::Leaf(Arc::new(Leaf {
        grad: Mutex::new(Some(grad)),
        grad_req: Mutex::new(req),
        fresh_grad: AtomicBool::new(false),
    })));
}

/// Record `op(inputs) -> outputs` if any input takes part in a graph.
pub fn record(op: &Arc<dyn Operator>, inputs: &[NDArray], outputs: &mut [NDArray]) -> Result<()> {
    let entries: Vec<Option<AgEntry>> = inputs
        .iter()
        .map(|x| match &x.ag {
            Some(AgEntry::Leaf(leaf)) if leaf.grad_req() == GradReq::Null => None,
            other => other.clone(),
        })
        .collect();
    if entries.iter().all(|e| e.is_none()) {
        return Ok(());
    }
    let node = Arc::new(Node {
        op: op.clone(),
        input_entries: entries,
        saved: Mutex::new(Some(Saved {
            inputs: inputs.iter().map(|x| x.detach()).collect(),
            outputs: outputs.iter().map(|x| x.detach()).collect(),
        })),
        is_train: is_training(),
    });
    for (index, out) in outputs.iter_mut().enumerate() {
        out.ag = Some(AgEntry::Output { node: node.clone(), index });
    }
    Ok(())
}
