//! End-to-end checks of the core from Rust: op calls through the engine, views, autograd.

use mxnet_core::autograd::{self, GradReq};
use mxnet_core::{call1, NDArray};

fn arr(shape: &[usize], data: &[f32]) -> NDArray {
    NDArray::from_vec(shape, data.to_vec()).unwrap()
}

#[test]
fn broadcast_add_matches_manual_values() {
    let a = arr(&[2, 3], &[1., 2., 3., 4., 5., 6.]);
    let b = arr(&[3], &[10., 20., 30.]);
    let c = call1("broadcast_add", &[&a, &b], &[]).unwrap();
    assert_eq!(c.shape(), &[2, 3]);
    assert_eq!(c.to_vec::<f32>().unwrap(), vec![11., 22., 33., 14., 25., 36.]);
}

#[test]
fn reshape_of_contiguous_array_is_a_view() {
    let a = arr(&[2, 3], &[1., 2., 3., 4., 5., 6.]);
    let r = call1("Reshape", &[&a], &[("shape", "(3, -1)".into())]).unwrap();
    assert!(r.shares_storage(&a));
    assert_eq!(r.shape(), &[3, 2]);
}

#[test]
fn shape_mismatch_is_an_error_naming_the_op() {
    let a = arr(&[2, 3], &[0.; 6]);
    let b = arr(&[2], &[0.; 2]);
    let err = call1("broadcast_add", &[&a, &b], &[]).unwrap_err().to_string();
    assert!(err.contains("broadcast_add") && err.contains("[2, 3]"), "{err}");
}

#[test]
fn gradient_of_product_and_broadcast_sum() {
    let mut x = arr(&[2, 2], &[1., 2., 3., 4.]);
    let mut w = arr(&[2], &[0.5, -1.]);
    autograd::attach_grad(&mut x, GradReq::Write).unwrap();
    autograd::attach_grad(&mut w, GradReq::Write).unwrap();

    let was = autograd::set_recording(true);
    let y = call1("broadcast_mul", &[&x, &w], &[]).unwrap();
    let s = call1("sum", &[&y], &[]).unwrap();
    autograd::set_recording(was);
    autograd::backward(&[s], &[], false, false, true).unwrap();

    let grad = |a: &NDArray| match a.autograd_entry() {
        Some(autograd::AgEntry::Leaf(leaf)) => leaf.grad().unwrap().to_vec::<f32>().unwrap(),
        _ => panic!("not a leaf"),
    };
    // d(sum(x*w))/dx = w broadcast; d/dw = column sums of x.
    assert_eq!(grad(&x), vec![0.5, -1., 0.5, -1.]);
    assert_eq!(grad(&w), vec![4., 6.]);
}
