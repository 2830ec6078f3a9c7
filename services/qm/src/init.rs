//! `qm init` and `qm creds`: generate the identities of an installation (nkeys, one
//! credentials file each, the nats-server accounts file) and, as the admin, create what
//! the services may not create themselves: streams, buckets, the actuator's consumer.

use anyhow::Context;
use qm_bus::provision::Provision;
use qm_bus::Bus;
use qm_runtime::service::NatsArgs;
use qm_trust::registry::TrustDir;
use qm_trust::Names;
use std::path::PathBuf;
use std::time::Duration;

/// Identity commands.
#[derive(clap::Subcommand)]
pub enum SecurityCommand {
    /// Generate keys, credentials and the nats-server accounts file into a directory;
    /// with --apply, also create the streams, buckets and consumers as the admin.
    Init(InitArgs),
    /// Add or rotate identities of an init directory.
    #[command(subcommand)]
    Creds(CredsCommand),
}

#[derive(clap::Args)]
pub struct InitArgs {
    /// Directory to write (must not hold a registry yet), e.g. `.qm-trust`.
    pub dir: PathBuf,
    /// A team to create credentials for (repeatable).
    #[arg(long = "team")]
    pub teams: Vec<String>,
    /// Then connect as the admin and create streams, buckets and the actuator's consumer.
    #[arg(long)]
    pub apply: bool,
    /// Also generate a CA, the server's and a client certificate (`DIR/tls`) and
    /// `DIR/nats-server.conf` (the accounts file plus TLS, clients verified).
    #[arg(long)]
    pub tls: bool,
    /// A host name or IP address the server certificate is for, besides 127.0.0.1 and
    /// localhost (repeatable), e.g. `nats` for the compose stack.
    #[arg(long = "tls-host")]
    pub tls_hosts: Vec<String>,
    #[command(flatten)]
    pub provision: ProvisionArgs,
}

/// What `--apply` creates, and how.
#[derive(clap::Args, Clone, Debug)]
pub struct ProvisionArgs {
    /// Copies of each stream and bucket: 1 on one server, 3 on a cluster.
    #[arg(long, env = "QM_STREAM_REPLICAS", default_value_t = 1)]
    pub stream_replicas: usize,
    /// The writer lease's time to live (ms): the lease bucket's max age, in force for
    /// every policy instance.
    #[arg(long, env = "QM_LEASE_TTL_MS", default_value_t = 3000)]
    pub lease_ttl_ms: u64,
    /// Bytes of dead letters kept (`QM_DEAD`); past it the oldest are dropped.
    #[arg(long, default_value_t = qm_bus::StreamSettings::default().dead_bytes_max)]
    pub dead_bytes_max: i64,
    /// Dead letters older than this many seconds are dropped.
    #[arg(long, default_value_t = qm_bus::StreamSettings::default().dead_age_max.as_secs())]
    pub dead_age_max_s: u64,
}

impl Default for ProvisionArgs {
    fn default() -> Self {
        let streams = qm_bus::StreamSettings::default();
        Self { stream_replicas: 1, lease_ttl_ms: 3000, dead_bytes_max: streams.dead_bytes_max, dead_age_max_s: streams.dead_age_max.as_secs() }
    }
}

#[derive(clap::Subcommand)]
pub enum CredsCommand {
    /// Add a team's identity (`team-<team>`); reload nats-server afterwards.
    AddTeam { dir: PathBuf, team: String },
    /// Give an identity a new key; the old one stops authenticating at the next reload
    /// and stays trusted to verify what it signed.
    Rotate { dir: PathBuf, name: String },
    /// Issue the TLS certificates again (rotation) or for the first time: the CA is kept
    /// when its key is there; reload nats-server and restart clients afterwards.
    Tls {
        dir: PathBuf,
        /// A host name or IP address the server certificate is for (repeatable).
        #[arg(long = "host")]
        hosts: Vec<String>,
    },
    /// Create streams, buckets and the actuator's consumer as the admin (idempotent).
    Apply {
        dir: PathBuf,
        #[command(flatten)]
        provision: ProvisionArgs,
    },
}

/// Runs an identity command.
pub async fn run(command: SecurityCommand, nats: &NatsArgs) -> anyhow::Result<()> {
    let names = Names::default();
    match command {
        SecurityCommand::Init(args) => {
            let dir = TrustDir::init(&args.dir, &args.teams, &names)?;
            println!("wrote {} and {}", dir.registry_path().display(), dir.accounts_path().display());
            println!("credentials (secret) in {}", dir.creds_dir().display());
            if args.tls {
                let tls = dir.init_tls(&args.tls_hosts)?;
                println!("TLS: CA and certificates in {} (keys secret)", tls.root.display());
                println!("start the server with: nats-server -c {} -js", dir.server_config_path().display());
                println!("clients: QM_NATS_TLS_CA={} QM_NATS_TLS_CERT={} QM_NATS_TLS_KEY={} QM_NATS_TLS_REQUIRED=true", tls.ca().display(), tls.client_cert().display(), tls.client_key().display());
            } else {
                println!("start the server with: nats-server -c {} -js", dir.accounts_path().display());
            }
            if args.apply {
                apply_as_admin(&dir, nats, &args.provision).await?;
            }
            Ok(())
        }
        SecurityCommand::Creds(CredsCommand::AddTeam { dir, team }) => {
            let identity = TrustDir::new(&dir).add_team(&team, &names)?;
            println!("added {} ({}); reload nats-server to let it in: nats-server --signal reload", identity.name, identity.public_key);
            Ok(())
        }
        SecurityCommand::Creds(CredsCommand::Rotate { dir, name }) => {
            let identity = TrustDir::new(&dir).rotate(&name, &names)?;
            println!("rotated {}: new key {}; reload nats-server, then restart {name} with its new credentials", identity.name, identity.public_key);
            Ok(())
        }
        SecurityCommand::Creds(CredsCommand::Tls { dir, hosts }) => {
            let tls = TrustDir::new(&dir).init_tls(&hosts)?;
            println!("issued server and client certificates in {} (CA kept if it was there); reload nats-server (nats-server --signal reload), then restart clients", tls.root.display());
            Ok(())
        }
        SecurityCommand::Creds(CredsCommand::Apply { dir, provision }) => apply_as_admin(&TrustDir::new(dir), nats, &provision).await,
    }
}

async fn apply_as_admin(dir: &TrustDir, nats: &NatsArgs, provision: &ProvisionArgs) -> anyhow::Result<()> {
    let mut settings = nats.connect_settings("qm-init");
    settings.credentials = Some(dir.creds_path("admin"));
    let bus = qm_bus::connect(&settings).await.with_context(|| format!("connect to {} as admin", settings.url))?;
    apply(&bus, provision).await?;
    println!("created streams, buckets and the actuator's consumer");
    Ok(())
}

/// Creates (idempotently) everything the services need and may not create: the four
/// streams, the lease and snapshot buckets, and the actuator's durable consumer.
pub async fn apply(bus: &Bus, provision: &ProvisionArgs) -> anyhow::Result<()> {
    let mut settings = Provision::replicated(provision.stream_replicas);
    settings.lease.ttl = Duration::from_millis(provision.lease_ttl_ms.max(100));
    settings.streams.dead_bytes_max = provision.dead_bytes_max;
    settings.streams.dead_age_max = Duration::from_secs(provision.dead_age_max_s);
    settings.actuator_consumer = Names::default().actuator_consumer;
    Ok(qm_bus::provision::provision(bus, &settings).await?)
}
