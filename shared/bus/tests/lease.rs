//! The writer lease over a real nats-server: one holder at a time, renewal by
//! compare-and-set, takeover only after expiry (or release), and a replaced holder
//! cannot renew over its successor.

use qm_bus::connect::{connect, ConnectSettings};
use qm_bus::lease::{Lease, LeaseError, LeaseSettings, LeaseStore};
use qm_testkit::NatsServer;
use std::time::Duration;
use tokio::time::Instant;

const TTL: Duration = Duration::from_millis(1000);

async fn store(nats: &NatsServer) -> anyhow::Result<LeaseStore> {
    let client = connect(&ConnectSettings { url: nats.url(), name: "lease-test".into(), ..Default::default() }).await?;
    Ok(LeaseStore::open(&client, &LeaseSettings { bucket: "test_leases".into(), ttl: TTL, replicas: 1 }).await?)
}

/// A fresh server whose lease `writer` is held by `a` (the server stops when dropped).
async fn held_by_a() -> anyhow::Result<(NatsServer, LeaseStore, Lease)> {
    let nats = NatsServer::start()?;
    let leases = store(&nats).await?;
    let a = Lease::acquire(&leases, "writer", "a").await?.expect("a free key is acquired");
    Ok((nats, leases, a))
}

/// Writes `holder` into the key behind the lease's back (an operator, a peer, or our own
/// write whose answer was lost); returns the new revision.
async fn overwrite(nats: &NatsServer, holder: &str) -> anyhow::Result<u64> {
    let client = connect(&ConnectSettings { url: nats.url(), name: "overwrite".into(), ..Default::default() }).await?;
    let kv = client.raw_jetstream().get_key_value("test_leases").await?;
    Ok(kv.put("writer", holder.to_owned().into()).await?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_holder_at_a_time_and_takeover_only_after_expiry() -> anyhow::Result<()> {
    let nats = NatsServer::start()?;
    let leases = store(&nats).await?;
    assert_eq!(leases.ttl(), TTL);

    let mut a = Lease::acquire(&leases, "writer", "a").await?.expect("a free key is acquired");
    assert!(a.is_valid());
    assert_eq!(leases.holder("writer").await?.as_deref(), Some("a"));
    assert!(Lease::acquire(&leases, "writer", "b").await?.is_none(), "b must not take a held lease");

    // Renewals keep it: well past one TTL, b still cannot take it.
    let first_revision = a.revision();
    for _ in 0..5 {
        tokio::time::sleep(TTL / 3).await;
        a.renew().await?;
        assert!(Lease::acquire(&leases, "writer", "b").await?.is_none(), "b took a renewed lease");
    }
    assert!(a.revision() > first_revision, "each renewal writes a new revision");

    // a stops renewing (a crash): b gets it after expiry, not before.
    let last_renewal = Instant::now();
    let b = loop {
        if let Some(b) = Lease::acquire(&leases, "writer", "b").await? {
            break b;
        }
        assert!(last_renewal.elapsed() < TTL * 5, "lease never expired");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let waited = last_renewal.elapsed();
    assert!(waited >= TTL - TTL / 10, "b acquired after {waited:?}, before the TTL ran out");
    assert!(!a.is_valid(), "a's own clock must say it lost the lease before b could take it");
    assert_eq!(leases.holder("writer").await?.as_deref(), Some("b"));

    // The replaced holder cannot renew over its successor (its own clock already says
    // the lease ran out, so it does not even try).
    assert!(matches!(a.renew().await, Err(LeaseError::Expired { .. })));
    assert_eq!(leases.holder("writer").await?.as_deref(), Some("b"));

    // Release hands it over at once, without waiting for expiry.
    b.release().await?;
    assert!(Lease::acquire(&leases, "writer", "c").await?.is_some(), "a released lease is free at once");
    Ok(())
}

/// Issue 15: a lease that ran out by the holder's clock (the bucket had no leader during
/// an election) was reported as "held by someone else" though nobody else held it. It is
/// `Expired` now, and the holder takes it back at once while the key still names it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_run_out_by_the_holders_clock_is_expired_not_lost() -> anyhow::Result<()> {
    let (_nats, leases, mut a) = held_by_a().await?;
    // Past a's own deadline (TTL less a tenth) but before the server drops the key.
    tokio::time::sleep_until(a.valid_until() + Duration::from_millis(20)).await;
    assert!(!a.is_valid());
    let renewed = a.renew().await;
    assert!(matches!(renewed, Err(LeaseError::Expired { .. })), "{renewed:?}");
    assert!(renewed.err().is_some_and(|e| !e.to_string().contains("someone else")));
    let again = Lease::acquire(&leases, "writer", "a").await?;
    assert!(again.is_some(), "the key still names a: taken back without waiting for expiry");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_revision_cannot_renew_even_before_expiry() -> anyhow::Result<()> {
    let (nats, _leases, mut a) = held_by_a().await?;
    // Someone overwrites the key (an operator, a misconfigured peer): a's revision is
    // stale now, so its renewal must fail rather than overwrite in turn.
    let b = overwrite(&nats, "b").await?;
    assert!(b > a.revision());
    assert!(matches!(a.renew().await, Err(LeaseError::Lost { .. })));
    Ok(())
}

/// Issue 15: a writer must not lose its lease to itself. Its renewal's answer can be
/// lost although the write landed (under load); the next renewal then meets a revision
/// it did not record, which still names it: that is a renewal, not a loss.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_never_loses_the_lease_to_its_own_write() -> anyhow::Result<()> {
    let (nats, leases, mut a) = held_by_a().await?;
    let own_write = overwrite(&nats, "a").await?;
    assert!(own_write > a.revision());
    a.renew().await?;
    assert!(a.revision() > own_write, "renewed on the revision found");
    assert!(Lease::acquire(&leases, "writer", "b").await?.is_none(), "still held by a");

    // A holder that gave its lease up for lost (without releasing it) takes it back at
    // once instead of waiting for it to expire; anyone else still cannot.
    let revision = a.revision();
    drop(a);
    let again = Lease::acquire(&leases, "writer", "a").await?.expect("a key naming us is ours");
    assert!(again.revision() > revision);
    assert!(Lease::acquire(&leases, "writer", "b").await?.is_none());
    Ok(())
}
