"""Profile the compiled rollout with ``jax.profiler``: time per XLA op, mapped to source lines.

Usage (from the repository root)::

    JAX_PLATFORMS=cpu .venv/bin/python benchmarks/profile_hlo.py \
        --workload kineticsim --scenarios 1024 --agents 256 --ticks 10 --top 40

Compiles the rollout, runs it once to warm up, runs it again under ``jax.profiler.trace``
(a Perfetto JSON trace), sums the time of every executed XLA thunk (fusion, scatter,
reduce-window, while loop...) and prints the top ones with their share of the total and
the source line and JAX op that XLA's metadata attributes them to (for a fusion: its root).
"""

from __future__ import annotations

import argparse
import collections
import glob
import gzip
import json
import re
import tempfile

import jax

from qtgjax.bench.workloads import load_workload, sim_config
from qtgjax.config.build import build, scenario_keys, scenario_params
from qtgjax.sim.rollout import rollout

_INSTR = re.compile(r"^\s*(?:ROOT )?%([\w.\-]+) = .*?metadata=\{([^}]*)\}")
_FIELD = re.compile(r'(\w+)=("[^"]*"|[^\s},]+)')
_TABLES = ("FileNames", "FunctionNames", "FileLocations", "StackFrames")


def _tables(lines: list[str]) -> dict[str, dict[int, str]]:
    """The module's debug tables (file names, function names, locations, stack frames)."""
    tables, current = {t: {} for t in _TABLES}, None
    for line in lines:
        if line in _TABLES:
            current = line
        elif current and line and line[0].isdigit():
            idx, rest = line.split(" ", 1)
            tables[current][int(idx)] = rest.strip('"')
        elif current and not line:
            current = None
    return tables


def _frame(tables, frame_id: int, depth: int = 8) -> str:
    """'file:line function' of a stack frame and its callers (innermost first)."""
    out = []
    while frame_id and len(out) < depth:
        fields = dict(_FIELD.findall(tables["StackFrames"].get(frame_id, "")))
        loc = dict(
            _FIELD.findall(tables["FileLocations"].get(int(fields.get("file_location_id", 0)), ""))
        )
        if not loc:
            break
        name = tables["FileNames"].get(int(loc["file_name_id"]), "?").split("/qtgjax/")[-1]
        func = tables["FunctionNames"].get(int(loc["function_name_id"]), "?")
        out.append(f"{name}:{loc.get('line', '?')} {func}")
        parent = int(fields.get("parent_frame_id", 0))
        frame_id = parent if parent != frame_id else 0
    return " < ".join(out)


def hlo_sources(hlo_text: str) -> dict[str, str]:
    """Instruction name -> 'op @ file:line function < caller...' from the HLO's metadata."""
    lines = hlo_text.splitlines()
    tables = _tables(lines)
    out = {}
    for line in lines:
        m = _INSTR.match(line)
        if not m:
            continue
        meta = {k: v.strip('"') for k, v in _FIELD.findall(m.group(2))}
        op = meta.get("op_name", "").split("/")[-1]
        out[m.group(1)] = f"{op} @ {_frame(tables, int(meta.get('stack_frame_id', 0)))}"
    return out


def stage_of(source: str) -> str:
    """The frame of ``sim/tick.py`` that calls into a stage, else the outermost frame."""
    frames = source.split(" @ ", 1)[-1].split(" < ")
    in_step = [f for f in frames if f.startswith("sim/tick.py:") and f.endswith(" step")]
    return in_step[0] if in_step else (frames[-1] or "?")


def thunk_times(trace_dir: str) -> tuple[collections.Counter, collections.Counter]:
    """Total microseconds and call count per event name in the Perfetto trace."""
    path = sorted(glob.glob(f"{trace_dir}/**/*.json.gz", recursive=True))[-1]
    with gzip.open(path) as f:
        data = json.load(f)
    events = data["traceEvents"] if isinstance(data, dict) else data
    total, count = collections.Counter(), collections.Counter()
    for e in events:
        if e.get("ph") == "X":
            total[e["name"]] += e.get("dur", 0)
            count[e["name"]] += 1
    return total, count


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workload", default="kineticsim")
    ap.add_argument("--scenarios", type=int, default=1024)
    ap.add_argument("--agents", type=int, default=256)
    ap.add_argument("--levels", type=int, default=None)
    ap.add_argument("--symbols", type=int, default=None)
    ap.add_argument("--ticks", type=int, default=10)
    ap.add_argument("--top", type=int, default=40)
    a = ap.parse_args()
    cfg = sim_config(
        load_workload(a.workload),
        scenarios=a.scenarios,
        agents=a.agents,
        ticks=a.ticks,
        levels=a.levels,
        symbols=a.symbols,
    )
    built = build(cfg)
    params = scenario_params(built.params, a.scenarios)
    keys = scenario_keys(0, a.scenarios)
    compiled = rollout.lower(built.static, params, keys, a.ticks).compile()
    sources = hlo_sources(compiled.as_text())
    jax.block_until_ready(compiled(params, keys))
    with tempfile.TemporaryDirectory() as tmp:
        with jax.profiler.trace(tmp, create_perfetto_trace=True):
            jax.block_until_ready(compiled(params, keys))
        total, count = thunk_times(tmp)
    ops = {k: v for k, v in total.items() if k.split("wrapped_")[-1] in sources or k in sources}
    whole = sum(ops.values())
    print(f"# {a.workload} B={a.scenarios} N={a.agents} T={a.ticks}: {whole / 1e3:.1f} ms in ops")
    by_stage = collections.Counter()
    for name, us in ops.items():
        by_stage[stage_of(sources.get(name, sources.get(name.split("wrapped_")[-1], "")))] += us
    print("## by stage (the line of sim/tick.py:step, or the outermost frame, it runs under)")
    for stage, us in by_stage.most_common():
        print(f"{us / 1e3:9.2f} ms {100.0 * us / whole:5.1f}%  {stage}")
    print("## top ops")
    for name, us in sorted(ops.items(), key=lambda kv: -kv[1])[: a.top]:
        src = sources.get(name, sources.get(name.split("wrapped_")[-1], ""))
        share = 100.0 * us / whole
        print(f"{us / 1e3:9.2f} ms {share:5.1f}% x{count[name]:<5d} {name[:34]:34s} {src[:150]}")


if __name__ == "__main__":
    main()
