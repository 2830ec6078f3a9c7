//! SVG plots: the latency distribution of a run, the ramp curve, and how a policy
//! round's cost grows with the fleet.

use crate::record::Percentiles;
use crate::report::RampStep;
use plotters::prelude::*;
use std::path::Path;

const COLORS: [RGBColor; 6] = [RGBColor(31, 119, 180), RGBColor(255, 127, 14), RGBColor(44, 160, 44), RGBColor(214, 39, 40), RGBColor(148, 103, 189), RGBColor(127, 127, 127)];

type Series<'a> = (&'a str, Vec<(f64, f64)>);

fn to_err<E: std::fmt::Display>(e: E) -> anyhow::Error {
    anyhow::anyhow!("plot: {e}")
}

/// Draws lines on a log-scaled y axis; `x_fmt` labels the x axis.
fn draw(path: &Path, title: &str, x_desc: &str, y_desc: &str, x: (f64, f64), x_log: bool, series: &[Series], x_fmt: &dyn Fn(&f64) -> String) -> anyhow::Result<()> {
    let ys = series.iter().flat_map(|(_, p)| p.iter().map(|(_, y)| *y)).filter(|y| *y > 0.0);
    let (y_min, y_max) = ys.fold((f64::MAX, f64::MIN), |(lo, hi), y| (lo.min(y), hi.max(y)));
    let (y_min, y_max) = if y_min > y_max { (0.01, 1.0) } else { (y_min / 1.5, y_max * 1.5) };
    let root = SVGBackend::new(path, (900, 540)).into_drawing_area();
    root.fill(&WHITE).map_err(to_err)?;
    let mut builder = ChartBuilder::on(&root);
    builder.caption(title, ("sans-serif", 20)).margin(15).x_label_area_size(45).y_label_area_size(70);
    macro_rules! finish {
        ($chart:expr) => {{
            let mut chart = $chart;
            chart.configure_mesh().x_desc(x_desc).y_desc(y_desc).x_label_formatter(x_fmt).draw().map_err(to_err)?;
            for (k, (name, points)) in series.iter().enumerate() {
                let color = COLORS[k % COLORS.len()];
                let points: Vec<(f64, f64)> = points.iter().copied().filter(|(_, y)| *y > 0.0).collect();
                chart
                    .draw_series(LineSeries::new(points, color.stroke_width(2)))
                    .map_err(to_err)?
                    .label(*name)
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
            }
            chart.configure_series_labels().position(SeriesLabelPosition::UpperLeft).background_style(WHITE.mix(0.85)).border_style(BLACK).draw().map_err(to_err)?;
        }};
    }
    if x_log {
        finish!(builder.build_cartesian_2d((x.0..x.1).log_scale(), (y_min..y_max).log_scale()).map_err(to_err)?);
    } else {
        finish!(builder.build_cartesian_2d(x.0..x.1, (y_min..y_max).log_scale()).map_err(to_err)?);
    }
    root.present().map_err(to_err)?;
    Ok(())
}

/// Latency by percentile; the x axis counts nines (0 = p0, 1 = p90, 2 = p99, 3 = p99.9).
pub fn latency(path: &Path, title: &str, series: &[(&str, &Percentiles)]) -> anyhow::Result<()> {
    let nines = |p: f64| -(1.0 - p / 100.0).max(1e-6).log10();
    let lines: Vec<Series> = series.iter().map(|(name, p)| (*name, p.curve.iter().map(|(q, ms)| (nines(*q), *ms)).collect())).collect();
    let label = |x: &f64| {
        let p = 100.0 * (1.0 - 10f64.powf(-*x));
        if p < 99.5 { format!("p{p:.0}") } else { format!("p{p:.2}") }
    };
    draw(path, title, "percentile", "latency (ms, log)", (0.0, 4.0), false, &lines, &label)
}

/// The ramp: latency percentiles against the offered rate, with the bound.
pub fn ramp(path: &Path, steps: &[RampStep], bound_ms: f64) -> anyhow::Result<()> {
    let pick = |f: &dyn Fn(&RampStep) -> f64| steps.iter().map(|s| (s.target_per_s, f(s))).collect::<Vec<_>>();
    let x_max = steps.iter().map(|s| s.target_per_s).fold(1.0, f64::max) * 1.05;
    let x_min = steps.iter().map(|s| s.target_per_s).fold(f64::MAX, f64::min).min(x_max) * 0.95;
    let lines: Vec<Series> = vec![
        ("demand to applied grant p99", pick(&|s| s.demand_to_grant_applied.p99_ms)),
        ("demand to applied grant p50", pick(&|s| s.demand_to_grant_applied.p50_ms)),
        ("demand to decision p99", pick(&|s| s.demand_to_decision.p99_ms)),
        ("ingest ack p99", pick(&|s| s.ingest_ack.p99_ms)),
        ("bound", vec![(x_min, bound_ms), (x_max, bound_ms)]),
    ];
    draw(path, "Latency as the offered rate rises (open loop)", "offered events/s", "latency (ms, log)", (x_min, x_max), false, &lines, &|x| format!("{x:.0}"))
}

/// Cost against fleet size, log-log, with an n log n line through the first point.
pub fn scale(path: &Path, title: &str, points: &[(f64, f64)]) -> anyhow::Result<()> {
    let Some(&(n0, t0)) = points.first() else { return Ok(()) };
    let n_log_n = |n: f64| n * n.ln();
    let reference: Vec<(f64, f64)> = points.iter().map(|(n, _)| (*n, t0 * n_log_n(*n) / n_log_n(n0))).collect();
    let x_max = points.iter().map(|p| p.0).fold(n0, f64::max) * 1.3;
    let lines: Vec<Series> = vec![("measured", points.to_vec()), ("n log n from the first point", reference)];
    draw(path, title, "workloads (log)", "ms per round (log)", (n0 / 1.3, x_max), true, &lines, &|x| format!("{x:.0}"))
}
