//! Operator definitions, one file per family. Each `register` adds the family's `OpDef`s.

pub mod arith;
pub mod axes;
pub mod binary;
pub mod copy;
pub mod creation;
pub mod diag;
pub mod elemwise_misc;
pub mod grad_util;
pub mod indexing;
pub mod join;
pub mod linalg;
pub mod nn;
pub mod optimizer;
pub mod ordering;
pub mod pad;
pub mod random;
pub mod reduce;
pub mod scalar;
pub mod shape;
pub mod slice;
pub mod unary;
pub mod view;

use crate::operator::OpDef;

/// `supports_gpu` and `forward_gpu` for operators whose `forward` only moves data through
/// `copy::copy_kernel`, which runs on either device.
macro_rules! gpu_through_copies {
    () => {
        fn supports_gpu(&self) -> bool {
            true
        }

        fn forward_gpu(&self, ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
            self.forward(ctx, inputs, outputs)
        }
    };
}
pub(crate) use gpu_through_copies;

pub(crate) fn register_all(defs: &mut Vec<OpDef>) {
    binary::register(defs);
    scalar::register(defs);
    copy::register(defs);
    creation::register(defs);
    reduce::register(defs);
    shape::register(defs);
    unary::register(defs);
    elemwise_misc::register(defs);
    optimizer::register(defs);
    random::register(defs);
    axes::register(defs);
    slice::register(defs);
    join::register(defs);
    indexing::register(defs);
    ordering::register(defs);
    linalg::register(defs);
    diag::register(defs);
    pad::register(defs);
    nn::register(defs);
}
