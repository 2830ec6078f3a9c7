//! Draws the Grafana dashboard's panels from a real Prometheus, without Grafana (there
//! is no Grafana package to install here): reads deploy/grafana/quartermaster.json,
//! runs each panel's PromQL as a range query over the last `--range-s` seconds, and
//! lays the panels out as the dashboard's grid does, in one SVG; the last value of
//! every series goes to a Markdown table beside it. `scripts/dashboard-render.sh`
//! runs the demo with a Prometheus and calls this.
//!
//! `cargo run -p qm-loadtest --example render_dashboard -- --prometheus 127.0.0.1:9090 --out docs/dashboard`

use anyhow::Context;
use plotters::prelude::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::PathBuf;

const COLORS: [RGBColor; 12] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
    RGBColor(57, 59, 121),
    RGBColor(173, 73, 74),
];
/// Pixels per grid column (24 across) and per grid row unit.
const COLUMN_PX: u32 = 75;
const ROW_PX: u32 = 30;
/// Series drawn per panel, at most (the table lists them all).
const SERIES_DRAWN_MAX: usize = 12;

struct Args {
    prometheus: String,
    dashboard: PathBuf,
    out: PathBuf,
    range_s: u64,
    step_s: u64,
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args {
        prometheus: "127.0.0.1:9090".into(),
        dashboard: "deploy/grafana/quartermaster.json".into(),
        out: "docs/dashboard".into(),
        range_s: 600,
        step_s: 5,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--prometheus" => a.prometheus = value,
            "--dashboard" => a.dashboard = value.into(),
            "--out" => a.out = value.into(),
            "--range-s" => a.range_s = value.parse()?,
            "--step-s" => a.step_s = value.parse()?,
            other => anyhow::bail!("unknown flag {other}"),
        }
    }
    Ok(a)
}

/// One series of a range query: its legend and points (seconds before the end, value).
struct Line {
    legend: String,
    points: Vec<(f64, f64)>,
}

/// A panel with its data.
struct Drawn {
    title: String,
    kind: String,
    unit: String,
    stacked: bool,
    grid: (u32, u32, u32, u32),
    lines: Vec<Line>,
}

fn main() -> anyhow::Result<()> {
    let a = args()?;
    let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(&a.dashboard)?)?;
    let end = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
    let start = end.saturating_sub(a.range_s);
    let mut panels = Vec::new();
    for panel in dashboard["panels"].as_array().context("no panels")? {
        let kind = panel["type"].as_str().unwrap_or("").to_owned();
        if kind == "row" {
            continue;
        }
        let g = &panel["gridPos"];
        let cell = |k: &str| g[k].as_u64().and_then(|v| u32::try_from(v).ok()).unwrap_or(0);
        let mut lines = Vec::new();
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().unwrap_or("");
            let legend = target["legendFormat"].as_str().unwrap_or("");
            lines.extend(query_range(&a.prometheus, &concrete(expr), start, end, a.step_s, legend)?);
        }
        panels.push(Drawn {
            title: panel["title"].as_str().unwrap_or("").to_owned(),
            kind,
            unit: panel["fieldConfig"]["defaults"]["unit"].as_str().unwrap_or("").to_owned(),
            stacked: panel["fieldConfig"]["defaults"]["custom"]["stacking"]["mode"].as_str() == Some("normal"),
            grid: (cell("x"), cell("y"), cell("w"), cell("h")),
            lines,
        });
    }
    std::fs::create_dir_all(&a.out)?;
    let svg = a.out.join("quartermaster.svg");
    draw(&svg, &panels, a.range_s, a.step_s)?;
    let table = a.out.join("last-values.md");
    std::fs::write(&table, markdown(&panels, &a))?;
    println!("wrote {} and {}", svg.display(), table.display());
    Ok(())
}

/// The dashboard's variables as Grafana would fill them: every team, and a rate window
/// of four 5 s scrapes (Grafana's `$__rate_interval` floor for that interval).
fn concrete(expr: &str) -> String {
    expr.replace("$__rate_interval", "20s").replace("$team", ".*")
}

