//! Given a small fleet folded by the real core, then the view model, the key handling
//! and the screens ratatui draws (read back from its test backend) say what is true.

use super::detail::{detail, Focus};
use super::model::{FleetRow, Recent, Standing, Top, RECENT_MAX};
use super::render::{buffer_text, draw};
use super::ui::{Key, Panel, Ui};
use qm_core::fixtures::{pool, spec, Given};
use qm_model::{decision_envelope, Decision, InputEvent, PolicyConfig, RoundCause, Uuid};
use ratatui::{backend::TestBackend, Terminal};

/// An H100 and an A100 pool; research (guarantee 12) wants 16 H100 and gets the 8 there
/// are, using 2 of them; prod runs 4 chips of serving on A100.
fn fleet() -> (Given, Recent) {
    let mut g = Given::new(PolicyConfig::default())
        .with_pools(&[pool("use-h100", "us-east", "h100", 8), pool("euw-a100", "eu-west", "a100", 16)])
        .with_teams(&[("research", 12.0), ("prod", 0.0)]);
    let mut recent = Recent::default();
    let d = g.demand(&spec("train", "research", &[("h100", 1.0)]), 16);
    record(&g, &mut recent, &d);
    g.ack(d);
    let d = g.demand(&spec("serve", "prod", &[("a100", 0.5)]), 4);
    record(&g, &mut recent, &d);
    g.ack(d);
    g.input(InputEvent::UsageReported { workload: "train".into(), chips_busy: 2.0, window_s: 10 });
    (g, recent)
}

/// [`fleet`] and the view model one `qm top` refresh builds from it.
fn fleet_top() -> (Given, Recent, Top) {
    let (g, recent) = fleet();
    let top = Top::build(&g.engine, &recent);
    (g, recent, top)
}

fn record(g: &Given, recent: &mut Recent, decisions: &[Decision]) {
    let cause = RoundCause { input_seq: g.seq, cause_id: Uuid::nil(), time_ms: g.now_ms };
    for (i, d) in decisions.iter().enumerate() {
        recent.push_decision(decision_envelope(cause, i as u32, "v1", false, d.clone()));
    }
}

fn screen(top: &Top, ui: &Ui, g: &Given, recent: &Recent) -> String {
    let open = ui.focus().map(|(f, _)| detail(&g.engine, recent, f));
    let mut terminal = Terminal::new(TestBackend::new(140, 32)).expect("test backend");
    terminal.draw(|frame| draw(frame, top, ui, open.as_ref())).expect("draw");
    buffer_text(terminal.backend().buffer())
}

#[test]
fn fleet_rows_are_types_then_their_pools_with_chips_summed_and_busy_split() {
    let (.., top) = fleet_top();
    let names: Vec<String> = top
        .fleet
        .iter()
        .map(|r| match r {
            FleetRow::Type { accelerator, pools, .. } => format!("{accelerator}:{pools}"),
            FleetRow::Pool { id, .. } => id.to_string(),
        })
        .collect();
    assert_eq!(names, ["a100:1", "euw-a100", "h100:1", "use-h100"]);
    let FleetRow::Type { chips: h100, .. } = &top.fleet[2] else { panic!("a type row") };
    assert_eq!((h100.healthy, h100.granted, h100.applied, h100.free()), (8, 8, 8, 0));
    assert!((h100.busy - 2.0).abs() < 1e-9 && (h100.idle() - 6.0).abs() < 1e-9, "{h100:?}");
    let FleetRow::Pool { chips: a100, .. } = &top.fleet[1] else { panic!("a pool row") };
    assert_eq!((a100.granted, a100.applied, a100.free(), a100.busy), (4, 4, 12, 0.0));
}

#[test]
fn teams_stand_against_guarantee_and_fair_share_and_pending_says_why() {
    let (g, _, top) = fleet_top();
    let research = top.teams.iter().find(|t| t.id.as_str() == "research").expect("research");
    assert_eq!(research.standing, Standing::BelowGuarantee, "{research:?}");
    assert_eq!((research.chips.granted, research.chips.applied), (8, 8));
    assert_eq!(research.held, 8.0);
    for t in &top.teams {
        if t.standing == Standing::Borrowing {
            assert!(t.held > t.fair_share, "{t:?}");
        }
    }
    assert_eq!(top.pending.len(), 1);
    let p = &top.pending[0];
    assert_eq!((p.workload.as_str(), p.team.as_str(), p.chips), ("train", "research", 8));
    let status = g.engine.status();
    let reason = status.workloads.iter().find(|w| w.id.as_str() == "train").and_then(|w| w.pending_reason.clone()).expect("a reason");
    assert_eq!((p.rule.as_ref(), p.message.as_str()), (Some(&reason.rule), reason.message.as_str()));
    assert_eq!(top.decisions.first().map(|e| e.workload.as_str()), Some("serve"), "newest first");
}

