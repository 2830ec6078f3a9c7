//! The writer keeps its term through a server outage shorter than the lease: a renewal
//! whose outcome is unknown (its request and the check after it both time out) is
//! retried while the lease lasts, instead of ending the term, which would stop
//! publishing and make the writer compute a resume point again. Real nats-server with
//! auth on; the server is killed and restarted on the same store.

use qm_bus::lease::LeaseSettings;
use qm_bus::provision::Provision;
use qm_policy::leader::{Keeper, KeeperSettings, Role};
use qm_testkit::NatsServer;
use std::time::Duration;

/// Renewals every TTL/3 = 10 s; a request to a server that is down times out in 5 s.
const TTL: Duration = Duration::from_secs(30);

async fn writer_term(keeper: &mut Keeper, within: Duration) -> anyhow::Result<u64> {
    let found = tokio::time::timeout(within, keeper.roles.wait_for(|role| matches!(role, Role::Writer { .. }))).await??;
    match *found {
        Role::Writer { term, .. } => Ok(term),
        Role::Standby => unreachable!("waited for a writer role"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_restart_shorter_than_the_lease_keeps_the_term() -> anyhow::Result<()> {
    let lease = LeaseSettings { ttl: TTL, ..LeaseSettings::default() };
    let mut server = NatsServer::start_provisioned_with(&[], Provision { lease: lease.clone(), ..Provision::default() })?;
    let settings = KeeperSettings {
        nats: server.connect_settings("policy")?,
        lease,
        key: "policy-writer".into(),
        holder: "policy-test".into(),
    };
    let mut keeper = Keeper::spawn(settings).await?;
    assert_eq!(writer_term(&mut keeper, Duration::from_secs(10)).await?, 1, "the only candidate takes the lease");

    // Right after a renewal, down for longer than a renewal period plus two request
    // timeouts: the next renewal and its check both fail while the server is away. The
    // lease (30 s from the last renewal) still outlasts the outage.
    keeper.roles.borrow_and_update();
    tokio::time::timeout(TTL, keeper.roles.changed()).await??;
    server.kill();
    tokio::time::sleep(TTL / 3 + Duration::from_secs(11)).await;
    server.restart()?;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let role = *keeper.roles.borrow();
    match role {
        Role::Writer { term, .. } => assert_eq!(term, 1, "the term survived the restart"),
        Role::Standby => panic!("the writer stood down over a restart shorter than its lease"),
    }
    assert!(role.may_publish(), "renewed after the restart, so still allowed to publish");
    keeper.stop().await;
    Ok(())
}
