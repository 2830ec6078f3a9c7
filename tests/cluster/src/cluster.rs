//! A 3-node NATS JetStream cluster in containers. The image is built in the test from a
//! `FROM scratch` Dockerfile and the static nats-server binary, so nothing is pulled.
//! Nodes find each other by container name on the test's own network; each client port is
//! published on 127.0.0.1 only. Containers and network are removed on drop.
//!
//! Auth is on, as deployed: every node runs with the accounts file of identities
//! generated for the test (`qm init`'s, copied into the container), the admin creates
//! the R3 streams, and each client connects as an identity. No route TLS (not done).

use anyhow::{bail, Context};
use qm_bus::{connect, Bus, ConnectSettings};
use qm_bus::provision::Provision;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Where each node finds the generated accounts file.
const ACCOUNTS_IN_CONTAINER: &str = "/qm/nats-accounts.conf";
use testcontainers::bollard::models::{HostConfig, PortBinding};
use testcontainers::core::{IntoContainerPort, WaitFor};
use testcontainers::runners::{AsyncBuilder, AsyncRunner};
use testcontainers::{ContainerAsync, GenericBuildableImage, GenericImage, ImageExt};

/// Members of the cluster: three, so R3 streams keep a quorum after one node is lost.
pub const NODES_COUNT: usize = 3;
/// The image built for the test (name, tag).
pub const IMAGE: (&str, &str) = ("qm-nats", "cluster-test");
const CLIENT_PORT: u16 = 4222;
const ROUTE_PORT: u16 = 6222;
const DOCKERFILE: &str = "FROM scratch\nCOPY nats-server /nats-server\nENTRYPOINT [\"/nats-server\"]\n";

/// Why Docker cannot be used here, or `Ok` when an engine answers a ping.
pub async fn docker_reachable() -> anyhow::Result<()> {
    let docker = testcontainers::bollard::Docker::connect_with_defaults()?;
    tokio::time::timeout(Duration::from_secs(5), docker.ping()).await.context("ping timed out")??;
    Ok(())
}

/// The static nats-server binary: `$NATS_SERVER_BIN` (set by `scripts/setup.sh`), else
/// `nats-server` on `PATH`, with links resolved (the image must get the real file).
pub fn nats_server_binary() -> anyhow::Result<PathBuf> {
    let named = qm_testkit::nats_server_binary();
    let found = if named.components().count() > 1 {
        named
    } else {
        let path = std::env::var_os("PATH").unwrap_or_default();
        std::env::split_paths(&path)
            .map(|dir| dir.join(&named))
            .find(|candidate| candidate.is_file())
            .context("nats-server not found: run `source scripts/setup.sh` or set NATS_SERVER_BIN")?
    };
    Ok(std::fs::canonicalize(&found)?)
}

/// One node: its server name (as JetStream reports leaders), container and loopback port.
struct Node {
    server_name: String,
    container: ContainerAsync<GenericImage>,
    client_port: u16,
    stopped: bool,
}

/// The running cluster; dropping it removes the containers, then the network.
pub struct NatsCluster {
    nodes: Vec<Node>,
}

