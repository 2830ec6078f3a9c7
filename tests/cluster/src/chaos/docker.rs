//! The deployment under test, driven through the docker CLI (the commands an operator
//! would type, so every fault is one visible `docker` call): three nats-server nodes
//! (`qm-nats:local`) and ingest, two policy instances and the actuator (`qm:local`),
//! all on one network, each node's client port published on loopback for the driver
//! and the `qm` CLI. Every name starts with `qm-chaos-<tag>-`; dropping the deployment
//! removes them all (scripts/chaos.sh also removes leftovers on exit).
//!
//! Node n3 keeps its store on a size-limited tmpfs, so its disk can really be filled;
//! JetStream there is told it has far more room than that, so the writes, not the
//! server's own accounting, are what fail. A tmpfs is emptied when its container stops:
//! n3 comes back from any stop with an empty store and catches up from its peers.

use anyhow::{bail, Context};
use std::path::PathBuf;
use std::process::Command;

/// The nats image (scripts/build-images.sh).
pub const NATS_IMAGE: &str = "qm-nats:local";
/// The node whose store is on the small tmpfs (the disk-full fault's target).
pub const SMALL_DISK_NODE: &str = "n3";
/// Server tag of the small-disk node: the filler stream is placed by it.
pub const SMALL_DISK_TAG: &str = "qm-chaos:small-disk";
/// Size of the small node's store.
pub const SMALL_DISK_MB: u64 = 64;
/// The nodes.
pub const NODES: [&str; 3] = ["n1", "n2", "n3"];
/// A service: container suffix, binary, extra environment.
pub type Service = (&'static str, &'static str, &'static [(&'static str, &'static str)]);
/// The services.
pub const SERVICES: [Service; 4] = [
    ("ingest", "/bin/qm-ingest", &[]),
    ("policy-a", "/bin/qm-policy", &[("QM_INSTANCE", "policy-a")]),
    ("policy-b", "/bin/qm-policy", &[("QM_INSTANCE", "policy-b")]),
    ("actuator", "/bin/qm-actuator", &[("QM_BACKEND", "sim")]),
];

/// Runs `docker args...`; its stdout, or an error with its stderr.
pub fn docker(args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("docker").args(args).output().context("run docker")?;
    if !out.status.success() {
        bail!("docker {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The containers, network and volumes of one run.
pub struct Deployment {
    prefix: String,
    /// The services' image: `qm:local` from scripts/build-images.sh, or the copy of it
    /// chaos.sh tags for the run (another build may retag `qm:local` meanwhile).
    qm_image: String,
    /// Loopback client port of node i is `port_base + i` (fixed, so a restarted node
    /// keeps its address).
    port_base: u16,
    scratch: PathBuf,
}

impl Deployment {
    /// Names everything `qm-chaos-<tag>-...`; nothing is started yet.
    pub fn new(tag: &str, port_base: u16, qm_image: &str) -> anyhow::Result<Self> {
        let prefix = format!("qm-chaos-{tag}");
        let scratch = std::env::temp_dir().join(&prefix);
        std::fs::create_dir_all(&scratch)?;
        Ok(Self { prefix, qm_image: qm_image.to_owned(), port_base, scratch })
    }

    /// The container of node or service `name` (`n1`, `policy-a`, ...).
    pub fn container(&self, name: &str) -> String {
        format!("{}-{name}", self.prefix)
    }

    fn network(&self) -> String {
        format!("{}-net", self.prefix)
    }

    /// The client URLs of all nodes on loopback, for the driver and the `qm` CLI.
    pub fn url(&self) -> String {
        (1..=NODES.len()).map(|i| format!("nats://127.0.0.1:{}", self.port_base + i as u16)).collect::<Vec<_>>().join(",")
    }

    /// Starts the network and the three nodes.
    pub fn start_nodes(&self) -> anyhow::Result<()> {
        let network = self.network();
        docker(&["network", "create", &network])?;
        let conf = self.scratch.join("small-disk.conf");
        // far more than the tmpfs holds: the disk, not JetStream's own limit, runs out.
        std::fs::write(&conf, format!("jetstream {{ store_dir: \"/data\", max_file_store: 4G }}\nserver_tags: [\"{SMALL_DISK_TAG}\"]\n"))?;
        let routes = NODES.iter().map(|n| format!("nats://{}:6222", self.container(n))).collect::<Vec<_>>().join(",");
        for (i, node) in NODES.iter().enumerate() {
            let (name, port) = (self.container(node), format!("127.0.0.1:{}:4222", self.port_base + i as u16 + 1));
            let mut args = vec!["run", "-d", "--name", &name, "--network", &network, "-p", &port];
            let (volume, tmpfs, conf_mount);
            if *node == SMALL_DISK_NODE {
                tmpfs = format!("/data:size={SMALL_DISK_MB}m");
                conf_mount = format!("{}:/conf/small-disk.conf:ro", conf.display());
                args.extend(["--tmpfs", &tmpfs, "-v", &conf_mount, NATS_IMAGE, "-c", "/conf/small-disk.conf"]);
            } else {
                volume = format!("{name}:/data");
                args.extend(["-v", &volume, NATS_IMAGE, "-js", "-sd", "/data"]);
            }
            args.extend(["-server_name", node, "-cluster_name", "qm", "-cluster", "nats://0.0.0.0:6222", "-routes", &routes]);
            args.push("--no_advertise=true");
            docker(&args)?;
        }
        Ok(())
    }

    /// Starts the services (the streams must exist: see `wait_for_jetstream`). They run
    /// with `--restart on-failure`, as under `qm up` or compose: a service that exits on
    /// its own is restarted; one killed by a fault is restarted by the fault.
    pub fn start_services(&self, replicas: usize) -> anyhow::Result<()> {
        let url = NODES.iter().map(|n| format!("nats://{}:4222", self.container(n))).collect::<Vec<_>>().join(",");
        for (service, binary, env) in SERVICES {
            let name = self.container(service);
            let mut args: Vec<String> = ["run", "-d", "--restart", "on-failure", "--name", &name, "--network", &self.network()]
                .map(String::from)
                .to_vec();
            let mut env_all = vec![("QM_NATS_URL".to_owned(), url.clone()), ("QM_STREAM_REPLICAS".to_owned(), replicas.to_string())];
            env_all.extend(env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
            for (k, v) in env_all {
                args.extend(["-e".to_owned(), format!("{k}={v}")]);
            }
            args.extend(["--entrypoint".to_owned(), binary.to_owned(), self.qm_image.clone()]);
            docker(&args.iter().map(String::as_str).collect::<Vec<_>>())?;
        }
        Ok(())
    }

    /// Every container of the run (nodes, then services).
    pub fn all(&self) -> Vec<String> {
        NODES.iter().chain(SERVICES.iter().map(|(s, _, _)| s)).map(|n| self.container(n)).collect()
    }

    /// The last `lines` lines of a container's log (stdout and stderr).
    pub fn logs(&self, name: &str, lines: usize) -> String {
        let out = Command::new("docker").args(["logs", "--tail", &lines.to_string(), &self.container(name)]).output();
        out.map(|o| format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))).unwrap_or_default()
    }

    /// Cuts `name` off the network (a partition: the process keeps running).
    pub fn disconnect(&self, name: &str) -> anyhow::Result<()> {
        docker(&["network", "disconnect", &self.network(), &self.container(name)]).map(drop)
    }

    /// Undoes [`Deployment::disconnect`].
    pub fn connect(&self, name: &str) -> anyhow::Result<()> {
        docker(&["network", "connect", &self.network(), &self.container(name)]).map(drop)
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        let mut args = vec!["rm".to_owned(), "-f".to_owned(), "-v".to_owned()];
        args.extend(self.all());
        let _ = Command::new("docker").args(&args).output();
        let _ = Command::new("docker").args(["network", "rm", &self.network()]).output();
        let volumes: Vec<String> = NODES.iter().filter(|n| **n != SMALL_DISK_NODE).map(|n| self.container(n)).collect();
        let _ = Command::new("docker").arg("volume").arg("rm").args(&volumes).output();
        let _ = std::fs::remove_dir_all(&self.scratch);
    }
}
