//! A validated operator graph and its forward pass.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::plan::{MemoryPlan, PlanKey, PlanStats, Trace};
use crate::autograd;
use crate::error::{Error, Result};
use crate::imperative::{copy_into, invoke};
use crate::ndarray::NDArray;
use crate::operator::Operator;

/// One output of one node: `(node index, output index)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Entry {
    pub node: usize,
    pub index: usize,
}

/// A graph node: an operator applied to earlier entries, or a variable (an input) when `op`
/// is `None`.
pub struct GraphNode {
    pub op: Option<Arc<dyn Operator>>,
    pub inputs: Vec<Entry>,
}

/// An operator graph in topological order, with the entries it returns.
pub struct Graph {
    nodes: Vec<GraphNode>,
    heads: Vec<Entry>,
    num_inputs: usize,
    /// Reads of each entry by later nodes and by the heads, indexed `[node][output]`.
    uses: Vec<Vec<usize>>,
    /// Static memory plans, one per input signature.
    plans: Mutex<HashMap<PlanKey, Arc<MemoryPlan>>>,
}

impl Graph {
    /// Check that every input refers to an earlier node and that variables take no inputs.
    pub fn new(nodes: Vec<GraphNode>, heads: Vec<Entry>) -> Result<Graph> {
        let mut uses: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
        let mut count_use = |e: &Entry, reader: &str| -> Result<()> {
            let outputs = uses.get_mut(e.node).ok_or_else(|| {
                Error::Value(format!(
                    "graph: {reader} reads node {} but the graph has {} nodes; inputs must refer to earlier nodes",
                    e.node,
                    nodes.len()
                ))
            })?;
            if outputs.len() <= e.index {
                outputs.resize(e.index + 1, 0);
            }
            outputs[e.index] += 1;
            Ok(())
        };
        for (i, node) in nodes.iter().enumerate() {
            if node.op.is_none() && !node.inputs.is_empty() {
                return Err(Error::Value(format!("graph: node {i} is a variable but has {} inputs", node.inputs.len())));
            }
            for e in &node.inputs {
                if e.node >= i {
                    return Err(Error::Value(format!(
                        "graph: node {i} reads node {}, which does not come before it; list nodes in topological order",
                        e.node
                    )));
                }
                count_use(e, &format!("node {i}"))?;
            }
        }
        for e in &heads {
            count_use(e, "a head")?;
        }
        let num_inputs = nodes.iter().filter(|n| n.op.is_none()).count();
        Ok(Graph { nodes, heads, num_inputs, uses, plans: Mutex::new(HashMap::new()) })
    }

    /// Number of variable nodes, which is the number of arrays [`Graph::forward`] takes.
    pub fn num_inputs(&self) -> usize {
        self.num_inputs
    }

    /// Run the graph on `inputs` (one array per variable node, in node order) and return the
    /// head values.
    ///
    /// Every operator node goes through [`invoke`], so autograd records the nodes when
    /// recording is on. With `static_alloc` and autograd not recording, intermediate results
    /// are written into buffers planned once per input signature and reused by later calls.
    /// Returned arrays never share those buffers.
    pub fn forward(&self, inputs: &[NDArray], static_alloc: bool) -> Result<Vec<NDArray>> {
        if inputs.len() != self.num_inputs {
            return Err(Error::Value(format!(
                "graph forward: expected {} input arrays (one per variable), got {}",
                self.num_inputs,
                inputs.len()
            )));
        }
        let heads = self.forward_heads(inputs, static_alloc)?;
        heads.into_iter().map(|h| own_buffer(h, inputs)).collect()
    }

