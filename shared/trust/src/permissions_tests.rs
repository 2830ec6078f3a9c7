//! The permission lists checked with NATS's own matching rules (`*` one token, `>` the
//! rest; deny wins), role by role. The real server is tested in tests/matrix.rs; these
//! run without one and cover many more subjects.

use super::*;

/// NATS subject matching: `*` matches one token, `>` one or more remaining tokens.
fn matches(pattern: &str, subject: &str) -> bool {
    let (mut p, mut s) = (pattern.split('.'), subject.split('.'));
    loop {
        match (p.next(), s.next()) {
            (Some(">"), Some(_)) => return true,
            (Some("*"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

fn allowed(lists: &Lists, subject: &str) -> bool {
    lists.allow.iter().any(|a| matches(a, subject)) && !lists.deny.iter().any(|d| matches(d, subject))
}

const KEY: &str = "UTESTKEY";

fn may_publish(role: &Role, subject: &str) -> bool {
    allowed(&permissions(role, KEY, &Names::default()).publish, subject)
}

fn may_subscribe(role: &Role, subject: &str) -> bool {
    allowed(&permissions(role, KEY, &Names::default()).subscribe, subject)
}

fn ml() -> Role {
    Role::Team("ml".into())
}

#[test]
fn matcher_follows_nats_rules() {
    assert!(matches("a.*.c", "a.b.c"));
    assert!(!matches("a.*", "a.b.c"));
    assert!(matches("a.>", "a.b.c"));
    assert!(!matches("a.>", "a"));
    assert!(matches("a.b.>", "a.b.>"));
}

#[test]
fn each_kind_of_input_is_sent_only_by_whom_it_belongs_to() {
    let cases: &[(&str, &[Role], &[Role])] = &[
        ("qm.in.demand.ml.w1", &[Role::Admin, Role::Operator, ml()], &[Role::Team("cv".into()), Role::Auditor, Role::Policy, Role::Actuator, Role::Agent]),
        ("qm.in.usage.ml.w1", &[Role::Operator, ml(), Role::Agent], &[Role::Team("cv".into()), Role::Auditor]),
        ("qm.in.finish.ml.w1", &[Role::Operator, ml()], &[Role::Team("cv".into()), Role::Agent]),
        ("qm.in.team.ml", &[Role::Admin, Role::Operator], &[ml(), Role::Auditor, Role::Ingest, Role::Policy]),
        ("qm.in.pool.us-h100", &[Role::Operator], &[ml(), Role::Auditor]),
        ("qm.in.policy", &[Role::Operator], &[ml(), Role::Auditor, Role::Policy, Role::Agent]),
        ("qm.input.demand.ml.w1", &[Role::Admin, Role::Ingest], &[ml(), Role::Operator, Role::Policy, Role::Actuator, Role::Auditor, Role::Agent]),
        ("qm.input.tick", &[Role::Ingest], &[ml(), Role::Operator, Role::Policy, Role::Actuator]),
        ("qm.dead.demand", &[Role::Ingest], &[ml(), Role::Operator, Role::Policy]),
        ("qm.decision.ml.w1", &[Role::Admin, Role::Policy], &[ml(), Role::Operator, Role::Ingest, Role::Actuator, Role::Auditor]),
        ("qm.act.ml.w1", &[Role::Actuator], &[ml(), Role::Operator, Role::Ingest, Role::Policy, Role::Auditor]),
        ("qm.act.w1", &[Role::Actuator], &[ml(), Role::Operator, Role::Ingest, Role::Policy, Role::Auditor]),
        ("$KV.qm_leases.policy-writer", &[Role::Admin, Role::Policy], &[ml(), Role::Operator, Role::Ingest, Role::Actuator, Role::Auditor]),
        ("$KV.qm_leases.other", &[Role::Admin], &[Role::Policy]),
    ];
    for (subject, yes, no) in cases {
        for role in *yes {
            assert!(may_publish(role, subject), "{role} should publish {subject}");
        }
        for role in *no {
            assert!(!may_publish(role, subject), "{role} must not publish {subject}");
        }
    }
}

#[test]
fn nobody_but_admin_creates_changes_purges_or_deletes_streams_and_consumers() {
    let everyone = [Role::Ingest, Role::Policy, Role::Actuator, Role::Operator, Role::Auditor, Role::Agent, ml()];
    let destructive = [
        "$JS.API.STREAM.CREATE.QM_INPUT",
        "$JS.API.STREAM.UPDATE.QM_INPUT",
        "$JS.API.STREAM.DELETE.QM_INPUT",
        "$JS.API.STREAM.PURGE.QM_INPUT",
        "$JS.API.STREAM.PURGE.QM_DEAD",
        "$JS.API.STREAM.MSG.DELETE.QM_INPUT",
        "$JS.API.STREAM.PURGE.KV_qm_leases",
        "$JS.API.STREAM.DELETE.KV_qm_leases",
        "$JS.API.STREAM.MSG.DELETE.KV_qm_leases",
        "$JS.API.CONSUMER.DELETE.QM_DECISIONS.qm-actuator",
        "$JS.API.CONSUMER.DURABLE.CREATE.QM_DECISIONS.qm-actuator",
        "$JS.API.CONSUMER.CREATE.QM_DECISIONS.qm-actuator.qm.decision.ml.>",
        "$JS.API.STREAM.RESTORE.QM_INPUT",
        "$JS.API.ACCOUNT.PURGE.QM",
    ];
    for role in &everyone {
        for subject in destructive {
            assert!(!may_publish(role, subject), "{role} must not publish {subject}");
            assert!(may_publish(&Role::Admin, subject));
        }
    }
    // The one carve-out: the actuator recreates its own durable consumer if it is gone.
    let own = "$JS.API.CONSUMER.CREATE.QM_DECISIONS.qm-actuator";
    assert!(may_publish(&Role::Actuator, own));
    assert!(!may_publish(&Role::Actuator, "$JS.API.CONSUMER.CREATE.QM_DECISIONS.other"));
    assert!(!may_publish(&Role::Actuator, "$JS.API.CONSUMER.CREATE.QM_DECISIONS"));
}

#[test]
fn only_the_actuator_pulls_and_acks_its_durable_consumer() {
    let next = "$JS.API.CONSUMER.MSG.NEXT.QM_DECISIONS.qm-actuator";
    let ack = "$JS.ACK.QM_DECISIONS.qm-actuator.1.5.5.0.0";
    assert!(may_publish(&Role::Actuator, next));
    assert!(may_publish(&Role::Actuator, ack));
    for role in [Role::Policy, Role::Auditor, Role::Operator, ml()] {
        assert!(!may_publish(&role, next), "{role} must not pull from the actuator's consumer");
        assert!(!may_publish(&role, ack), "{role} must not ack the actuator's deliveries");
    }
}

#[test]
fn a_team_reads_only_its_own_decisions_and_grants() {
    for own in [
        "$JS.API.CONSUMER.CREATE.QM_DECISIONS.reader1.qm.decision.ml.>",
        "$JS.API.CONSUMER.CREATE.QM_ACTUATION.reader1.qm.act.ml.>",
        "$JS.API.CONSUMER.CREATE.QM_ACTUATION.reader1.qm.act.ml.w1",
        "$JS.API.DIRECT.GET.QM_DECISIONS.qm.decision.ml.w1",
        "$JS.API.DIRECT.GET.QM_ACTUATION.qm.act.ml.w1",
        "$JS.API.CONSUMER.MSG.NEXT.QM_ACTUATION.reader1",
    ] {
        assert!(may_publish(&ml(), own), "team ml should publish {own}");
    }
    for other in [
        "$JS.API.CONSUMER.CREATE.QM_DECISIONS.reader1.qm.decision.cv.>",
        "$JS.API.CONSUMER.CREATE.QM_DECISIONS.reader1.qm.decision.>",
        "$JS.API.CONSUMER.CREATE.QM_DECISIONS.reader1.>",
        "$JS.API.CONSUMER.CREATE.QM_DECISIONS",
        "$JS.API.CONSUMER.CREATE.QM_ACTUATION.reader1.qm.act.cv.>",
        "$JS.API.CONSUMER.CREATE.QM_ACTUATION.reader1.qm.act.>",
        "$JS.API.CONSUMER.CREATE.QM_ACTUATION.reader1.qm.act.*",
        "$JS.API.CONSUMER.CREATE.QM_ACTUATION",
        "$JS.API.DIRECT.GET.QM_DECISIONS",
        "$JS.API.DIRECT.GET.QM_ACTUATION",
        "$JS.API.DIRECT.GET.QM_ACTUATION.qm.act.cv.w1",
        "$JS.API.DIRECT.GET.QM_ACTUATION.qm.act.w1",
        "$JS.API.STREAM.MSG.GET.QM_DECISIONS",
        "$JS.API.STREAM.MSG.GET.QM_ACTUATION",
        "$JS.API.CONSUMER.CREATE.QM_INPUT",
        "$JS.API.CONSUMER.LIST.QM_DECISIONS",
        "$JS.API.CONSUMER.NAMES.QM_DECISIONS",
        "$JS.API.INFO",
        "$JS.API.STREAM.NAMES",
        "$JS.API.STREAM.LIST",
    ] {
        assert!(!may_publish(&ml(), other), "team ml must not publish {other}");
    }
    for stream in ["QM_INPUT", "QM_DECISIONS", "QM_ACTUATION", "QM_DEAD", "KV_qm_leases", "OBJ_qm_snapshots"] {
        assert!(!may_publish(&ml(), &format!("$JS.API.STREAM.INFO.{stream}")), "team ml must not read {stream}'s info");
    }
    for (subject, yes) in [
        ("qm.decision.ml.w1", true),
        ("qm.act.ml.w1", true),
        ("qm.act.ml.>", true),
        ("qm.decision.cv.w1", false),
        ("qm.decision.>", false),
        ("qm.act.cv.w1", false),
        ("qm.act.w1", false),
        ("qm.act.>", false),
        ("qm.in.>", false),
    ] {
        assert_eq!(may_subscribe(&ml(), subject), yes, "team ml subscribing to {subject}");
    }
}

#[test]
fn inboxes_are_private() {
    for role in [Role::Ingest, Role::Policy, Role::Actuator, Role::Operator, Role::Auditor, ml()] {
        assert!(may_subscribe(&role, &format!("_INBOX.{KEY}.abc")), "{role} reads its own inbox");
        assert!(!may_subscribe(&role, "_INBOX.UOTHER.abc"), "{role} must not read another's inbox");
        assert!(!may_subscribe(&role, "_INBOX.>"), "{role} must not read every inbox");
        assert!(!may_publish(&role, "_INBOX.UOTHER.abc"), "{role} publishes to inboxes only as a reply");
    }
    assert!(permissions(&Role::Ingest, KEY, &Names::default()).allow_responses);
    assert!(!permissions(&ml(), KEY, &Names::default()).allow_responses);
}

#[test]
fn only_ingest_serves_requests() {
    assert!(may_subscribe(&Role::Ingest, "qm.in.>"));
    for role in [Role::Policy, Role::Actuator, Role::Operator, Role::Auditor, ml()] {
        assert!(!may_subscribe(&role, "qm.in.demand.ml.w1"), "{role} must not intercept requests");
    }
}
