//! The backward pass over recorded nodes.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::{set_recording, set_training, AgEntry, GradReq, Leaf, Node};
use crate::error::{Error, Result};
use crate::imperative::{call1, copy_into};
use crate::ndarray::NDArray;
use crate::operator::GradContext;

const NOT_IN_GRAPH: &str = "Cannot differentiate node because it is not in a computational graph. \
You need to set is_recording to true or use autograd.record() to save computational graphs for \
backward. If you want to differentiate the same graph twice, you need to pass retain_graph=True to \
backward.";

/// `heads.backward()`: accumulate gradients into the `attach_grad` buffers of the leaves.
pub fn backward(heads: &[NDArray], head_grads: &[Option<NDArray>], retain_graph: bool, create_graph: bool, is_train: bool) -> Result<()> {
    let leaves = run(heads, head_grads, retain_graph, create_graph, is_train)?;
    if leaves.is_empty() {
        return Err(Error::MXNet(NOT_IN_GRAPH.into()));
    }
    for (leaf, g) in leaves.into_values() {
        let Some(buffer) = leaf.grad() else { continue };
        match leaf.grad_req() {
            GradReq::Null => continue,
            GradReq::Write => copy_into(&cast_like(&g, &buffer)?, &buffer)?,
            GradReq::Add => {
                let sum = call1("elemwise_add", &[&buffer, &cast_like(&g, &buffer)?], &[])?;
                copy_into(&sum, &buffer)?;
            }
        }
        leaf.set_fresh_grad(true);
    }
    Ok(())
}

/// `autograd.grad(heads, variables)`: return the gradients of `variables` as new arrays,
/// leaving their `.grad` buffers alone. Variables the heads do not depend on get zeros.
pub fn grad(
    heads: &[NDArray],
    variables: &[NDArray],
    head_grads: &[Option<NDArray>],
    retain_graph: bool,
    create_graph: bool,
    is_train: bool,
) -> Result<Vec<NDArray>> {
    let mut leaves = run(heads, head_grads, retain_graph, create_graph, is_train)?;
    variables
        .iter()
        .map(|v| match &v.ag {
            Some(AgEntry::Leaf(leaf)) => match leaves.remove(&(Arc::as_ptr(leaf) as usize)) {
                Some((_, g)) => Ok(g),
                None => call1("zeros_like", &[v], &[]),
            },
            _ => Err(Error::MXNet(
                "autograd.grad: every variable must be marked with attach_grad() before recording".into(),
            )),
        })
        .collect()
}

type LeafGrads = HashMap<usize, (Arc<Leaf>, NDArray)>;

/// Restores the thread's autograd flags when dropped, also on early return.
struct FlagGuard(bool, bool);

impl Drop for FlagGuard {
    fn drop(&mut self) {
        set_recording(self.0);
        set_training(self.1);
    }
}

