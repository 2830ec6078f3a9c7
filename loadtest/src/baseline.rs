//! The bus's own limits, measured on the same server in the same run: a JetStream
//! persisted publish with `Nats-Msg-Id` dedup (what ingest does per request, and nothing
//! else), and a core NATS request/reply (what a sender's round trip costs at the least).
//! Our figures are reported as ratios of these, since absolute numbers vary by machine.

use crate::loops::Operation;
use async_nats::jetstream::{self, stream};
use futures::{FutureExt, StreamExt};
use std::sync::Arc;
use std::time::Duration;

/// Stream and subjects of the raw baseline, apart from Quartermaster's own.
const RAW_STREAM: &str = "QM_LOADTEST_RAW";
const ECHO_SUBJECT: &str = "qm.loadtest.echo";

/// Creates the raw stream with the settings of `QM_INPUT` (file storage, one replica,
/// the same duplicate window), so the only difference left is Quartermaster's work.
pub async fn raw_stream(js: &jetstream::Context) -> anyhow::Result<()> {
    let settings = qm_bus::StreamSettings::default();
    let config = stream::Config {
        name: RAW_STREAM.into(),
        subjects: vec!["qm.loadtest.raw.>".into()],
        num_replicas: settings.replicas,
        duplicate_window: settings.duplicate_window,
        storage: stream::StorageType::File,
        discard: stream::DiscardPolicy::New,
        ..Default::default()
    };
    js.create_or_update_stream(config).await?;
    Ok(())
}

/// Publishes `payload_bytes` of data with a unique message id and waits for the ack:
/// one persisted, deduplicated append, the way ingest appends.
pub fn raw_publish(js: jetstream::Context, payload_bytes: usize, fanout: u64) -> Operation {
    let payload = bytes::Bytes::from(vec![0xA5u8; payload_bytes]);
    let run = uuid::Uuid::now_v7();
    Arc::new(move |i, _| {
        let (js, payload) = (js.clone(), payload.clone());
        async move {
            // Spread over subjects as ingest's team/workload subjects are.
            let subject = format!("qm.loadtest.raw.t{}.w{}", i % 50, i % fanout.max(1));
            let message = jetstream::message::PublishMessage::build().payload(payload).message_id(format!("{run}-{i}"));
            let ack = js.send_publish(subject, message).await.map_err(|e| e.to_string())?;
            ack.await.map_err(|e| e.to_string())?;
            Ok(())
        }
        .boxed()
    })
}

/// Answers every request on the echo subject with its own payload, until dropped.
/// Returns once the server routes requests to it (see [`subscribed`]), so the first
/// request of a baseline cannot find no responder.
pub async fn echo_responder(url: &str, options: async_nats::ConnectOptions) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let client = options.name("qm-loadtest-echo").connect(url).await?;
    let mut requests = client.subscribe(ECHO_SUBJECT).await?;
    subscribed(&client).await?;
    Ok(tokio::spawn(async move {
        while let Some(message) = requests.next().await {
            if let Some(reply) = message.reply {
                let _ = client.publish(reply, message.payload).await;
            }
        }
    }))
}

/// Waits until the server has registered every subscription `client` made so far.
/// `flush` only writes the socket; the server handles one connection's operations in
/// order, so a message this client sends to itself coming back proves the earlier
/// subscriptions are in place for every other connection too.
pub async fn subscribed(client: &async_nats::Client) -> anyhow::Result<()> {
    let inbox = client.new_inbox();
    let mut probe = client.subscribe(inbox.clone()).await?;
    client.publish(inbox, bytes::Bytes::new()).await?;
    client.flush().await?;
    match tokio::time::timeout(Duration::from_secs(10), probe.next()).await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => anyhow::bail!("connection closed before its subscriptions were confirmed"),
        Err(_) => anyhow::bail!("the server did not confirm subscriptions within 10 s"),
    }
}

/// One core NATS request/reply round trip of `payload_bytes`.
pub fn request_reply(client: async_nats::Client, payload_bytes: usize) -> Operation {
    let payload = bytes::Bytes::from(vec![0x5Au8; payload_bytes]);
    Arc::new(move |_, _| {
        let (client, payload) = (client.clone(), payload.clone());
        async move {
            let request = async_nats::Request::new().payload(payload).timeout(Some(Duration::from_secs(10)));
            client.send_request(ECHO_SUBJECT.to_owned(), request).await.map_err(|e| e.to_string())?;
            Ok(())
        }
        .boxed()
    })
}
