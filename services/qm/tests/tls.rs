//! TLS on both ways, with a CA and certificates generated for the test: the services,
//! the CLI and the test's own connections all use it, and the server refuses a client
//! without TLS or without a certificate the CA signed, even one with valid credentials.

mod common;

use common::*;
use qm_model::InputEvent;
use qm_testkit::NatsServer;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_system_runs_over_tls_and_refuses_clients_without_it() -> anyhow::Result<()> {
    let nats = NatsServer::start_secure_tls(&["ml"])?.provisioned(Default::default())?;
    let system = System { services: Services::start_all_on(&nats, &[])?, nats };
    let operator = start_small_fleet(&system).await?;
    let event = InputEvent::DemandDeclared { spec: workload("ml", "w1", 8), chips_desired: 4 };
    let ml = system.bus_as("team-ml").await?;
    expect_accepted(send_until_answered(&ml, "qm.in.demand.ml.w1", &event, None).await?)?;
    eventually(Duration::from_secs(20), || Ok((applied(&system.status()?, "w1") == 4).then_some(()))).await?;
    drop(operator);

    let refused = |tls: qm_bus::TlsSettings| {
        let mut settings = system.nats.connect_settings("operator").map(|s| qm_bus::ConnectSettings { start_timeout: Duration::from_secs(3), ..s });
        if let Ok(settings) = settings.as_mut() {
            settings.tls = tls;
        }
        settings
    };
    let plain = refused(qm_bus::TlsSettings::default())?;
    assert!(qm_bus::connect(&plain).await.is_err(), "a client without TLS got in");
    let files = system.nats.tls().ok_or_else(|| anyhow::anyhow!("TLS off"))?;
    let anonymous_cert = refused(qm_bus::TlsSettings { ca: Some(files.ca.clone()), required: true, ..Default::default() })?;
    assert!(qm_bus::connect(&anonymous_cert).await.is_err(), "a client without a certificate got in");
    Ok(())
}