fn run(heads: &[NDArray], head_grads: &[Option<NDArray>], retain_graph: bool, create_graph: bool, is_train: bool) -> Result<LeafGrads> {
    if !head_grads.is_empty() && head_grads.len() != heads.len() {
        return Err(Error::Value(format!(
            "backward: got {} head gradients for {} heads; pass one per head or none",
            head_grads.len(),
            heads.len()
        )));
    }
    let _guard = FlagGuard(set_recording(create_graph), set_training(is_train));

    let mut leaves: LeafGrads = HashMap::new();
    let mut grads: HashMap<(usize, usize), NDArray> = HashMap::new();
    let mut roots: Vec<Arc<Node>> = Vec::new();
    for (i, head) in heads.iter().enumerate() {
        let seed = match head_grads.get(i).cloned().flatten() {
            Some(g) if g.shape() != head.shape() => {
                return Err(Error::Value(format!(
                    "backward: head gradient {i} has shape {:?} but the head has shape {:?}; \
                     pass a gradient of the head's shape",
                    g.shape(),
                    head.shape()
                )))
            }
            Some(g) => g,
            None => call1("ones_like", &[&head.detach()], &[])?,
        };
        match &head.ag {
            Some(AgEntry::Output { node, index }) => {
                accumulate(&mut grads, (Arc::as_ptr(node) as usize, *index), seed)?;
                roots.push(node.clone());
            }
            Some(AgEntry::Leaf(leaf)) => add_leaf(&mut leaves, leaf, seed)?,
            None => return Err(Error::MXNet(NOT_IN_GRAPH.into())),
        }
    }

    let order = topological_order(&roots);
    for node in order.iter().rev() {
        let key = Arc::as_ptr(node) as usize;
        let saved_guard = node.saved.lock().unwrap_or_else(|e| e.into_inner());
        let Some(saved) = saved_guard.as_ref() else {
            return Err(Error::MXNet(NOT_IN_GRAPH.into()));
        };
        let n_out = saved.outputs.len();
        if (0..n_out).all(|i| !grads.contains_key(&(key, i))) {
            continue;
        }
        let mut out_grads = Vec::with_capacity(n_out);
        for i in 0..n_out {
            match grads.remove(&(key, i)) {
                Some(g) => out_grads.push(g),
                None => out_grads.push(call1("zeros_like", &[&saved.outputs[i]], &[])?),
            }
        }
        // With create_graph the gradient ops must connect to the recorded graph, so inputs keep
        // their entries and outputs point back at this node.
        let (inputs, outputs): (Vec<NDArray>, Vec<NDArray>) = if create_graph {
            let inputs = saved
                .inputs
                .iter()
                .zip(&node.input_entries)
                .map(|(x, e)| {
                    let mut x = x.clone();
                    x.ag = e.clone();
                    x
                })
                .collect();
            let outputs = saved
                .outputs
                .iter()
                .enumerate()
                .map(|(index, y)| {
                    let mut y = y.clone();
                    y.ag = Some(AgEntry::Output { node: node.clone(), index });
                    y
                })
                .collect();
            (inputs, outputs)
        } else {
            (saved.inputs.clone(), saved.outputs.clone())
        };
        drop(saved_guard);

        set_training(node.is_train);
        let needs_grad: Vec<bool> = node.input_entries.iter().map(|e| e.is_some()).collect();
        let ctx = GradContext {
            inputs: &inputs,
            needs_grad: &needs_grad,
            outputs: &outputs,
            out_grads: &out_grads,
            is_train: node.is_train,
        };
        let input_grads = node.op.backward(&ctx)?;
        set_training(is_train);

        for (entry, g) in node.input_entries.iter().zip(input_grads) {
            let (Some(entry), Some(g)) = (entry, g) else { continue };
            match entry {
                AgEntry::Leaf(leaf) => add_leaf(&mut leaves, leaf, g)?,
                AgEntry::Output { node: producer, index } => {
                    accumulate(&mut grads, (Arc::as_ptr(producer) as usize, *index), g)?
                }
            }
        }
    }

    if !retain_graph {
        for node in &order {
            *node.saved.lock().unwrap_or_else(|e| e.into_inner()) = None;
        }
    }
    Ok(leaves)
}

fn accumulate(grads: &mut HashMap<(usize, usize), NDArray>, key: (usize, usize), g: NDArray) -> Result<()> {
    let merged = match grads.remove(&key) {
        Some(prev) => call1("elemwise_add", &[&prev, &g], &[])?,
        None => g,
    };
    grads.insert(key, merged);
    Ok(())
}

fn add_leaf(leaves: &mut LeafGrads, leaf: &Arc<Leaf>, g: NDArray) -> Result<()> {
    let key = Arc::as_ptr(leaf) as usize;
    let merged = match leaves.remove(&key) {
        Some((_, prev)) => call1("elemwise_add", &[&prev, &g], &[])?,
        None => g,
    };
    leaves.insert(key, (leaf.clone(), merged));
    Ok(())
}

fn cast_like(g: &NDArray, like: &NDArray) -> Result<NDArray> {
    if g.dtype() == like.dtype() {
        Ok(g.clone())
    } else {
        call1("Cast", &[g], &[("dtype", like.dtype().name().to_string())])
    }
}

/// Nodes reachable from `roots`, each after all nodes it consumes (post-order DFS).
fn topological_order(roots: &[Arc<Node>]) -> Vec<Arc<Node>> {
    let mut order = Vec::new();
    let mut seen: HashSet<usize> = HashSet::new();
    let mut stack: Vec<(Arc<Node>, bool)> = roots.iter().rev().map(|n| (n.clone(), false)).collect();
    while let Some((node, expanded)) = stack.pop() {
        let key = Arc::as_ptr(&node) as usize;
        if expanded {
            order.push(node);
            continue;
        }
        if !seen.insert(key) {
            continue;
        }
        stack.push((node.clone(), true));
        for entry in node.input_entries.iter().rev().flatten() {
            if let AgEntry::Output { node: producer, .. } = entry {
                if !seen.contains(&(Arc::as_ptr(producer) as usize)) {
                    stack.push((producer.clone(), false));
                }
            }
        }
    }
    order
}
