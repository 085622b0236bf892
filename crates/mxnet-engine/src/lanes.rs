//! Dedicated threads for device queues. An operation pushed with [`Lane::Dedicated`] runs on
//! that lane's own thread, in the order its operations become ready, instead of on the shared
//! pool. So an operation that blocks on a device (a copy back to the host waits for the GPU)
//! never holds a pool thread, and CPU work goes on meanwhile.

use std::collections::HashMap;
use std::sync::mpsc::{channel, Sender};
use std::sync::Mutex;

/// The thread, or pool of threads, that runs a ready operation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Lane {
    /// The shared thread pool (CPU operations).
    #[default]
    Pool,
    /// The dedicated thread with this id: MXNet's per-device queues (a compute queue and a
    /// copy queue per GPU) under `ThreadedEnginePerDevice`. Other engine types use the pool.
    Dedicated(u32),
}

/// The senders of the lanes started so far; each lane's thread runs what it receives.
pub(crate) struct Lanes<T> {
    senders: Mutex<HashMap<u32, Sender<T>>>,
}

impl<T: Send + 'static> Lanes<T> {
    pub(crate) fn new() -> Self {
        Lanes { senders: Mutex::new(HashMap::new()) }
    }

    /// Hand `item` to lane `id`, starting its thread on first use with `run` as the body that
    /// each item goes through.
    pub(crate) fn send(&self, id: u32, item: T, run: impl Fn(T) + Send + 'static) {
        let mut senders = self.senders.lock().unwrap_or_else(|p| p.into_inner());
        let sender = senders.entry(id).or_insert_with(|| {
            let (sender, receiver) = channel::<T>();
            std::thread::Builder::new()
                .name(format!("mxnet-lane-{id}"))
                .spawn(move || receiver.into_iter().for_each(run))
                .expect("the operating system could not start a lane thread");
            sender
        });
        // The thread keeps its receiver for the life of the process, and operation bodies run
        // under `catch_unwind`, so the send fails only after a bug in the engine itself.
        sender.send(item).unwrap_or_else(|_| panic!("lane {id} lost its thread"));
    }

    /// Forget every lane: called in a child process after `fork`, where the threads do not
    /// exist. Lanes start again on their next operation.
    pub(crate) fn forget(&self) {
        self.senders.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}
