//! Measured usage (filled in below).
