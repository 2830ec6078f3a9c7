//! Stream names and subjects. Subjects carry team and workload so operators can filter
//! with plain NATS tools, and so NATS permissions can be scoped per team.

/// Accepted input, plus actuation reports sourced in: the policy's one ordered log.
pub const INPUT_STREAM: &str = "QM_INPUT";
/// Decisions of the policy.
pub const DECISIONS_STREAM: &str = "QM_DECISIONS";
/// What the actuator did.
pub const ACTUATION_STREAM: &str = "QM_ACTUATION";
/// Input that ingest rejected, with the reason.
pub const DEAD_STREAM: &str = "QM_DEAD";

/// Where senders send requests to ingest: `qm.in.<kind>.<...>`.
pub const INGEST_REQUESTS: &str = "qm.in.>";
/// Subjects stored in `QM_INPUT` by ingest.
pub const INPUT_SUBJECTS: &str = "qm.input.>";
/// Subjects stored in `QM_DECISIONS`.
pub const DECISION_SUBJECTS: &str = "qm.decision.>";
/// Subjects stored in `QM_ACTUATION`, and sourced into `QM_INPUT`.
pub const ACTUATION_SUBJECTS: &str = "qm.act.>";
/// Prefix of actuation subjects, to tell them apart when reading `QM_INPUT`. It covers
/// both shapes: `qm.act.<team>.<workload>` (written now) and `qm.act.<workload>`
/// (logs written before subjects carried the team; still read, never written).
pub const ACTUATION_PREFIX: &str = "qm.act.";
/// Subjects stored in `QM_DEAD`.
pub const DEAD_SUBJECTS: &str = "qm.dead.>";

/// The subject ingest stores an accepted input under, e.g. `qm.input.demand.ml.w1`.
pub fn input(kind: &str, rest: &[&str]) -> String {
    join("qm.input", kind, rest)
}

/// The subject a sender sends a request to, e.g. `qm.in.demand.ml.w1`.
pub fn ingest_request(kind: &str, rest: &[&str]) -> String {
    join("qm.in", kind, rest)
}

/// The subject of a decision about one workload.
pub fn decision(team: &str, workload: &str) -> String {
    format!("qm.decision.{team}.{workload}")
}

/// The subject of an actuation report about one workload of `team`. The team token lets
/// a team's permissions (and filters) take its own grants only, as for decisions.
pub fn actuation(team: &str, workload: &str) -> String {
    format!("{ACTUATION_PREFIX}{team}.{workload}")
}

/// The subject of a dead letter, by the kind of input refused.
pub fn dead(kind: &str) -> String {
    format!("qm.dead.{kind}")
}

fn join(prefix: &str, kind: &str, rest: &[&str]) -> String {
    let mut subject = format!("{prefix}.{kind}");
    for token in rest {
        subject.push('.');
        subject.push_str(token);
    }
    subject
}
