//! What each role may publish and subscribe to, as NATS allow/deny lists, including the
//! JetStream API (`$JS.API.>`), acks, key-value and object-store subjects.
//!
//! Whitelists: anything not allowed is refused by the server, so every create, update,
//! purge or delete of a stream, consumer or bucket is the admin's alone, except where
//! a carve-out below says otherwise and why (the actuator may create its own durable
//! consumer by its exact name; the policy may purge its own snapshot bucket). Read access to a whole log is granted as:
//! stream info, *ephemeral* consumers through the unnamed create endpoint
//! (`$JS.API.CONSUMER.CREATE.<stream>`, where the server refuses a durable name), pulling
//! from them, and direct/message gets. A team reads its own decisions and grants only
//! through a consumer whose filter is in the create subject, so the server checks the
//! filter, and gets no stream info.

use crate::role::{inbox_prefix, Role};
use serde::Serialize;

/// Names of the streams, buckets and durable consumers the permissions are about. The
/// defaults are the ones `qm-bus` and the services use (a test checks they agree).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Names {
    pub input_stream: String,
    pub decisions_stream: String,
    pub actuation_stream: String,
    pub dead_stream: String,
    /// Key-value bucket of the policy's writer lease.
    pub lease_bucket: String,
    /// The lease key the policy holds.
    pub lease_key: String,
    /// Object store of the policy's snapshots.
    pub snapshot_bucket: String,
    /// The actuator's durable consumer on the decisions stream.
    pub actuator_consumer: String,
}

impl Default for Names {
    fn default() -> Self {
        Self {
            input_stream: "QM_INPUT".into(),
            decisions_stream: "QM_DECISIONS".into(),
            actuation_stream: "QM_ACTUATION".into(),
            dead_stream: "QM_DEAD".into(),
            lease_bucket: "qm_leases".into(),
            lease_key: "policy-writer".into(),
            snapshot_bucket: "qm_snapshots".into(),
            actuator_consumer: "qm-actuator".into(),
        }
    }
}

/// One user's permissions, in the shape of nats-server's `permissions` block.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Permissions {
    pub publish: Lists,
    pub subscribe: Lists,
    /// May answer requests sent to it (ingest's replies), without a publish grant on
    /// anyone's inbox.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub allow_responses: bool,
}

/// Allow and deny lists of subjects; deny wins.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Lists {
    pub allow: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub deny: Vec<String>,
}

/// The permissions of `role` for the user with `public_key` (its inbox is its own).
pub fn permissions(role: &Role, public_key: &str, names: &Names) -> Permissions {
    let mut p = Permissions::default();
    if *role == Role::Admin {
        p.publish.allow.push(">".into());
        p.subscribe.allow.push(">".into());
        return p;
    }
    p.subscribe.allow.push(format!("{}.>", inbox_prefix(public_key)));
    if matches!(role, Role::Ingest | Role::Policy | Role::Actuator) {
        // Every service checks at start that the four streams are as it expects.
        for stream in [&names.input_stream, &names.decisions_stream, &names.actuation_stream, &names.dead_stream] {
            p.publish.allow.push(api(&format!("STREAM.INFO.{stream}")));
        }
    }
    match role {
        Role::Admin => {}
        Role::Ingest => ingest(&mut p, names),
        Role::Policy => policy(&mut p, names),
        Role::Actuator => actuator(&mut p, names),
        Role::Operator => {
            p.publish.allow.push("qm.in.>".into());
            auditor(&mut p, names);
        }
        Role::Auditor => auditor(&mut p, names),
        Role::Agent => p.publish.allow.push("qm.in.usage.>".into()),
        Role::Team(team) => team_member(&mut p, team, names),
    }
    // Only the actuator consumes (and so acknowledges) the decisions it applies.
    if *role != Role::Actuator {
        let c = &names.actuator_consumer;
        let d = &names.decisions_stream;
        p.publish.deny.push(api(&format!("CONSUMER.MSG.NEXT.{d}.{c}")));
    }
    p
}

fn api(rest: &str) -> String {
    format!("$JS.API.{rest}")
}

/// Allows publishing to these JetStream API subjects (each one's part after `$JS.API.`).
fn allow_api(p: &mut Permissions, rests: impl IntoIterator<Item = String>) {
    p.publish.allow.extend(rests.into_iter().map(|rest| api(&rest)));
}

/// Reads a whole stream: info, ephemeral consumers, pulls, direct and message gets.
fn read_stream(p: &mut Permissions, stream: &str) {
    allow_api(p, [
        format!("STREAM.INFO.{stream}"),
        format!("CONSUMER.CREATE.{stream}"),
        format!("CONSUMER.INFO.{stream}.*"),
        format!("CONSUMER.MSG.NEXT.{stream}.*"),
        format!("DIRECT.GET.{stream}"),
        format!("DIRECT.GET.{stream}.>"),
        format!("STREAM.MSG.GET.{stream}"),
    ]);
}

