//! The pure, deterministic policy core: fold events into state, decide
