//! The global seed source for random operators (`mx.random.seed`).

use std::sync::Mutex;

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

/// Seed used until `mx.random.seed` is called, so runs are reproducible by default.
const DEFAULT_SEED: u64 = 0;

static SEEDER: Mutex<Option<Pcg64>> = Mutex::new(None);

/// Reset the generator (`mx.random.seed(seed)`).
pub fn seed(seed: u64) {
    *SEEDER.lock().unwrap_or_else(|e| e.into_inner()) = Some(Pcg64::seed_from_u64(seed));
}

/// Draw the seed for one random operator call.
pub fn next_seed() -> u64 {
    let mut guard = SEEDER.lock().unwrap_or_else(|e| e.into_inner());
    guard.get_or_insert_with(|| Pcg64::seed_from_u64(DEFAULT_SEED)).gen()
}

/// A generator for one kernel, from the seed its call drew.
pub fn kernel_rng(seed: u64) -> Pcg64 {
    Pcg64::seed_from_u64(seed)
}
