//! Policy service: single writer that folds the logs and records decisions
