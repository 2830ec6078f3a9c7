//! Job traces as CSV, so a user can replay their own cluster's history.
//!
//! Columns (header row required, any order, names case-insensitive, extra columns
//! ignored): `job_id, submit_s, duration_s, num_gpus, gpu_type, group`. `gpu_type` is a
//! type name, `any`, or a `|`-separated list. Missing values are not fatal:
//! - `job_id` empty: `row-<line>`; `num_gpus` empty or 0: 1; `gpu_type` empty: `any`;
//!   `group` empty: `default`; `submit_s` empty: the previous row's submit time.
//! - `duration_s` empty, unparseable or not positive: the row is skipped and counted,
//!   because no honest default exists for how long a job runs.
//!
//! A job's duration is its run time on its reference type (the first listed type, or the
//! fleet's fastest for `any`) at `num_gpus`; its speed elsewhere is the pools' nominal
//! per-chip throughput (`[types]` in the fleet file), since traces carry no per-type speed.

use crate::world::{JobSpec, Pattern, PoolSpec, Shape, TeamSpec};

/// One usable row.
#[derive(Clone, Debug, PartialEq)]
pub struct TraceRow {
    pub job_id: String,
    pub submit_s: f64,
    pub duration_s: f64,
    pub num_gpus: u32,
    /// Accepted types, lower case; empty = any.
    pub gpu_types: Vec<String>,
    pub group: String,
}

/// A parsed trace: the rows kept, the rows skipped with why, and how many values defaulted.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ParsedTrace {
    pub rows: Vec<TraceRow>,
    pub skipped: Vec<(usize, String)>,
    pub defaulted: usize,
}

/// Splits one CSV line; double-quoted fields may hold commas and `""`.
fn split(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out.into_iter().map(|s| s.trim().to_owned()).collect()
}

/// Parses a trace. Never fails: a bad row is skipped with its line number and reason,
/// and a trace with no usable header yields no rows and one skip entry.
pub fn parse(text: &str) -> ParsedTrace {
    let mut out = ParsedTrace::default();
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty() && !l.starts_with('#'));
    let Some((_, header)) = lines.next() else { return out };
    let cols: Vec<String> = split(header).into_iter().map(|c| c.to_lowercase()).collect();
    let col = |name: &str| cols.iter().position(|c| c == name);
    let (ci, cs, cd, cn, ct, cg) =
        (col("job_id"), col("submit_s"), col("duration_s"), col("num_gpus"), col("gpu_type"), col("group"));
    let Some(cd) = cd else {
        out.skipped.push((1, "no duration_s column".into()));
        return out;
    };
    let mut last_submit = 0.0;
    for (n, line) in lines {
        let f = split(line);
        let get = |c: Option<usize>| c.and_then(|c| f.get(c)).map(String::as_str).filter(|s| !s.is_empty());
        let lineno = n + 1;
        let Some(duration_s) = get(Some(cd)).and_then(|s| s.parse::<f64>().ok()).filter(|d| d.is_finite() && *d > 0.0)
        else {
            out.skipped.push((lineno, "missing or bad duration_s".into()));
            continue;
        };
        let mut defaulted = 0;
        let mut or_default = |v: Option<String>, d: String| {
            v.unwrap_or_else(|| {
                defaulted += 1;
                d
            })
        };
        let job_id = or_default(get(ci).map(str::to_owned), format!("row-{lineno}"));
        let submit = get(cs).and_then(|s| s.parse::<f64>().ok()).filter(|s| s.is_finite() && *s >= 0.0);
        let submit_s = or_default(submit.map(|s| s.to_string()), last_submit.to_string()).parse().unwrap_or(0.0);
        last_submit = submit_s;
        let gpus = get(cn).and_then(|s| s.parse::<f64>().ok()).filter(|g| *g >= 1.0).map(|g| g.round() as u32);
        let num_gpus = or_default(gpus.map(|g| g.to_string()), "1".into()).parse().unwrap_or(1);
        let types = or_default(get(ct).map(str::to_owned), "any".into()).to_lowercase();
        let gpu_types = if types == "any" {
            Vec::new()
        } else {
            types.split('|').map(|t| t.trim().to_owned()).filter(|t| !t.is_empty() && t != "any").collect()
        };
        let group = or_default(get(cg).map(str::to_owned), "default".into());
        out.defaulted += defaulted;
        out.rows.push(TraceRow { job_id, submit_s, duration_s, num_gpus, gpu_types, group });
    }
    out
}

