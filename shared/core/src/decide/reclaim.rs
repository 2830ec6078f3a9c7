//! Reclaims for blocked work (filled in below).

use crate::decide::Round;
use qm_model::WorkloadId;

/// Reclaims borrowed or lower-tier capacity for workloads that could not be placed.
pub fn reclaim_for(_r: &mut Round, _unplaced: &[WorkloadId]) {}
