//! The transcendental functions that reach decisions, computed the same on every
//! machine. `f64::exp2` and `f64::powf` call the platform's maths library (glibc, musl,
//! the macOS or Windows runtime), whose last bit differs between implementations and
//! versions; a decision that compares such a number could then differ between two
//! machines replaying one log. These use the `libm` crate instead: musl's algorithms
//! in pure Rust, built from IEEE 754 basic operations only (add, multiply, divide,
//! square root, exact integer conversions), which every conforming CPU rounds alike.
//! Built without its `arch` feature, so no code path depends on the target.
//!
//! Everything else the core computes with floats is a basic operation or exact
//! (`floor`, `ceil`, `round`, `min`, `max`, comparisons), so this is the whole list.
//! `shared/core/clippy.toml` forbids the platform versions in this crate.

/// `2^x`.
pub fn exp2(x: f64) -> f64 {
    libm::exp2(x)
}

/// `x^y`.
pub fn pow(x: f64, y: f64) -> f64 {
    libm::pow(x, y)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Exact outputs, as bit patterns, for inputs the core feeds these functions (usage
    /// decay over a tick or a day at the default half-life; prices from
    /// `../shared/data/accelerators` raised to cost weights). A different result on any
    /// machine or toolchain fails here, before it can change a decision. Each pinned
    /// value is also the correctly rounded one (checked against 200-bit arithmetic).
    #[test]
    fn outputs_are_pinned_to_the_bit() {
        let cases: [(f64, u64); 4] = [
            (exp2(-30.0 / 3600.0), 0x3fefd0d14b150a9c),
            (exp2(-86_400.0 / 3600.0), 0x3e70000000000000),
            (exp2(-1.0), 0x3fe0000000000000),
            (exp2(0.0), 0x3ff0000000000000),
        ];
        let pows: [(f64, u64); 5] = [
            (pow(4.916, 0.5), 0x4001bcd635c7ea50),
            (pow(1.844, 0.8), 0x3ffa1af50ca7ebd9),
            (pow(0.75, 0.3), 0x3fed5aa478ea79e4),
            (pow(5.408, 1.0), 0x4015a1cac083126f),
            (pow(0.01, 0.5), 0x3fb999999999999a),
        ];
        for (i, (got, bits)) in cases.iter().chain(&pows).enumerate() {
            assert_eq!(got.to_bits(), *bits, "case {i}: {got:e}");
        }
    }
}
