#!/usr/bin/env python3
"""Writes a `qm sim` scenario from one of Gavel's Philly-derived VC traces.

Usage: gavel-vc-scenario.py TRACE THROUGHPUTS_JSON VC > scenarios/gavel-vc-VC.toml

TRACE is Gavel's scheduler/traces/msr/seed=0/VC.trace (7 tab-separated columns: job type,
command, steps flag, needs data dir, total steps, arrival s, GPUs); THROUGHPUTS_JSON is
shared/data/gavel/throughputs.json (Gavel's measured steps/s, MIT). GPUs are capped to the
largest size Gavel measured for the job type, as Gavel's simulator needs; a job's duration
is its total steps at its fastest type's speed, so its steps/s on every type are Gavel's.
Cluster: 36 V100 + 36 P100 + 36 K80, as in Gavel's evaluation.
"""
import json
import re
import sys


def slug(job_type, gpus):
    return re.sub(r"[^a-z0-9]+", "-", job_type.lower()).strip("-") + f"-x{gpus}"


def main(trace, throughputs, vc):
    tp = json.load(open(throughputs))
    sizes = {jt: [1] for jt in tp["job_types"]}
    for sf, per_type in tp["multi_gpu_isolated_by_scale_factor"].items():
        if sf.isdigit():
            for jt in per_type:
                sizes[jt].append(int(sf))

    def speed(jt, sf):
        return tp["job_types"][jt] if sf == 1 else tp["multi_gpu_isolated_by_scale_factor"][str(sf)][jt]

    jobs, capped = [], 0
    for line in open(trace):
        jt, _cmd, _flag, _dd, steps, arrival, sf = line.rstrip("\n").split("\t")
        want = int(sf)
        sf = max(s for s in sizes[jt] if s <= want)
        capped += sf != want
        jobs.append((jt, sf, int(steps), float(arrival)))
    last = max(a for *_, a in jobs) / 3600
    out = [f'name = "gavel-vc-{vc}"', 'description = """']
    out.append(f"Gavel's Philly-derived trace for VC {vc} ({len(jobs)} jobs; stanford-futuredata/gavel,")
    out.append("scheduler/traces/msr/seed=0, MIT licence, Copyright (c) 2020 Stanford Future Data Systems)")
    out.append("on Gavel's evaluation cluster of 36 V100 + 36 P100 + 36 K80, with Gavel's measured")
    out.append(f"per-job-type throughputs. {capped} jobs capped to the largest size Gavel measured.")
    out.append('The side-by-side check against the real Gavel simulator is in EVALUATION.md."""')
    out += ["seed = 1", f"horizon_h = {int(last * 2) + 1}", ""]
    out += ["[types]", "# Median P100/V100 and K80/V100 ratio over Gavel's 26 job types.",
            "v100 = 1.0", "p100 = 0.813", "k80 = 0.247", ""]
    for acc, price in [("v100", 2.48), ("p100", 1.46), ("k80", 0.45)]:
        out += ["[[pool]]", f'id = "vc/{acc}"', 'region = "vc"', f'accelerator = "{acc}"', "chips = 36", f"price = {price}", ""]
    out += ["[[team]]", f'id = "vc-{vc}"', "share = 1.0", ""]
    for jt, sf in sorted({(jt, sf) for jt, sf, *_ in jobs}):
        out.append(f"[profiles.{slug(jt, sf)}] # {jt} on {sf} GPU(s): whole-job steps/s")
        out += [f"{t} = {v!r}" for t, v in speed(jt, sf).items()]
        out.append("")
    for i, (jt, sf, steps, arrival) in enumerate(jobs):
        fastest = max(speed(jt, sf).values())
        out += ["[[workload]]", f'id = "j{i:03}"', f'team = "vc-{vc}"', f'profile = "{slug(jt, sf)}"',
                f"arrival_h = {arrival / 3600!r}", f"chips = {sf}", f"duration_h = {steps / fastest / 3600!r}", ""]
    sys.stdout.write("\n".join(out))


if __name__ == "__main__":
    main(*sys.argv[1:4])
