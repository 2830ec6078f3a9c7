//! "Why pending" and "would it fit": read-only explanations over an [`Engine`].
//!
//! [`explain`] says what holds a workload back (the rule that last blocked it, each
//! pool it could run in with what is free there and who holds the rest, its team's
//! guarantee and fair share) and what would change it (a smaller ask that fits now,
//! other accepted types with free chips). [`what_if`] runs the real core on a clone of
//! the engine with a demand that was never sent, so its answer is exactly what the
//! policy would decide now, and who would lose what for it. Nothing here mutates the
//! engine it is given.

mod facts;
mod whatif;

pub use facts::{explain, team_standings, Explanation, GrantFact, Holder, PoolFact, TeamFacts};
pub use whatif::{what_if, Loss, Outcome, WhatIf};

#[cfg(test)]
mod tests;