fn ingest(p: &mut Permissions, names: &Names) {
    p.subscribe.allow.push("qm.in.>".into());
    p.allow_responses = true;
    p.publish.allow.extend(["qm.input.>".to_owned(), "qm.dead.>".to_owned()]);
    read_stream(p, &names.input_stream);
    p.publish.allow.push(api(&format!("STREAM.INFO.{}", names.dead_stream)));
}

fn policy(p: &mut Permissions, names: &Names) {
    p.publish.allow.push("qm.decision.>".into());
    read_stream(p, &names.input_stream);
    read_stream(p, &names.decisions_stream);
    // The writer lease: create, renew (compare-and-set) and release one key.
    let (bucket, key) = (&names.lease_bucket, &names.lease_key);
    p.publish.allow.push(format!("$KV.{bucket}.{key}"));
    allow_api(p, [
        format!("STREAM.INFO.KV_{bucket}"),
        format!("DIRECT.GET.KV_{bucket}.$KV.{bucket}.{key}"),
        format!("STREAM.MSG.GET.KV_{bucket}"),
    ]);
    // Snapshots: an object store replaces an object by purging its old chunks, so the
    // policy may purge its own snapshot bucket (a cache: the log has everything).
    let obj = format!("OBJ_{}", names.snapshot_bucket);
    p.publish.allow.push(format!("$O.{}.>", names.snapshot_bucket));
    p.publish.allow.push(format!("$JS.FC.{obj}.>"));
    read_stream(p, &obj);
    p.publish.allow.push(api(&format!("STREAM.PURGE.{obj}")));
}

fn actuator(p: &mut Permissions, names: &Names) {
    // Its reports, and dead letters of decisions it refused (unsigned, forged).
    p.publish.allow.push("qm.act.>".into());
    p.publish.allow.push("qm.dead.decision".into());
    read_stream(p, &names.actuation_stream);
    let (d, c) = (&names.decisions_stream, &names.actuator_consumer);
    // Its own durable consumer, by its exact name: created if absent (after an admin
    // deleted it, say), never changed or deleted. The admin provisions it first.
    allow_api(p, [
        format!("STREAM.INFO.{d}"),
        format!("CONSUMER.INFO.{d}.{c}"),
        format!("CONSUMER.CREATE.{d}.{c}"),
        format!("CONSUMER.MSG.NEXT.{d}.{c}"),
    ]);
    p.publish.allow.push(format!("$JS.ACK.{d}.{c}.>"));
}

fn auditor(p: &mut Permissions, names: &Names) {
    for stream in [&names.input_stream, &names.decisions_stream, &names.actuation_stream, &names.dead_stream] {
        read_stream(p, stream);
    }
    let bucket = &names.lease_bucket;
    p.publish.allow.push(api(&format!("STREAM.INFO.KV_{bucket}")));
    p.publish.allow.push(api(&format!("DIRECT.GET.KV_{bucket}.>")));
    p.publish.allow.extend([api("INFO"), api("STREAM.NAMES"), api("STREAM.LIST")]);
}

/// A team sends for its own workloads and reads its own decisions and grants (actuation
/// reports), live or from the stream through a consumer filtered (in the create subject)
/// to its own subjects, and the last one of a workload by a direct get on its subject.
/// Nothing else of the JetStream API: no stream info (its subject counts and
/// `subjects_filter` would name other teams' workloads), no listing, no account info.
/// The client opens the stream without info (`get_stream_no_info`) and creates its
/// consumer directly.
fn team_member(p: &mut Permissions, team: &str, names: &Names) {
    for kind in ["demand", "usage", "finish"] {
        p.publish.allow.push(format!("qm.in.{kind}.{team}.>"));
    }
    let own = [
        (&names.decisions_stream, format!("qm.decision.{team}.>")),
        (&names.actuation_stream, format!("qm.act.{team}.>")),
    ];
    for (stream, subjects) in &own {
        p.subscribe.allow.push(subjects.clone());
        allow_api(p, [
            format!("CONSUMER.CREATE.{stream}.*.{subjects}"),
            format!("CONSUMER.INFO.{stream}.*"),
            format!("CONSUMER.MSG.NEXT.{stream}.*"),
            format!("DIRECT.GET.{stream}.{subjects}"),
        ]);
    }
    // A named consumer must never be the actuator's, even one filtered to this team.
    let (d, c) = (&names.decisions_stream, &names.actuator_consumer);
    p.publish.deny.push(api(&format!("CONSUMER.CREATE.{d}.{c}.>")));
}

#[cfg(test)]
#[path = "permissions_tests.rs"]
mod tests;
