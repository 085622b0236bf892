//! `_native.Graph`: the symbolic executor's graph runner (see `mxnet_core::executor`).

use mxnet_core::executor::{Entry, Graph, GraphNode};
use mxnet_core::{NDArray, Registry};
use pyo3::prelude::*;

use crate::errors;
use crate::ndarray::PyNDArray;

/// One node as Python passes it: operator name (None for a variable), MXNet string
/// attributes, and `(node, output)` input entries.
type PyNode = (Option<String>, Vec<(String, String)>, Vec<(usize, usize)>);

#[pyclass(name = "Graph", module = "mxnet._native", frozen)]
pub struct PyGraph {
    graph: Graph,
}

fn entry((node, index): (usize, usize)) -> Entry {
    Entry { node, index }
}

#[pymethods]
impl PyGraph {
    /// `Graph(nodes, heads)`: nodes in topological order as `(op, attrs, inputs)` and the
    /// `(node, output)` entries to return.
    #[new]
    fn new(nodes: Vec<PyNode>, heads: Vec<(usize, usize)>) -> PyResult<Self> {
        errors::guarded(|| {
            let nodes = nodes
                .into_iter()
                .map(|(op, attrs, inputs)| {
                    let op = match op {
                        Some(name) => Some(Registry::get().create(&name, &attrs)?),
                        None => None,
                    };
                    Ok(GraphNode { op, inputs: inputs.into_iter().map(entry).collect() })
                })
                .collect::<mxnet_core::Result<Vec<_>>>()?;
            let heads = heads.into_iter().map(entry).collect();
            Ok(PyGraph { graph: Graph::new(nodes, heads)? })
        })
    }

    /// Number of variable nodes: the length of the list `forward` takes.
    #[getter]
    fn num_inputs(&self) -> usize {
        self.graph.num_inputs()
    }

    /// Run the graph on one array per variable node (node order); return the heads.
    #[pyo3(signature = (inputs, static_alloc=false))]
    fn forward(&self, py: Python<'_>, inputs: Vec<PyRef<'_, PyNDArray>>, static_alloc: bool) -> PyResult<Vec<PyNDArray>> {
        let inputs: Vec<NDArray> = inputs.iter().map(|x| x.inner.clone()).collect();
        let graph = &self.graph;
        let heads = crate::gil::without_gil(py, || errors::guarded(|| graph.forward(&inputs, static_alloc)))?;
        Ok(heads.into_iter().map(PyNDArray::new).collect())
    }

    /// `(planned_bytes, intermediate_bytes, buffers)` of the static memory plan for these
    /// inputs' shapes, or None before the first `forward(..., static_alloc=True)` with them.
    fn plan_stats(&self, inputs: Vec<PyRef<'_, PyNDArray>>) -> Option<(usize, usize, usize)> {
        let inputs: Vec<NDArray> = inputs.iter().map(|x| x.inner.clone()).collect();
        self.graph.plan_stats(&inputs).map(|s| (s.planned_bytes, s.intermediate_bytes, s.buffers))
    }
}
