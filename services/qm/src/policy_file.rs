//! Policy files as people write them: `qm policy check` points at the line and column of
//! each problem (TOML syntax, a misspelt knob, a wrong type, a value out of range), and
//! `qm policy diff` replays one history under two policies, side by side per team.

use crate::audit::{halt_note, summarized, Summarized};
use qm_ledger::summary;
use qm_model::{LogRecord, PolicyConfig};
use std::ops::Range;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

/// One problem in a policy file, at a 1-based line and column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub line: usize,
    pub column: usize,
    pub message: String,
    /// The offending line of the file, for showing under the message.
    pub source_line: String,
}

impl Problem {
    fn at(text: &str, offset: usize, message: impl Into<String>) -> Self {
        let offset = offset.min(text.len());
        let before = &text[..offset];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let line = before.matches('\n').count() + 1;
        let column = text[line_start..offset].chars().count() + 1;
        let source_line = text[line_start..].lines().next().unwrap_or("").to_owned();
        Self { line, column, message: message.into(), source_line }
    }

    /// `FILE:LINE:COLUMN: message`, the line, and a caret under the column.
    pub fn render(&self, path: &str) -> String {
        let caret = " ".repeat(self.column.saturating_sub(1));
        format!("{path}:{}:{}: {}\n  {}\n  {caret}^\n", self.line, self.column, self.message, self.source_line)
    }
}

/// Every top-level knob a policy file may set: a policy with every optional knob set,
/// serialized, so the list follows `PolicyConfig` as it grows.
fn known_knobs() -> Vec<String> {
    let mut sample = PolicyConfig { round_batch_ms: 1, upgrade_moves: true, wait_for_faster_type: false, ..PolicyConfig::default() };
    sample.team_guarantees_by_type.insert("t".into(), [("a".into(), 1.0)].into_iter().collect());
    toml::Table::try_from(&sample).map(|t| t.keys().cloned().collect()).unwrap_or_default()
}

/// Parses and checks a policy file's text: the policy, or the first problem with its
/// position.
pub fn check(text: &str) -> Result<PolicyConfig, Problem> {
    let toml_problem = |e: &toml::de::Error| Problem::at(text, e.span().map_or(0, |s| s.start), e.message().trim_end().to_owned());
    let table = DeTable::parse(text).map_err(|e| toml_problem(&e))?;
    let known = known_knobs();
    for key in table.get_ref().keys() {
        if !known.iter().any(|k| k == key.get_ref().as_ref()) {
            let message = format!("unknown policy knob `{}` (knobs are listed in docs/POLICY.md)", key.get_ref());
            return Err(Problem::at(text, key.span().start, message));
        }
    }
    let policy: PolicyConfig = toml::from_str(text).map_err(|e| toml_problem(&e))?;
    if let Err(e) = qm_core::validate_policy(&policy) {
        let knob = match &e {
            qm_core::PolicyError::OutOfRange { knob, .. } => *knob,
            qm_core::PolicyError::EmptyVersion => "version",
        };
        let at = value_span(table.get_ref(), knob).map_or(0, |s| s.start);
        return Err(Problem::at(text, at, e.to_string()));
    }
    Ok(policy)
}

