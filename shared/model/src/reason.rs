//! Why a decision was made: the rule that fired ([`RuleId`]), the numbers it compared
//! ([`Figure`], named by [`FigureName`]) and a sentence for people.
//!
//! Rule ids and figure names are enums, so code branches on them without comparing
//! strings and a misspelt one does not compile. On the wire each is the same
//! snake_case string it always was. A name this build does not know (written by another
//! version, or by hand) decodes as `Other` and re-encodes unchanged, so reading never
//! fails on vocabulary and old logs replay byte for byte.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// Declares a string vocabulary: an enum of known names plus `Other`, with `as_str`,
/// `parse`, `Display`, `From<&str>` and serde as the bare string.
macro_rules! vocabulary {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal,)* }) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)*
            /// A name this build does not know, kept as read.
            Other(Box<str>),
        }

        impl $name {
            /// Every known name, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            /// The name as written on the wire.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $text,)*
                    Self::Other(s) => s,
                }
            }

            /// The known name spelt `s`, else `Other(s)`.
            pub fn parse(s: &str) -> Self {
                match s {
                    $($text => Self::$variant,)*
                    other => Self::Other(other.into()),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self::parse(s)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                deserializer.deserialize_str(NameVisitor(Self::parse))
            }
        }
    };
}

/// Reads a string (borrowed or not) into a vocabulary type.
struct NameVisitor<T>(fn(&str) -> T);

impl<T> serde::de::Visitor<'_> for NameVisitor<T> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a snake_case name")
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<T, E> {
        Ok((self.0)(v))
    }
}

vocabulary!(
    /// The rule that made a decision: stable ids, documented in `docs/POLICY.md`.
    RuleId {
        /// A grant within the team's guarantee.
        Guarantee = "guarantee",
        /// A grant within the team's fair share, beyond its guarantee.
        FairShare = "fair_share",
        /// A grant beyond the team's fair share, from chips no one else wants now.
        Borrow = "borrow",
        /// A voluntary move to a clearly better pool.
        Move = "move",
        /// Demand waiting: no candidate pool has room.
        NoCapacity = "no_capacity",
        /// A gang waiting: no pool has its whole size free.
        GangNoFit = "gang_no_fit",
        /// Demand waiting: the team is at its limit.
        TeamLimit = "team_limit",
        /// Demand waiting: the workload's team is not declared.
        UnknownTeam = "unknown_team",
        /// Demand waiting: no healthy pool of an accepted type in the team's regions.
        NoAcceptedPool = "no_accepted_pool",
        /// Demand waiting for chips being reclaimed for it.
        AwaitingReclaim = "awaiting_reclaim",
        /// Demand waiting for borrowed grants to reach their minimum lifetime.
        MinLifetime = "min_lifetime",
        /// A new workload waits for its fastest type, expected to free chips sooner than
        /// running on a slower one would cost.
        FasterTypeSoon = "faster_type_soon",
        /// A team below its fair share takes back lent chips.
        OwnerReclaim = "owner_reclaim",
        /// Critical work preempts preemptible work.
        CriticalPreemption = "critical_preemption",
        /// A finished workload's grant ends.
        Finished = "finished",
        /// A pool shrank below what it granted.
        PoolShrink = "pool_shrink",
        /// A pool was retired.
        PoolRetired = "pool_retired",
        /// A workload asked for fewer chips than it holds.
        DemandDrop = "demand_drop",
        /// Idle capacity given back.
        IdleGiveBack = "idle_give_back",
        /// A reclaim's grace is over; the chips are revoked.
        GraceOver = "grace_over",
        /// A reclaim is called off: the work it was for was served elsewhere or left.
        ReclaimCancelled = "reclaim_cancelled",
    }
);

vocabulary!(
    /// The name of a number a rule compared. Chips are chips of the pool's type;
    /// `team_*` figures are normalized compute (H100-equivalent chips).
    FigureName {
        ChipsWanted = "chips_wanted",
        ChipsHeld = "chips_held",
        ChipsGranted = "chips_granted",
        ChipsKept = "chips_kept",
        ChipsNeeded = "chips_needed",
        ChipsDesired = "chips_desired",
        ChipsBusy = "chips_busy",
        ChipsComingFree = "chips_coming_free",
        LargestFreeChips = "largest_free_chips",
        RelativeThroughput = "relative_throughput",
        PricePerChipHour = "price_per_chip_hour",
        /// The price placement counted: list while the type is contended, else the
        /// fleet's cheapest (see docs/POLICY.md, placement).
        PlacementPrice = "placement_price",
        PlacementScore = "placement_score",
        PoolFreeChips = "pool_free_chips",
        PoolHealthyChips = "pool_healthy_chips",
        PoolGrantedChips = "pool_granted_chips",
        TeamHeld = "team_held",
        TeamGuarantee = "team_guarantee",
        TeamFairShare = "team_fair_share",
        ClaimantTeamHeld = "claimant_team_held",
        ClaimantTeamFairShare = "claimant_team_fair_share",
        VictimTeamHeld = "victim_team_held",
        VictimTeamFairShare = "victim_team_fair_share",
        GrantLifetimeMinS = "grant_lifetime_min_s",
        ReclaimableAtMs = "reclaimable_at_ms",
        IdleThresholdFraction = "idle_threshold_fraction",
        IdleS = "idle_s",
        HeadroomFraction = "headroom_fraction",
        ValueStay = "value_stay",
        ValueMove = "value_move",
        GainNormalized = "gain_normalized",
        GainMin = "gain_min",
        /// Seconds a workload is expected to wait for chips of a type.
        ExpectedWaitS = "expected_wait_s",
        /// Seconds longer a workload is expected to run on a slower type.
        SlowdownS = "slowdown_s",
    }
);

/// A named number a rule compared, so a reason can be checked, not just read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Figure {
    pub name: FigureName,
    pub value: f64,
}

/// Machine-readable why: the rule that fired, the numbers it compared, and a sentence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reason {
    /// Stable rule id, e.g. `guarantee`, `fair_share`, `idle_give_back`.
    pub rule: RuleId,
    pub figures: Vec<Figure>,
    pub message: String,
}

impl Reason {
    /// A reason with a rule and a message and no figures yet.
    pub fn new(rule: RuleId, message: impl Into<String>) -> Self {
        Self { rule, figures: Vec::new(), message: message.into() }
    }

    /// Adds a compared number.
    pub fn with(mut self, name: FigureName, value: f64) -> Self {
        self.figures.push(Figure { name, value });
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_as_bare_strings_and_unknown_ones_survive() {
        for rule in RuleId::ALL {
            let bytes = rmp_serde::to_vec_named(rule).expect("encode");
            assert_eq!(bytes, rmp_serde::to_vec_named(rule.as_str()).expect("encode"), "{rule}");
            assert_eq!(&rmp_serde::from_slice::<RuleId>(&bytes).expect("decode"), rule);
            assert_eq!(&RuleId::parse(rule.as_str()), rule);
        }
        for name in FigureName::ALL {
            assert_eq!(&FigureName::parse(name.as_str()), name);
            let json = serde_json::to_string(name).expect("json");
            assert_eq!(json, format!("\"{name}\""));
        }
        let bytes = rmp_serde::to_vec_named("placement").expect("encode");
        let other: RuleId = rmp_serde::from_slice(&bytes).expect("decode");
        assert_eq!(other, RuleId::Other("placement".into()));
        assert_eq!(rmp_serde::to_vec_named(&other).expect("encode"), bytes);
        assert!(rmp_serde::from_slice::<RuleId>(&rmp_serde::to_vec_named(&7u8).expect("encode")).is_err());
    }
}
