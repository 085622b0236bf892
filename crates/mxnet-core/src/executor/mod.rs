//! Symbolic execution: a graph of registered operators, run node by node through the same
//! imperative path as `mx.nd` calls, with an optional static memory plan for inference.
//!
//! Executing through [`crate::invoke`] keeps one definition per operator: shape and dtype
//! inference, the kernel, engine dependencies and autograd recording are shared with eager
//! calls. So a graph run under `autograd.record()` is differentiated by the operators'
//! registered gradients, which is how `Executor.backward` and hybridized Gluon blocks work.

mod graph;
mod plan;

pub use graph::{Entry, Graph, GraphNode};
pub use plan::PlanStats;