#[test]
fn the_main_screen_shows_fleet_teams_pending_and_decisions() {
    let (g, recent, top) = fleet_top();
    let text = screen(&top, &Ui::default(), &g, &recent);
    let line = |needle: &str| text.lines().find(|l| l.contains(needle)).unwrap_or_else(|| panic!("no {needle:?} in\n{text}")).to_owned();
    assert!(line("qm top").contains(&format!("log position {}", g.seq)), "{text}");
    let h100 = line("h100 (1)");
    assert!(h100.split_whitespace().collect::<Vec<_>>().windows(7).any(|w| w == ["all", "8", "8", "8", "2.0", "6.0", "0"]), "{h100}");
    assert!(line("research").contains("below guarantee"), "{text}");
    let pending = line(" train ");
    assert!(pending.contains("research") && pending.contains(&top.pending[0].rule.as_ref().expect("rule").to_string()), "{pending}");
    assert!(text.contains("pending: 1 workloads, 8 chips"), "{text}");
    assert!(line("grant: hold 8 chips in use-h100").contains("train"), "{text}");
    assert!(line("▶").contains("a100 (1)"), "the fleet panel's first row is selected: {text}");
}

#[test]
fn keys_drill_from_a_team_to_its_workload_and_back() {
    let (g, recent, top) = fleet_top();
    let mut ui = Ui::default();
    ui.on_key(Key::Tab, &top, None);
    assert_eq!(ui.panel(), Panel::Teams);
    let research_row = top.teams.iter().position(|t| t.id.as_str() == "research").expect("listed");
    for _ in 0..research_row {
        ui.on_key(Key::Down, &top, None);
    }
    ui.on_key(Key::Enter, &top, None);
    assert_eq!(ui.focus().map(|(f, _)| f.clone()), Some(Focus::Team("research".into())));
    let team = detail(&g.engine, &recent, &Focus::Team("research".into()));
    let text = screen(&top, &ui, &g, &recent);
    assert!(text.contains("team research") && text.contains("fair share of"), "{text}");
    assert!(text.lines().any(|l| l.contains("train") && l.contains("pending 8")), "{text}");
    ui.on_key(Key::Enter, &top, Some(&team));
    let Some((Focus::Workload(w), _)) = ui.focus() else { panic!("a workload is open") };
    assert_eq!(w.as_str(), "train");
    let text = screen(&top, &ui, &g, &recent);
    assert!(text.contains("train (team research) wants 16 chips and holds 8"), "explain's words: {text}");
    assert!(text.contains("grant: hold 8 chips in use-h100"), "the why chain: {text}");
    ui.on_key(Key::Back, &top, None);
    ui.on_key(Key::Back, &top, None);
    assert!(ui.focus().is_none());
    ui.on_key(Key::Quit, &top, None);
    assert!(ui.quit);
}

#[test]
fn a_type_lists_its_pools_and_a_pool_its_holders() {
    let (g, recent, top) = fleet_top();
    let mut ui = Ui::default();
    ui.on_key(Key::Enter, &top, None);
    let a100 = detail(&g.engine, &recent, &Focus::Type("a100".into()));
    assert_eq!(a100.items.iter().map(|(_, f)| f.clone()).collect::<Vec<_>>(), [Focus::Pool("euw-a100".into())]);
    ui.on_key(Key::Enter, &top, Some(&a100));
    let pool = detail(&g.engine, &recent, &Focus::Pool("euw-a100".into()));
    assert_eq!(pool.items.len(), 1);
    assert!(pool.items[0].0.contains("serve") && pool.items[0].0.contains("decided    4"), "{:?}", pool.items);
    let text = screen(&top, &ui, &g, &recent);
    assert!(text.contains("a100 euw-a100 in eu-west: 16 chips, 16 healthy"), "{text}");
}

#[test]
fn selection_stays_in_its_list() {
    let (.., top) = fleet_top();
    let mut ui = Ui::default();
    for _ in 0..10 {
        ui.on_key(Key::Down, &top, None);
    }
    assert_eq!(ui.row(Panel::Fleet), top.fleet.len() - 1);
    ui.on_key(Key::BackTab, &top, None);
    assert_eq!(ui.panel(), Panel::Pending);
    ui.on_key(Key::Up, &top, None);
    assert_eq!(ui.row(Panel::Pending), 0);
}

#[test]
fn recent_keeps_the_newest_within_its_bound() {
    let (g, _) = fleet();
    let mut recent = Recent::default();
    let d = Decision {
        workload: "w".into(),
        team: "t".into(),
        action: qm_model::Action::Pending { chips_wanted: 1 },
        reason: qm_model::Reason::new(qm_model::RuleId::NoCapacity, "x"),
    };
    for seq in 1..=(RECENT_MAX as u64 + 5) {
        let cause = RoundCause { input_seq: seq, cause_id: Uuid::nil(), time_ms: g.now_ms };
        recent.push_decision(decision_envelope(cause, 0, "v1", false, d.clone()));
    }
    let all = recent.newest(&Default::default(), usize::MAX);
    assert_eq!(all.len(), RECENT_MAX);
    assert_eq!((all[0].input_seq, all[RECENT_MAX - 1].input_seq), (Some(RECENT_MAX as u64 + 5), Some(6)));
}
