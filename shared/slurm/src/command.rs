//! The Slurm commands the backend and the collector run, as argv. Every name in them
//! has passed [`crate::names::checked`] (or is a job id Slurm printed), and nothing goes
//! through a shell, so no input can change what a command does.

use crate::jobs::SQUEUE_FORMAT;

/// A Slurm client program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Program {
    Sacctmgr,
    Scontrol,
    Squeue,
    Scancel,
}

impl Program {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sacctmgr => "sacctmgr",
            Self::Scontrol => "scontrol",
            Self::Squeue => "squeue",
            Self::Scancel => "scancel",
        }
    }
}

/// One command: a program and its arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cmd {
    pub program: Program,
    pub args: Vec<String>,
}

impl std::fmt::Display for Cmd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.program.as_str(), self.args.join(" "))
    }
}

fn cmd<const N: usize>(program: Program, args: [&str; N]) -> Cmd {
    Cmd { program, args: args.iter().map(|a| (*a).to_owned()).collect() }
}

/// The QOS's name and stored `GrpTRES` (no line: no such QOS).
pub fn show_qos(qos: &str) -> Cmd {
    cmd(Program::Sacctmgr, ["--noheader", "--parsable2", "show", "qos", "where", &format!("name={qos}"), "format=name,grptres"])
}

/// Creates the QOS; the description names the workload and team for people and for
/// the usage collector (which needs the team of a workload that runs no job).
pub fn add_qos(qos: &str, workload: &str, team: &str) -> Cmd {
    let description = format!("description=Quartermaster workload {workload} team {team}");
    cmd(Program::Sacctmgr, ["--immediate", "add", "qos", qos, &description])
}

/// Every QOS as `name|description|grptres`: the collector's list of granted workloads.
pub fn all_qos() -> Cmd {
    cmd(Program::Sacctmgr, ["--noheader", "--parsable2", "show", "qos", "format=name,description,grptres"])
}

/// Sets the listed `GrpTRES` entries; sacctmgr keeps the ones not named.
pub fn set_grp_tres(qos: &str, entries: &str) -> Cmd {
    cmd(Program::Sacctmgr, ["--immediate", "modify", "qos", "where", &format!("name={qos}"), "set", &format!("GrpTRES={entries}")])
}

/// The account's associations as `user|qos-list`; the account's own row has no user.
pub fn show_account_qos(account: &str) -> Cmd {
    cmd(Program::Sacctmgr, ["--noheader", "--parsable2", "show", "assoc", "where", &format!("account={account}"), "format=user,qos"])
}

/// Lets the account (and its users, who inherit it) submit with the QOS.
pub fn allow_qos(account: &str, qos: &str) -> Cmd {
    cmd(Program::Sacctmgr, ["--immediate", "modify", "account", "where", &format!("name={account}"), "set", &format!("qos+={qos}")])
}

/// The QOS limits as slurmctld holds them now: what Slurm enforces, not what is stored.
pub fn enforced(qos: &str) -> Cmd {
    cmd(Program::Scontrol, ["show", "assoc_mgr", "flags=qos", &format!("qos={qos}")])
}

/// The workload's jobs in one partition, every state.
pub fn jobs(qos: &str, partition: &str) -> Cmd {
    cmd(Program::Squeue, ["--noheader", "--all", &format!("--qos={qos}"), &format!("--partition={partition}"), "--Format", SQUEUE_FORMAT])
}

/// Every running job: what the usage collector samples.
pub fn running_jobs() -> Cmd {
    cmd(Program::Squeue, ["--noheader", "--all", "--states=RUNNING", "--Format", SQUEUE_FORMAT])
}

/// Signals whole jobs (batch script and steps), as Slurm's GraceTime does on preemption.
pub fn signal(ids: &[u64], signal: &str) -> Cmd {
    let mut c = cmd(Program::Scancel, [&format!("--signal={signal}"), "--full"]);
    c.args.extend(ids.iter().map(u64::to_string));
    c
}

/// Puts a running job back in the queue; it waits there until the limit allows it.
pub fn requeue(id: u64) -> Cmd {
    cmd(Program::Scontrol, ["requeue", &id.to_string()])
}

pub fn cancel(ids: &[u64]) -> Cmd {
    let mut c = cmd(Program::Scancel, []);
    c.args.extend(ids.iter().map(u64::to_string));
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_argv_with_names_in_place() {
        assert_eq!(
            set_grp_tres("qm-w1", "gres/gpu:h100=2,gres/gpu=2").to_string(),
            "sacctmgr --immediate modify qos where name=qm-w1 set GrpTRES=gres/gpu:h100=2,gres/gpu=2"
        );
        assert_eq!(signal(&[7, 9], "TERM").args, vec!["--signal=TERM", "--full", "7", "9"]);
        assert_eq!(cancel(&[3]).args, vec!["3"]);
        assert_eq!(enforced("qm-w1").args.last().map(String::as_str), Some("qos=qm-w1"));
        assert_eq!(jobs("qm-w1", "h100").args[2], "--qos=qm-w1");
    }
}