    fn forward_heads(&self, inputs: &[NDArray], static_alloc: bool) -> Result<Vec<NDArray>> {
        if !static_alloc || autograd::is_recording() {
            return self.run(inputs, None, None);
        }
        let key = PlanKey::of(inputs);
        let cached = self.lock_plans().get(&key).cloned();
        match cached {
            Some(plan) => {
                // Pushing every node of one call before the next call starts keeps the reads
                // and writes of the shared buffers in call order on the engine.
                let _exclusive = plan.lock();
                let heads = self.run(inputs, Some(&plan), None)?;
                heads.into_iter().map(|h| detach_from_plan(h, &plan)).collect()
            }
            None => {
                let mut trace = Trace::default();
                let heads = self.run(inputs, None, Some(&mut trace))?;
                let plan = MemoryPlan::build(&self.nodes, &self.heads, &self.uses, trace)?;
                self.lock_plans().insert(key, Arc::new(plan));
                Ok(heads)
            }
        }
    }

    /// Bytes of the static plan for `inputs`' signature, if one was built.
    pub fn plan_stats(&self, inputs: &[NDArray]) -> Option<PlanStats> {
        self.lock_plans().get(&PlanKey::of(inputs)).map(|p| p.stats())
    }

    fn lock_plans(&self) -> std::sync::MutexGuard<'_, HashMap<PlanKey, Arc<MemoryPlan>>> {
        self.plans.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn run(&self, inputs: &[NDArray], plan: Option<&MemoryPlan>, mut trace: Option<&mut Trace>) -> Result<Vec<NDArray>> {
        let mut values: Vec<Vec<Option<NDArray>>> = Vec::with_capacity(self.nodes.len());
        let mut remaining = self.uses.clone();
        let mut next_input = 0;
        for (i, node) in self.nodes.iter().enumerate() {
            let Some(op) = &node.op else {
                values.push(vec![Some(inputs[next_input].clone())]);
                next_input += 1;
                continue;
            };
            let args = node.inputs.iter().map(|e| read(&values, e, i)).collect::<Result<Vec<_>>>()?;
            let outputs = invoke(op.clone(), &args, plan.and_then(|p| p.outputs(i)))?;
            if let Some(trace) = trace.as_deref_mut() {
                trace.record(i, &args, &outputs);
            }
            values.push(outputs.into_iter().map(Some).collect());
            // Drop entries after their last read, so their buffers go back to the pool early.
            for e in &node.inputs {
                let left = &mut remaining[e.node][e.index];
                *left -= 1;
                if *left == 0 {
                    values[e.node][e.index] = None;
                }
            }
        }
        self.heads.iter().map(|e| read(&values, e, self.nodes.len())).collect()
    }
}

/// Return the value of entry `e` for node `reader` (`nodes.len()` for the heads).
fn read(values: &[Vec<Option<NDArray>>], e: &Entry, reader: usize) -> Result<NDArray> {
    let outputs = &values[e.node];
    match outputs.get(e.index) {
        Some(Some(x)) => Ok(x.clone()),
        Some(None) => Err(Error::MXNet(format!("graph: entry ({}, {}) was released before node {reader} read it", e.node, e.index))),
        None => Err(Error::Value(format!(
            "graph: node {reader} reads output {} of node {}, which has {} visible outputs",
            e.index,
            e.node,
            outputs.len()
        ))),
    }
}

/// Copy a head that views a graph input (a `transpose` or `reshape` of the data or of a
/// weight) or that is strided. MXNet's graphs return new contiguous arrays, so writing into a
/// result never changes an input, nor the other way round. The copy is an operator, so
/// autograd records it when recording is on.
fn own_buffer(head: NDArray, inputs: &[NDArray]) -> Result<NDArray> {
    // Host arrays may also wrap one numpy buffer in two storages; device storages cannot.
    let aliases = |x: &NDArray| match x.context().is_gpu() || head.context().is_gpu() {
        true => x.shares_storage(&head),
        false => x.may_share_memory(&head),
    };
    if head.is_contiguous() && !inputs.iter().any(aliases) {
        return Ok(head);
    }
    crate::imperative::call1("_copy", &[&head], &[])
}

/// Copy a head that lives in (or views) a planned buffer, which the next call overwrites.
fn detach_from_plan(head: NDArray, plan: &MemoryPlan) -> Result<NDArray> {
    if !plan.owns(&head) {
        return Ok(head);
    }
    let copy = NDArray::zeros(head.shape(), head.dtype(), head.context())?;
    copy_into(&head, &copy)?;
    Ok(copy)
}
