//! Identifiers. Newtypes so a pool id can never be passed where a team id belongs.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            /// Borrow the id as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_owned())
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self(s)
            }
        }
    };
}

string_id!(
    /// A pool: one accelerator type in one region, e.g. `use-h100`.
    PoolId
);
string_id!(
    /// A team that owns workloads and holds a guarantee.
    TeamId
);
string_id!(
    /// A workload (a training job, an inference service, ...), unique fleet-wide.
    WorkloadId
);
string_id!(
    /// An accelerator type, lower case, e.g. `h100`, `a100`, `tpu-v5e`.
    AcceleratorType
);
string_id!(
    /// A region name, e.g. `us-east`.
    Region
);