fn value_span(table: &DeTable<'_>, knob: &str) -> Option<Range<usize>> {
    table.iter().find(|(k, _)| k.get_ref().as_ref() == knob).map(|(_, v): (_, &Spanned<DeValue<'_>>)| v.span())
}

/// Reads and checks a policy file; the error names the file, line and column.
pub fn load(path: &std::path::Path) -> anyhow::Result<PolicyConfig> {
    let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("read {}: {e}", path.display()))?;
    check(&text).map_err(|p| anyhow::anyhow!("invalid policy file\n{}", p.render(&path.display().to_string())))
}

/// Two policies over one history, each replayed with every decision taking effect at
/// once (as `qm replay --policy` does), summarized for the table and `--json`.
/// A poison entry halts a side (typed, in its `halt`) instead of crashing the command.
pub fn diff(log: &[LogRecord], a: &PolicyConfig, b: &PolicyConfig, fault: Option<qm_core::FoldFault>) -> (Summarized, Summarized) {
    (summarized(log, Some(a), fault.clone()), summarized(log, Some(b), fault))
}

/// A log kept in a file: frames of MessagePack log records, as the golden replay
/// fixture (`shared/ledger/tests/fixtures/golden_replay.log.frames`) keeps one.
pub fn read_log_file(path: &std::path::Path) -> anyhow::Result<Vec<LogRecord>> {
    let bytes = std::fs::read(path).map_err(|e| anyhow::anyhow!("read {}: {e}", path.display()))?;
    let frames = qm_ledger::frames::read_frames(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    frames
        .iter()
        .enumerate()
        .map(|(i, f)| qm_model::decode_value::<LogRecord>(f).map_err(|e| anyhow::anyhow!("{}: record {}: {e}", path.display(), i + 1)))
        .collect()
}

/// `qm policy`: publish a file, or check or compare files.
#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct PolicyArgs {
    #[command(subcommand)]
    action: Option<PolicyAction>,
    /// Policy file (TOML) to publish; it takes effect for every later decision.
    file: Option<std::path::PathBuf>,
}

#[derive(clap::Subcommand)]
enum PolicyAction {
    /// Publish a policy file (the same as `qm policy FILE`).
    Publish { file: std::path::PathBuf },
    /// Check a policy file without publishing it; a problem is printed as FILE:LINE:COLUMN.
    Check { file: std::path::PathBuf },
    /// Replay the history under policy A and policy B: totals and a per-team table.
    Diff {
        a: std::path::PathBuf,
        b: std::path::PathBuf,
        /// A log in a file (frames of log records, like the golden replay fixture)
        /// instead of the live `QM_INPUT`.
        #[arg(long)]
        log: Option<std::path::PathBuf>,
        #[arg(long)]
        json: bool,
    },
}

/// Runs `qm policy`. Returns whether it succeeded (a check that found a problem did not).
pub async fn run(
    args: PolicyArgs,
    settings: &qm_bus::ConnectSettings,
    retry: &crate::send::Retry,
    fault: Option<qm_core::FoldFault>,
) -> anyhow::Result<bool> {
    let action = match (args.action, args.file) {
        (Some(action), _) => action,
        (None, Some(file)) => PolicyAction::Publish { file },
        (None, None) => anyhow::bail!("qm policy needs a file to publish, or `check FILE` / `diff A B` (see qm policy --help)"),
    };
    match action {
        PolicyAction::Publish { file } => {
            let policy = load(&file)?;
            let bus = qm_bus::connect(settings).await?;
            let event = qm_model::InputEvent::PolicyPublished(policy);
            let (id, seq) = crate::send::send_accepted(&bus, crate::send::subject_for(&event), &event, None, retry).await?;
            println!("policy published as {id} at input sequence {seq}");
            Ok(true)
        }
        PolicyAction::Check { file } => {
            let text = std::fs::read_to_string(&file).map_err(|e| anyhow::anyhow!("read {}: {e}", file.display()))?;
            match check(&text) {
                Ok(policy) => {
                    println!("{}: OK (version {})", file.display(), policy.version);
                    Ok(true)
                }
                Err(problem) => {
                    eprint!("{}", problem.render(&file.display().to_string()));
                    Ok(false)
                }
            }
        }
        PolicyAction::Diff { a, b, log, json } => {
            let (pa, pb) = (load(&a)?, load(&b)?);
            let log = match log {
                Some(path) => read_log_file(&path)?,
                None => crate::audit::read_log(&qm_bus::connect(settings).await?).await?,
            };
            let (left, right) = diff(&log, &pa, &pb, fault);
            if json {
                println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "a": { "version": pa.version, "summary": left }, "b": { "version": pb.version, "summary": right } }))?);
            } else {
                println!("{} log entries replayed under both policies (every decision taken to apply at once)\n", log.len());
                print!("{}", summary::side_by_side(&pa.version, &left.summary, &pb.version, &right.summary));
                print!("{}{}", halt_note(&pa.version, &left), halt_note(&pb.version, &right));
            }
            Ok(true)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(text: &str) -> Problem {
        check(text).expect_err("a problem")
    }

    #[test]
    fn each_kind_of_problem_is_placed_on_its_line_and_column() {
        let cases: &[(&str, usize, usize, &str)] = &[
            ("version = \"a\"\nidle_window_s = = 3\n", 2, 17, "extra `=`"),
            ("version = \"a\"\n\n  idle_treshold_fraction = 0.5\n", 3, 3, "unknown policy knob `idle_treshold_fraction`"),
            ("version = \"a\"\nidle_window_s = \"long\"\n", 2, 17, "invalid type"),
            ("version = \"a\"\ncost_weight = 1.5\n", 2, 15, "`cost_weight` = 1.5 is out of range"),
            ("version = \"  \"\n", 1, 11, "version label is empty"),
            ("[team_guarantees_by_type.ml]\nh100 = -1.0\n", 1, 2, "`team_guarantees_by_type` = -1 is out of range"),
        ];
        for (text, line, column, message) in cases {
            let p = problem(text);
            assert_eq!((p.line, p.column), (*line, *column), "{text:?}: {p:?}");
            assert!(p.message.contains(message), "{text:?}: {}", p.message);
        }
    }

    #[test]
    fn the_examples_check_clean_and_optional_knobs_are_known() {
        for text in [include_str!("../../../examples/policy.toml"), include_str!("../../../examples/demo-policy.toml")] {
            check(text).expect("a valid example");
        }
        let policy = check("round_batch_ms = 0\n[team_guarantees_by_type.ml]\nh100 = 8\n").expect("optional knobs, even at their defaults");
        assert_eq!(policy.team_guarantees_by_type[&"ml".into()][&"h100".into()], 8.0);
    }

    #[test]
    fn a_problem_renders_with_file_line_and_caret() {
        let p = problem("version = \"a\"\ncost_weight = 1.5\n");
        assert_eq!(
            p.render("p.toml"),
            "p.toml:2:15: policy knob `cost_weight` = 1.5 is out of range: a finite number in [0, 1]\n  cost_weight = 1.5\n                ^\n"
        );
    }

    #[test]
    fn diffing_the_golden_history_shows_each_team_and_a_policy_against_itself_is_equal() {
        let log = read_log_file(std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/ledger/tests/fixtures/golden_replay.log.frames")))
            .expect("the golden log");
        let a = PolicyConfig::default();
        let b = PolicyConfig { version: "stingy".into(), idle_threshold_fraction: 0.9, idle_window_s: 60, ..PolicyConfig::default() };
        let (left, same) = diff(&log, &a, &a, None);
        assert_eq!(left, same, "a policy against itself");
        assert!(left.halt.is_none());
        let (left, right) = diff(&log, &a, &b, None);
        let (left, right) = (left.summary, right.summary);
        assert!(!left.teams.is_empty() && left.teams.keys().eq(right.teams.keys()));
        assert_ne!(left, right, "a stricter idle rule changes what happens");
        let table = summary::side_by_side(&a.version, &left, &b.version, &right);
        for team in left.teams.keys() {
            assert!(table.lines().any(|l| l.starts_with(team.as_str())), "{table}");
        }
    }
}