/// `/api/v1/query_range` over HTTP/1.0 (so no chunked body), as lines with legends.
fn query_range(prometheus: &str, expr: &str, start: u64, end: u64, step_s: u64, legend: &str) -> anyhow::Result<Vec<Line>> {
    let path = format!("/api/v1/query_range?query={}&start={start}&end={end}&step={step_s}", percent_encode(expr));
    let mut stream = std::net::TcpStream::connect(prometheus).with_context(|| format!("connect {prometheus}"))?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(30)))?;
    stream.write_all(format!("GET {path} HTTP/1.0\r\nHost: {prometheus}\r\n\r\n").as_bytes())?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b).context("no HTTP body")?;
    let parsed: Value = serde_json::from_str(body).with_context(|| format!("query {expr}: {body}"))?;
    anyhow::ensure!(parsed["status"] == "success", "query {expr}: {body}");
    let mut out = Vec::new();
    for series in parsed["data"]["result"].as_array().into_iter().flatten() {
        let labels: BTreeMap<String, String> = series["metric"]
            .as_object()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_owned())).collect())
            .unwrap_or_default();
        let points = series["values"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| {
                let t = p[0].as_f64()?;
                let v: f64 = p[1].as_str()?.parse().ok()?;
                v.is_finite().then_some((t - end as f64, v))
            })
            .collect();
        out.push(Line { legend: fill_legend(legend, &labels), points });
    }
    Ok(out)
}

/// `{{label}}` in a legend format replaced by the series' label values.
fn fill_legend(format: &str, labels: &BTreeMap<String, String>) -> String {
    let mut legend = format.to_owned();
    for (k, v) in labels {
        legend = legend.replace(&format!("{{{{{k}}}}}"), v);
    }
    if legend.is_empty() { format!("{labels:?}") } else { legend }
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn to_err<E: std::fmt::Display>(e: E) -> anyhow::Error {
    anyhow::anyhow!("plot: {e}")
}

/// A value as the panel's unit shows it.
fn shown(unit: &str, v: f64) -> String {
    match unit {
        "percentunit" => format!("{:.0}%", v * 100.0),
        "s" if v < 1.0 => format!("{:.0} ms", v * 1000.0),
        "s" => format!("{v:.2} s"),
        "ops" | "reqps" => format!("{v:.2}/s"),
        _ if v.fract() == 0.0 => format!("{v:.0}"),
        _ => format!("{v:.2}"),
    }
}

/// Every panel where the dashboard's grid puts it, on one canvas.
fn draw(path: &std::path::Path, panels: &[Drawn], range_s: u64, step_s: u64) -> anyhow::Result<()> {
    let rows = panels.iter().map(|p| p.grid.1 + p.grid.3).max().unwrap_or(1);
    let root = SVGBackend::new(path, (24 * COLUMN_PX, rows * ROW_PX + 40)).into_drawing_area();
    root.fill(&RGBColor(244, 245, 245)).map_err(to_err)?;
    root.draw_text(
        &format!("Quartermaster (deploy/grafana/quartermaster.json), last {} min from Prometheus", range_s / 60),
        &("sans-serif", 22).into_font().color(&BLACK),
        (12, 10),
    )
    .map_err(to_err)?;
    let body = root.margin(40, 0, 0, 0);
    for p in panels {
        let (x, y, w, h) = p.grid;
        let area = body.clone().shrink((x * COLUMN_PX + 4, y * ROW_PX + 4), (w * COLUMN_PX - 8, h * ROW_PX - 8));
        area.fill(&WHITE).map_err(to_err)?;
        match p.kind.as_str() {
            "timeseries" => timeseries(&area, p, range_s, step_s)?,
            "bargauge" => bars(&area, p)?,
            _ => stat(&area, p)?,
        }
    }
    root.present().map_err(to_err)?;
    Ok(())
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;

fn timeseries(area: &Area, p: &Drawn, range_s: u64, step_s: u64) -> anyhow::Result<()> {
    let mut lines: Vec<(String, Vec<(f64, f64)>)> = p.lines.iter().take(SERIES_DRAWN_MAX).map(|l| (l.legend.clone(), l.points.clone())).collect();
    if p.stacked {
        // Stacked as Grafana stacks: each line is the sum of itself and those before it.
        let mut below: BTreeMap<i64, f64> = BTreeMap::new();
        for (_, points) in &mut lines {
            for (t, v) in points.iter_mut() {
                let sum = below.entry(t.round() as i64).or_default();
                *sum += *v;
                *v = *sum;
            }
        }
    }
    let y_max = lines.iter().flat_map(|(_, p)| p.iter().map(|(_, v)| *v)).fold(0.0, f64::max);
    let y_max = if y_max > 0.0 { y_max * 1.15 } else { 1.0 };
    let title = if p.stacked { format!("{} (stacked)", p.title) } else { p.title.clone() };
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 16))
        .margin(8)
        .x_label_area_size(24)
        .y_label_area_size(56)
        .build_cartesian_2d(-(range_s as f64)..0.0, 0.0..y_max)
        .map_err(to_err)?;
    let unit = p.unit.clone();
    chart
        .configure_mesh()
        .x_labels(6)
        .y_labels(5)
        .x_label_formatter(&|x| format!("{:.0}m", x / 60.0))
        .y_label_formatter(&|y| shown(&unit, *y))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(to_err)?;
    for (k, (legend, points)) in lines.iter().enumerate() {
        let color = COLORS[k % COLORS.len()];
        // A series absent for a while (no team row, no pending reason) is broken there,
        // as Grafana breaks it, instead of a line drawn across the gap.
        let gap = 1.5 * step_s as f64;
        let mut segments: Vec<Vec<(f64, f64)>> = Vec::new();
        for &(t, v) in points {
            match segments.last_mut() {
                Some(segment) if segment.last().is_some_and(|(last, _)| t - last <= gap) => segment.push((t, v)),
                _ => segments.push(vec![(t, v)]),
            }
        }
        for (n, segment) in segments.into_iter().enumerate() {
            let drawn = chart.draw_series(LineSeries::new(segment, color.stroke_width(2))).map_err(to_err)?;
            if n == 0 {
                drawn.label(legend.clone()).legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2)));
            }
        }
    }
    if !lines.is_empty() {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .label_font(("sans-serif", 10))
            .background_style(WHITE.mix(0.8))
            .border_style(RGBColor(200, 200, 200))
            .draw()
            .map_err(to_err)?;
    }
    Ok(())
}