impl NatsCluster {
    /// Builds the image from `nats_server` and starts the nodes on a fresh network, each
    /// with the accounts file `accounts` (auth on).
    pub async fn start(nats_server: &Path, accounts: &Path) -> anyhow::Result<Self> {
        let image = GenericBuildableImage::new(IMAGE.0, IMAGE.1)
            .with_dockerfile_string(DOCKERFILE)
            .with_file(nats_server, "nats-server")
            .build_image()
            .await
            .context("build the nats image")?;
        // Unique per run, so parallel or leftover runs never share names.
        let stamp = format!("{}-{}", std::process::id(), unix_nanos());
        let network = format!("qm-cluster-{stamp}");
        let container_name = |i: usize| format!("{network}-n{i}");
        let routes =
            (1..=NODES_COUNT).map(|i| format!("nats://{}:{ROUTE_PORT}", container_name(i))).collect::<Vec<_>>().join(",");
        let mut nodes = Vec::with_capacity(NODES_COUNT);
        for i in 1..=NODES_COUNT {
            let server_name = format!("n{i}");
            let args = [
                "-c", ACCOUNTS_IN_CONTAINER, "-js", "-sd", "/data", "-server_name", &server_name, "-cluster_name", "qm",
                "-cluster", &format!("nats://0.0.0.0:{ROUTE_PORT}"), "-routes", &routes,
                // Clients get only the loopback URLs the test gives them, never container IPs.
                "--no_advertise=true",
            ];
            let container = image
                .clone()
                .with_exposed_port(CLIENT_PORT.tcp())
                .with_wait_for(WaitFor::message_on_stderr("Server is ready"))
                .with_network(network.clone())
                .with_container_name(container_name(i))
                .with_copy_to(ACCOUNTS_IN_CONTAINER, accounts.to_path_buf())
                .with_cmd(args)
                .with_host_config_modifier(publish_on_loopback)
                .with_startup_timeout(Duration::from_secs(30))
                .start()
                .await
                .with_context(|| format!("start node {server_name}"))?;
            let client_port = container.get_host_port_ipv4(CLIENT_PORT.tcp()).await?;
            nodes.push(Node { server_name, container, client_port, stopped: false });
        }
        Ok(Self { nodes })
    }

    /// Every node's client URL, comma-separated: a client connects to any and fails over.
    pub fn url(&self) -> String {
        self.nodes.iter().map(|n| format!("nats://127.0.0.1:{}", n.client_port)).collect::<Vec<_>>().join(",")
    }

    /// Waits until JetStream has a meta leader and can place streams on `replicas` peers,
    /// by provisioning as the admin (`admin_creds`), as `qm creds apply
    /// --stream-replicas` does: streams, buckets and the actuator's consumer, with the
    /// settings the services check for.
    pub async fn wait_for_jetstream(&self, replicas: usize, admin_creds: &Path, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        let settings = ConnectSettings {
            url: self.url(),
            name: "qm-cluster-test-admin".into(),
            credentials: Some(admin_creds.to_path_buf()),
            start_timeout: timeout,
            ..Default::default()
        };
        let bus = connect(&settings).await?;
        let provision = Provision::replicated(replicas);
        loop {
            // Fails until JetStream has a meta leader and enough peers for the replicas.
            match qm_bus::provision::provision(&bus, &provision).await {
                Ok(()) => return Ok(()),
                Err(e) if Instant::now() >= deadline => bail!("cluster not ready within {timeout:?}: {e:#}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
            }
        }
    }

    /// Kills one node's server at once (SIGKILL, as a crash or a lost machine would).
    pub async fn kill_node(&mut self, server_name: &str) -> anyhow::Result<()> {
        let node = self.nodes.iter_mut().find(|n| n.server_name == server_name).context("no such node")?;
        node.container.stop_with_timeout(Some(0)).await?;
        node.stopped = true;
        Ok(())
    }

    /// Names of the nodes still running.
    pub fn running(&self) -> Vec<&str> {
        self.nodes.iter().filter(|n| !n.stopped).map(|n| n.server_name.as_str()).collect()
    }
}

/// Publishes the client port on 127.0.0.1 only (testcontainers would publish it on every
/// interface); Docker picks a free host port.
fn publish_on_loopback(host_config: &mut HostConfig) {
    let binding = PortBinding { host_ip: Some("127.0.0.1".into()), host_port: Some(String::new()) };
    host_config.publish_all_ports = Some(false);
    host_config.port_bindings = Some(HashMap::from([(format!("{CLIENT_PORT}/tcp"), Some(vec![binding]))]));
}

fn unix_nanos() -> u32 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0)
}

/// The server that leads `stream` now, as JetStream reports it.
pub async fn stream_leader(bus: &Bus, stream: &str) -> anyhow::Result<Option<String>> {
    Ok(qm_bus::streams::leader(bus, stream).await?)
}
