//! Reports: a markdown table per scenario, a summary across scenarios, and SVG plots of
//! utilization over time and per-team share (plotters, SVG backend only).

use crate::bound::Bound;
use crate::metrics::Metrics;
use crate::suite::ScenarioReport;
use plotters::prelude::*;
use std::fmt::Write as _;
use std::path::Path;

const HEADER: &str = "| allocator | util % | norm util % | rework ch | idle-reserved ch | unmet ch | stranded ch | give-back min | jobs done | JCT mean h | JCT p95 h | Jain | worst team | $/busy nh | preempt | moves | crit stranded |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";

fn row(name: &str, m: &Metrics) -> String {
    format!(
        "| {name} | {:.1} | {:.1} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {}/{} | {:.2} | {:.2} | {:.3} | {:.2} | {:.2} | {} | {} | {} |\n",
        m.utilization * 100.0,
        m.utilization_norm * 100.0,
        m.rework_chip_h,
        m.idle_reserved_chip_h,
        m.unmet_chip_h,
        m.stranded_chip_h,
        m.give_back_min,
        m.jobs_done,
        m.jobs_batch,
        m.jct_mean_h,
        m.jct_p95_h,
        m.jain,
        m.worst_team_share,
        m.cost_per_busy_nh,
        m.preemptions,
        m.moves,
        m.critical_stranded
    )
}

fn bound_row(b: &Option<Bound>) -> String {
    match b {
        Some(b) => format!(
            "| *optimum bound* ({}) | ≤ {:.1} | ≤ {:.1} | | | | | | | | | | | | | | |\n",
            b.method,
            b.utilization * 100.0,
            b.utilization_norm * 100.0
        ),
        None => String::new(),
    }
}

/// The table of one scenario, bound included.
pub fn table(r: &ScenarioReport) -> String {
    let mut s = String::from(HEADER);
    for res in &r.results {
        s.push_str(&row(&res.allocator, &res.metrics));
    }
    s.push_str(&bound_row(&r.bound));
    s
}

/// One scenario's report page.
pub fn scenario_markdown(r: &ScenarioReport) -> String {
    let w = &r.world;
    let mut s = format!("# Scenario `{}`\n\n{}\n\n", w.name, w.description.trim());
    let chips: u32 = w.pools.iter().map(|p| p.chips).sum();
    let _ = writeln!(
        s,
        "Seed {}; horizon {:.0} h; {} pools, {chips} chips; {} teams; {} jobs; tick {} s; actuation delay {} s.\n",
        w.seed,
        w.horizon_ms as f64 / 3.6e6,
        w.pools.len(),
        w.teams.len(),
        w.jobs.len(),
        w.tick_ms / 1000,
        w.actuation_delay_ms / 1000
    );
    s.push_str(&table(r));
    if !r.qm_rules.is_empty() {
        let rules: Vec<String> = r.qm_rules.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let _ = writeln!(s, "\nQuartermaster decisions by rule: {}.", rules.join(", "));
    }
    let _ = writeln!(s, "\n![utilization]({0}-util.svg)\n\n![team share]({0}-teams.svg)", w.name);
    s
}

/// The summary across scenarios.
pub fn summary_markdown(reports: &[ScenarioReport]) -> String {
    let mut s = String::from("| scenario | allocator | util % | norm util % | rework ch | idle-reserved ch | unmet ch | stranded ch | give-back min | jobs done | JCT mean h | JCT p95 h | Jain | worst team | $/busy nh | preempt | moves | crit stranded |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for r in reports {
        for res in &r.results {
            s.push_str(&format!("| {} {}", r.world.name, row(&res.allocator, &res.metrics)));
        }
        if let Some(b) = &r.bound {
            let (u, n) = (b.utilization * 100.0, b.utilization_norm * 100.0);
            let _ = writeln!(s, "| {} | *optimum bound* | ≤ {u:.1} | ≤ {n:.1} | | | | | | | | | | | | | | |", r.world.name);
        }
    }
    s
}

const COLORS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

/// Writes `<name>-util.svg` (utilization per allocator) and `<name>-teams.svg`
/// (per-team share of fleet compute, Quartermaster solid vs reservations thin).
pub fn write_plots(r: &ScenarioReport, dir: &Path) -> Result<(), String> {
    let e = |x: &dyn std::fmt::Display| x.to_string();
    let horizon = r.world.horizon_ms as f64 / 3.6e6;
    let path = dir.join(format!("{}-util.svg", r.world.name));
    {
        let root = SVGBackend::new(&path, (900, 400)).into_drawing_area();
        root.fill(&WHITE).map_err(|x| e(&x))?;
        let mut c = ChartBuilder::on(&root)
            .caption(format!("{}: productive utilization", r.world.name), ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(40)
            .build_cartesian_2d(0.0..horizon, 0.0..1.0)
            .map_err(|x| e(&x))?;
        c.configure_mesh().x_desc("hours").y_desc("busy / healthy").draw().map_err(|x| e(&x))?;
        for (i, res) in r.results.iter().enumerate() {
            let col = COLORS[i % COLORS.len()];
            let pts = res.series.iter().map(|s| (s.t_h, s.utilization));
            c.draw_series(LineSeries::new(pts, col.stroke_width(2)))
                .map_err(|x| e(&x))?
                .label(res.allocator.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 15, y)], col.stroke_width(2)));
        }
        c.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw().map_err(|x| e(&x))?;
        root.present().map_err(|x| e(&x))?;
    }
    let path = dir.join(format!("{}-teams.svg", r.world.name));
    let root = SVGBackend::new(&path, (900, 400)).into_drawing_area();
    root.fill(&WHITE).map_err(|x| e(&x))?;
    let ymax = r
        .results
        .iter()
        .flat_map(|res| res.series.iter().flat_map(|s| s.team_share.iter().copied()))
        .fold(0.05, f64::max)
        * 1.1;
    let mut c = ChartBuilder::on(&root)
        .caption(format!("{}: team share of fleet compute (thick: quartermaster, thin: reservations)", r.world.name), ("sans-serif", 16))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(40)
        .build_cartesian_2d(0.0..horizon, 0.0..ymax)
        .map_err(|x| e(&x))?;
    c.configure_mesh().x_desc("hours").y_desc("busy normalized compute / capacity").draw().map_err(|x| e(&x))?;
    for res in r.results.iter().filter(|x| x.allocator == "quartermaster" || x.allocator == "reservations") {
        let width = if res.allocator == "quartermaster" { 3 } else { 1 };
        for (t, team) in r.world.teams.iter().enumerate() {
            let col = COLORS[t % COLORS.len()];
            let pts = res.series.iter().map(move |s| (s.t_h, s.team_share.get(t).copied().unwrap_or(0.0)));
            let series = c.draw_series(LineSeries::new(pts, col.stroke_width(width))).map_err(|x| e(&x))?;
            if width == 3 {
                series.label(team.id.clone()).legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 15, y)], col.stroke_width(3)));
            }
        }
    }
    c.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw().map_err(|x| e(&x))?;
    root.present().map_err(|x| e(&x))?;
    Ok(())
}
