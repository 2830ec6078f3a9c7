//! Names Quartermaster hands to Slurm. Every one is checked against a conservative
//! alphabet before it reaches an argv, so a workload id can never smuggle an option
//! (`--foo`), a list separator (`,`) or a `where` clause into a Slurm command.

/// Longest name accepted (Slurm's QOS and account names are stored in 64-char columns).
pub const NAME_CHARS_MAX: usize = 60;

/// Why a name cannot be used in Slurm.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Empty, too long, or with a character outside `[a-z0-9_-]` (or not starting with
    /// a letter or digit). Rename the workload/team, or map it in the config.
    #[error("{what} {name:?} cannot be a Slurm name: use 1-{NAME_CHARS_MAX} characters of [a-z0-9_-], starting with a letter or digit")]
    Invalid { what: &'static str, name: String },
}

/// `name` if Slurm can take it as is; `what` says what it names, for the error.
pub fn checked<'a>(what: &'static str, name: &'a str) -> Result<&'a str, NameError> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if first_ok && rest_ok && name.len() <= NAME_CHARS_MAX {
        Ok(name)
    } else {
        Err(NameError::Invalid { what, name: name.to_owned() })
    }
}

/// The QOS of a workload: `prefix` + workload id, e.g. `qm-train-42`.
pub fn qos_name(prefix: &str, workload: &str) -> Result<String, NameError> {
    let name = format!("{prefix}{}", checked("workload", workload)?);
    checked("QOS", &name)?;
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_names_and_refuses_the_rest() {
        for good in ["w1", "train-42", "a_b", "0x"] {
            assert_eq!(checked("workload", good), Ok(good));
        }
        for bad in ["", "-rf", "W1", "a,b", "a b", "a=b", "a/b", "é", "_x", &"x".repeat(61)] {
            assert!(checked("workload", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn qos_is_prefixed_and_checked_whole() {
        assert_eq!(qos_name("qm-", "w1").as_deref(), Ok("qm-w1"));
        assert!(qos_name("qm-", "W1").is_err());
        assert!(qos_name("qm-", &"x".repeat(59)).is_err(), "prefix pushes it past the limit");
    }
}
