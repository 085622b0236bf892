//! The graph executor against hand-computed values: plan-less and planned runs agree, the
//! plan shares buffers along a chain, and returned arrays never alias planned buffers.

use mxnet_core::executor::{Entry, Graph, GraphNode};
use mxnet_core::{NDArray, Registry};

fn node(op: &str, attrs: &[(&str, &str)], inputs: &[(usize, usize)]) -> GraphNode {
    let attrs: Vec<(String, String)> = attrs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    GraphNode {
        op: Some(Registry::get().create(op, &attrs).unwrap()),
        inputs: inputs.iter().map(|&(node, index)| Entry { node, index }).collect(),
    }
}

fn variable() -> GraphNode {
    GraphNode { op: None, inputs: Vec::new() }
}

/// x -> (x + 1) -> * 2 -> + 1 -> * 2 -> reshape (a view) -> + 1, returning the last entry
/// and the reshape view.
fn chain() -> Graph {
    let nodes = vec![
        variable(),
        node("_plus_scalar", &[("scalar", "1")], &[(0, 0)]),
        node("_mul_scalar", &[("scalar", "2")], &[(1, 0)]),
        node("_plus_scalar", &[("scalar", "1")], &[(2, 0)]),
        node("_mul_scalar", &[("scalar", "2")], &[(3, 0)]),
        node("Reshape", &[("shape", "(4, 64)")], &[(4, 0)]),
        node("_plus_scalar", &[("scalar", "1")], &[(5, 0)]),
    ];
    Graph::new(nodes, vec![Entry { node: 6, index: 0 }, Entry { node: 5, index: 0 }]).unwrap()
}

fn expected(x: f32) -> f32 {
    ((x + 1.0) * 2.0 + 1.0) * 2.0
}

#[test]
fn planned_and_unplanned_runs_agree() {
    let graph = chain();
    let data: Vec<f32> = (0..256).map(|i| i as f32).collect();
    let x = NDArray::from_vec(&[16, 16], data.clone()).unwrap();
    let mut previous: Option<Vec<NDArray>> = None;
    for static_alloc in [false, true, true, true] {
        let heads = graph.forward(&[x.clone()], static_alloc).unwrap();
        let last = heads[0].to_vec::<f32>().unwrap();
        let view = heads[1].to_vec::<f32>().unwrap();
        assert_eq!(heads[0].shape(), &[4, 64]);
        for (i, &v) in data.iter().enumerate() {
            assert_eq!(view[i], expected(v));
            assert_eq!(last[i], expected(v) + 1.0);
        }
        // Results of an earlier call keep their values: heads never live in planned buffers.
        if let Some(old) = previous {
            assert_eq!(old[1].to_vec::<f32>().unwrap(), view);
        }
        previous = Some(heads);
    }
}

#[test]
fn plan_reuses_buffers_along_a_chain() {
    let graph = chain();
    let x = NDArray::from_vec(&[16, 16], vec![0f32; 256]).unwrap();
    assert!(graph.plan_stats(&[x.clone()]).is_none());
    graph.forward(&[x.clone()], true).unwrap();
    let stats = graph.plan_stats(&[x.clone()]).unwrap();
    // Nodes 1-4 are 1 KiB intermediates; node 4 stays live to the end because a head views
    // it. Two alternating buffers serve the chain.
    assert_eq!(stats.intermediate_bytes, 4 * 1024);
    assert_eq!(stats.buffers, 2);
    assert_eq!(stats.planned_bytes, 2 * 1024);
}

#[test]
fn invalid_graphs_are_rejected() {
    let forward_ref = Graph::new(vec![variable(), node("relu", &[], &[(1, 0)])], vec![Entry { node: 1, index: 0 }]);
    assert!(forward_ref.err().unwrap().to_string().contains("topological order"));
    let graph = Graph::new(vec![variable(), node("relu", &[], &[(0, 2)])], vec![Entry { node: 1, index: 0 }]).unwrap();
    let x = NDArray::from_vec(&[2], vec![1f32, -1.0]).unwrap();
    let msg = graph.forward(&[x.clone()], false).err().unwrap().to_string();
    assert!(msg.contains("output 2 of node 0"), "{msg}");
    let msg = graph.forward(&[], false).err().unwrap().to_string();
    assert!(msg.contains("expected 1 input"), "{msg}");
}