/// Turns rows into jobs on `pools`; groups that are not teams yet become teams with no
/// guarantee and no reservation (the caller sizes them if it wants).
pub fn to_jobs(rows: &[TraceRow], pools: &[PoolSpec], teams: &mut Vec<TeamSpec>, time_scale: f64) -> Vec<JobSpec> {
    let mut jobs = Vec::new();
    let fastest = pools.iter().map(|p| p.nominal_tp).fold(0.0, f64::max);
    for r in rows {
        let team = match teams.iter().position(|t| t.id == r.group) {
            Some(i) => i,
            None => {
                teams.push(TeamSpec {
                    id: r.group.clone(),
                    guarantee: 0.0,
                    weight: 1.0,
                    tier: Default::default(),
                    reserved: vec![0; pools.len()],
                });
                teams.len() - 1
            }
        };
        let listed = |p: &PoolSpec| r.gpu_types.iter().any(|t| t.eq_ignore_ascii_case(&p.accelerator));
        let known = pools.iter().any(listed);
        let tp: Vec<f64> = pools.iter().map(|p| if !known || listed(p) { p.nominal_tp } else { 0.0 }).collect();
        let tp_ref = match r.gpu_types.first() {
            Some(t) if known => pools.iter().find(|p| p.accelerator.eq_ignore_ascii_case(t)).map_or(fastest, |p| p.nominal_tp),
            _ => fastest,
        };
        let arrival_ms = (r.submit_s * time_scale * 1000.0).round() as i64;
        let dur_ms = r.duration_s * time_scale * 1000.0;
        jobs.push(JobSpec {
            id: r.job_id.clone(),
            team,
            arrival_ms,
            chips: r.num_gpus,
            chips_min: r.num_gpus,
            gang: true,
            shape: Shape::Batch,
            work: f64::from(r.num_gpus) * dur_ms / 1000.0 * tp_ref,
            end_ms: arrival_ms + dur_ms.round() as i64,
            tp,
            busy_fraction: 1.0,
            pattern: Pattern::Flat,
            critical: false,
            urgency: 0.0,
        });
    }
    jobs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_values_default_or_skip() {
        let text = "job_id,submit_s,duration_s,num_gpus,gpu_type,group\n\
                    a,0,100,2,v100,g1\n\
                    ,5,50,,,\n\
                    c,,20,1,any,g2\n\
                    d,7,,1,k80,g1\n\
                    e,9,abc,1,k80,g1\n\
                    f,10,30,4,\"v100|p100\",g1\n";
        let p = parse(text);
        let ids: Vec<&str> = p.rows.iter().map(|r| r.job_id.as_str()).collect();
        assert_eq!(ids, ["a", "row-3", "c", "f"]);
        assert_eq!(p.skipped.iter().map(|s| s.0).collect::<Vec<_>>(), [5, 6]);
        let r = &p.rows[1];
        assert_eq!((r.num_gpus, r.gpu_types.is_empty(), r.group.as_str(), r.submit_s), (1, true, "default", 5.0));
        assert_eq!(p.rows[2].submit_s, 5.0, "missing submit takes the previous row's");
        assert_eq!(p.rows[3].gpu_types, ["v100", "p100"]);
        assert_eq!(p.defaulted, 5);
    }

    #[test]
    fn columns_in_any_order_and_no_duration_column() {
        let p = parse("group,duration_s,job_id\nx,10,j1\n");
        assert_eq!(p.rows.len(), 1);
        assert_eq!((p.rows[0].num_gpus, p.rows[0].submit_s), (1, 0.0));
        let p = parse("job_id,submit_s\nj,1\n");
        assert!(p.rows.is_empty() && p.skipped.len() == 1);
        assert!(parse("").rows.is_empty());
    }

    #[test]
    fn unknown_types_fall_back_to_any_and_groups_become_teams() {
        let pools = vec![
            PoolSpec { id: "a".into(), region: "r".into(), accelerator: "v100".into(), chips: 8, price: 1.0, nominal_tp: 1.0 },
            PoolSpec { id: "b".into(), region: "r".into(), accelerator: "k80".into(), chips: 8, price: 0.5, nominal_tp: 0.25 },
        ];
        let p = parse("job_id,duration_s,gpu_type,group,num_gpus\nj1,10,K80,g,2\nj2,10,h100,h,1\n");
        let mut teams = Vec::new();
        let jobs = to_jobs(&p.rows, &pools, &mut teams, 1.0);
        assert_eq!(teams.len(), 2);
        assert_eq!(jobs[0].tp, [0.0, 0.25]);
        assert_eq!(jobs[0].work, 2.0 * 10.0 * 0.25);
        assert_eq!(jobs[1].tp, [1.0, 0.25]);
    }
}