/// The last value of each series, as Grafana's stat panel shows it.
fn stat(area: &Area, p: &Drawn) -> anyhow::Result<()> {
    area.draw_text(&p.title, &("sans-serif", 16).into_font().color(&BLACK), (8, 6)).map_err(to_err)?;
    let (w, h) = area.dim_in_pixel();
    let cells = p.lines.len().max(1) as u32;
    for (k, line) in p.lines.iter().enumerate() {
        let last = line.points.last().map_or(f64::NAN, |(_, v)| *v);
        let (text, color) = if p.title == "Services up" {
            (format!("{} {}", line.legend, if last >= 1.0 { "UP" } else { "DOWN" }), if last >= 1.0 { RGBColor(55, 135, 45) } else { RGBColor(196, 22, 42) })
        } else {
            (format!("{} {}", line.legend, shown(&p.unit, last)), RGBColor(40, 40, 40))
        };
        let x0 = 8 + (w - 16) * k as u32 / cells;
        let cell = area.clone().shrink((x0, 30), ((w - 16) / cells - 6, h.saturating_sub(38)));
        let fill = if p.title == "Services up" { color } else { RGBColor(250, 250, 250) };
        cell.fill(&fill).map_err(to_err)?;
        let ink = if p.title == "Services up" { WHITE } else { color };
        cell.draw_text(&text, &("sans-serif", 15).into_font().color(&ink), (6, 18)).map_err(to_err)?;
    }
    Ok(())
}

/// Horizontal bars of each series' last value (bar gauge), 0 to the largest.
fn bars(area: &Area, p: &Drawn) -> anyhow::Result<()> {
    area.draw_text(&p.title, &("sans-serif", 16).into_font().color(&BLACK), (8, 6)).map_err(to_err)?;
    let (w, _) = area.dim_in_pixel();
    let last: Vec<(String, f64)> = p.lines.iter().map(|l| (l.legend.clone(), l.points.last().map_or(0.0, |(_, v)| *v))).collect();
    let max = last.iter().map(|(_, v)| *v).fold(1.0, f64::max);
    for (k, (legend, v)) in last.iter().enumerate() {
        let y = 34 + 30 * k as i32;
        let len = ((w as f64 - 200.0) * (v / max)).max(2.0) as i32;
        let color = if *v >= 1.0 { RGBColor(55, 135, 45) } else { RGBColor(255, 152, 48) };
        area.draw(&Rectangle::new([(110, y), (110 + len, y + 20)], color.filled())).map_err(to_err)?;
        area.draw_text(legend, &("sans-serif", 13).into_font().color(&BLACK), (8, y + 4)).map_err(to_err)?;
        area.draw_text(&shown(&p.unit, *v), &("sans-serif", 13).into_font().color(&BLACK), (116 + len, y + 4)).map_err(to_err)?;
    }
    Ok(())
}

/// Every panel's series with their last values, for the docs.
fn markdown(panels: &[Drawn], a: &Args) -> String {
    let mut out = format!(
        "# Dashboard panels, last values\n\nEvery series of every panel of `{}`, queried from Prometheus at `{}` over the last {} s (step {} s); the last value of each. Written by `loadtest/examples/render_dashboard.rs`.\n\n| panel | series | last |\n|---|---|---|\n",
        a.dashboard.display(),
        a.prometheus,
        a.range_s,
        a.step_s
    );
    for p in panels {
        if p.lines.is_empty() {
            out.push_str(&format!("| {} | (no data) | |\n", p.title));
        }
        for line in &p.lines {
            let last = line.points.last().map_or("-".to_owned(), |(_, v)| shown(&p.unit, *v));
            out.push_str(&format!("| {} | {} | {} |\n", p.title, line.legend, last));
        }
    }
    out
}
