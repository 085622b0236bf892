//! Static memory plan: intermediate results share a few buffers whose lifetimes do not
//! overlap, allocated once per input signature and reused by every later call.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use super::graph::{Entry, GraphNode};
use crate::autograd;
use crate::context::Context;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::ndarray::NDArray;
use crate::storage::Storage;
use crate::Layout;

/// Input signature a plan is valid for: shapes, dtypes and contexts of the inputs, and the
/// training flag (some operators infer different outputs in training).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PlanKey {
    inputs: Vec<(Vec<usize>, DType, Context)>,
    is_training: bool,
}

impl PlanKey {
    pub fn of(inputs: &[NDArray]) -> PlanKey {
        PlanKey {
            inputs: inputs.iter().map(|x| (x.shape().to_vec(), x.dtype(), x.context())).collect(),
            is_training: autograd::is_training(),
        }
    }
}

/// Output shapes of one node seen on a plan-less run, and which outputs are views of an
/// input (reshape, transpose and the like return views that share the input's buffer).
struct NodeTrace {
    outputs: Vec<(Vec<usize>, DType)>,
    /// For each output, the position of the input whose storage it shares.
    aliases: Vec<Option<usize>>,
    context: Context,
}

/// Records of the first run of an input signature, node by node.
#[derive(Default)]
pub struct Trace {
    nodes: HashMap<usize, NodeTrace>,
}

impl Trace {
    pub fn record(&mut self, node: usize, args: &[NDArray], outputs: &[NDArray]) {
        let aliases = outputs.iter().map(|y| args.iter().position(|x| x.shares_storage(y))).collect();
        let shapes = outputs.iter().map(|y| (y.shape().to_vec(), y.dtype())).collect();
        let context = outputs.first().map(|y| y.context()).unwrap_or_else(Context::cpu);
        self.nodes.insert(node, NodeTrace { outputs: shapes, aliases, context });
    }
}

/// Sizes of a plan, for tests and benchmarks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlanStats {
    /// Bytes of the shared buffers.
    pub planned_bytes: usize,
    /// Bytes of every intermediate result of one call (what a run without a plan allocates).
    pub intermediate_bytes: usize,
    /// Number of shared buffers.
    pub buffers: usize,
}

/// Buffers assigned to the outputs of the graph's nodes.
pub struct MemoryPlan {
    slots: Vec<Arc<Storage>>,
    /// Output arrays (views of the slots) of the nodes whose outputs are all planned.
    outputs: HashMap<usize, Vec<NDArray>>,
    exclusive: Mutex<()>,
    stats: PlanStats,
}

impl MemoryPlan {
    /// Assign buffers greedily in node order: each output takes the smallest free buffer
    /// that fits (else the largest free one, grown), and a buffer becomes free after the
    /// last read of every entry in it. Heads and unused outputs are not planned.
    pub fn build(nodes: &[GraphNode], heads: &[Entry], uses: &[Vec<usize>], trace: Trace) -> Result<MemoryPlan> {
        let heads: HashSet<Entry> = heads.iter().copied().collect();
        let use_count = |e: &Entry| uses[e.node].get(e.index).copied().unwrap_or(0);
        let mut slot_of: HashMap<Entry, usize> = HashMap::new();
        let mut sizes: Vec<usize> = Vec::new();
        let mut refs: Vec<usize> = Vec::new();
        let mut free: Vec<usize> = Vec::new();
        let mut assigned: Vec<(usize, Vec<(usize, Vec<usize>, DType)>, Context)> = Vec::new();
        let mut intermediate_bytes = 0;

        for (i, node) in nodes.iter().enumerate() {
            if node.op.is_none() {
                continue;
            }
            let t = trace
                .nodes
                .get(&i)
                .ok_or_else(|| Error::MXNet(format!("graph: no trace of node {i} to plan memory from")))?;
            let entry = |k: usize| Entry { node: i, index: k };
            let plannable = |k: usize| !heads.contains(&entry(k)) && use_count(&entry(k)) > 0 && t.aliases[k].is_none();
            let all_planned = (0..t.outputs.len()).all(plannable);
            let mut node_slots = Vec::new();
            // Outputs take buffers before the inputs release theirs: both are live while the
            // kernel runs.
            for (k, (shape, dtype)) in t.outputs.iter().enumerate() {
                let e = entry(k);
                if let Some(pos) = t.aliases[k] {
                    if let Some(&s) = slot_of.get(&node.inputs[pos]) {
                        slot_of.insert(e, s);
                        refs[s] += use_count(&e);
                    }
                    continue;
                }
                let bytes = shape.iter().product::<usize>() * dtype.size();
                if plannable(k) {
                    intermediate_bytes += bytes;
                }
                if all_planned {
                    let s = take_slot(&mut free, &mut sizes, &mut refs, bytes);
                    slot_of.insert(e, s);
                    refs[s] = use_count(&e);
                    node_slots.push((s, shape.clone(), *dtype));
                }
            }
            if all_planned {
                assigned.push((i, node_slots, t.context));
            }
            for e in &node.inputs {
                if let Some(&s) = slot_of.get(e) {
                    refs[s] -= 1;
                    if refs[s] == 0 {
                        free.push(s);
                    }
                }
            }
        }

        let slots = sizes
            .iter()
            .map(|&bytes| {
                Storage::zeroed(bytes.max(1)).map(Arc::new).ok_or_else(|| {
                    Error::MXNet(format!("graph: out of memory allocating a {bytes}-byte buffer of the memory plan"))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let outputs = assigned
            .into_iter()
            .map(|(node, outs, ctx)| {
                let arrays = outs
                    .into_iter()
                    .map(|(s, shape, dtype)| NDArray::from_storage(slots[s].clone(), Layout::contiguous(&shape), dtype, ctx))
                    .collect();
                (node, arrays)
            })
            .collect();
        let stats = PlanStats { planned_bytes: sizes.iter().sum(), intermediate_bytes, buffers: sizes.len() };
        Ok(MemoryPlan { slots, outputs, exclusive: Mutex::new(()), stats })
    }

    /// Planned output arrays of node `node`, or `None` to let the operator allocate.
    pub fn outputs(&self, node: usize) -> Option<&[NDArray]> {
        self.outputs.get(&node).map(|v| v.as_slice())
    }

    /// Report whether `x` lives in one of the plan's buffers.
    pub fn owns(&self, x: &NDArray) -> bool {
        self.slots.iter().any(|s| Arc::ptr_eq(s, x.storage()))
    }

    /// Hold the plan for one call, so that calls from several threads do not interleave.
    pub fn lock(&self) -> MutexGuard<'_, ()> {
        self.exclusive.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn stats(&self) -> PlanStats {
        self.stats
    }
}

/// Take the smallest free buffer of at least `bytes`, else grow the largest free one, else
/// add a buffer.
fn take_slot(free: &mut Vec<usize>, sizes: &mut Vec<usize>, refs: &mut Vec<usize>, bytes: usize) -> usize {
    let fitting = free.iter().enumerate().filter(|(_, &s)| sizes[s] >= bytes).min_by_key(|(_, &s)| sizes[s]);
    let pick = fitting.or_else(|| free.iter().enumerate().max_by_key(|(_, &s)| sizes[s])).map(|(pos, _)| pos);
    match pick {
        Some(pos) => {
            let s = free.swap_remove(pos);
            sizes[s] = sizes[s].max(bytes);
            s
        }
        None => {
            sizes.push(bytes);
            refs.push(0);
            sizes.len() - 1
        }
    }
}
