//! Operator definitions, one file per family. Each `register` adds the family's `OpDef`s.

pub mod arith;
pub mod binary;
pub mod copy;
pub mod creation;
pub mod grad_util;
pub mod nn;
pub mod reduce;
pub mod scalar;
pub mod shape;

use crate::operator::OpDef;

pub(crate) fn register_all(defs: &mut Vec<OpDef>) {
    binary::register(defs);
    scalar::register(defs);
    copy::register(defs);
    creation::register(defs);
    reduce::register(defs);
    shape::register(defs);
    nn::register(defs);
}
