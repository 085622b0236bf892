//! Dependency engine in the style of MXNet's: every array owns a [`Var`], every operation is
//! pushed with the variables it reads and writes, and the engine runs it once all earlier
//! conflicting operations have completed.
//!
//! Rules (the same as MXNet 1.x):
//! - reads of the same version of a variable run concurrently;
//! - a write waits for every earlier read and write of that variable;
//! - a read queued after a write waits for that write.
//!
//! An operation that fails marks every variable it writes with its error. Later operations that
//! read or write a marked variable are skipped and inherit the same error, so a failure spreads to
//! everything computed from it. The error is raised once, at the first wait on any affected
//! variable (or by [`Engine::wait_for_all`]); raising it clears it for every variable sharing it.

mod engine;
mod inflight;
mod lanes;
#[cfg(all(test, loom))]
mod loom_models;
mod queue;
mod sync;
mod var;

pub use engine::{Engine, EngineKind, OpFn, PushOptions, RunNow};
pub use lanes::Lane;
pub use queue::{Job, Spawn};
pub use var::Var;

use sync::{Arc, Mutex};

/// An error raised by an operation, shared by every variable the failure reached.
pub type OpError = std::sync::Arc<dyn std::error::Error + Send + Sync + 'static>;

/// The error cell shared by all variables poisoned by one failure. Taking the error out of the
/// cell clears it for all of them, which gives MXNet's "raised once" rule.
pub type ErrorCell = Arc<Mutex<Option<OpError>>>;
