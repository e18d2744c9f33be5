"""The floor comparison of `make bench`: N ecsx deployments, N resources of a provider that does
no work, and N `terraform_data`, planned side by side in one run.

*floor* is bench/floor/main.rs: ecsx's own protocol layer serving one resource with the schema
of `ecsx_canary_deployment` and no work at all (read = prior state, plan = proposed state). Its
state is ecsx's state, renamed, so both plans carry the same values. *terraform_data* is
Terraform's built-in resource (no plugin process), one per service. For each size the three
ways run `terraform plan -detailed-exitcode` (nothing to change) in an order that alternates
between runs. Each ecsx plan also records, without slowing it down:

- the CPU time of the provider processes (utime + stime from /proc/<pid>/stat, sampled every
  20 ms while they live) and of Terraform with them (the bench's RUSAGE_CHILDREN difference);
- the emulator: its process's CPU time, and at the proxy the time its answers took, per
  operation and as the union of the calls' intervals (`busy`: time at least one AWS call of
  the plan was waiting on the emulator).

At the largest size, three more ecsx plans say where the rest goes: one with the provider's own
pacing off (`ECSX_RATE_LIMIT=off`, the same reads unpaced), one with the coalescing window at
1 ms instead of 15 ms (`ECSX_COALESCE_WINDOW=1ms`), and one with the provider's debug
log on (`TF_LOG_PROVIDER=debug`), whose `aws paced` lines give the time requests waited for a
pacing token and whose `aws call` lines the time the SDK calls took as the provider saw them.
"""

from __future__ import annotations

import copy
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import threading
import time
from pathlib import Path

from scale import as_map

WAYS = ("ecsx", "floor", "terraform_data")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float | None:
    """utime + stime of a live process, in seconds."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


class ProviderCpu:
    """The CPU time of every provider process Terraform (pid `parent`) starts, sampled every
    20 ms; a process's last sample stands for its total (at most 20 ms of it unseen)."""

    def __init__(self, parent: int):
        self.parent = parent
        self.last: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _children(self) -> list[int]:
        pids = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            name = stat[stat.index("(") + 1: stat.rindex(")")]
            ppid = int(stat[stat.rindex(")") + 2:].split()[1])
            if ppid == self.parent and name.startswith("terraform-provi"):
                pids.append(int(entry))
        return pids

    def _run(self) -> None:
        while not self._stop.is_set():
            for pid in self._children():
                cpu = cpu_seconds(pid)
                if cpu is not None:
                    self.last[pid] = cpu
            self._stop.wait(0.02)

    def stop(self) -> tuple[float, int]:
        self._stop.set()
        self._thread.join()
        return sum(self.last.values()), len(self.last)


def children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


# --------------------------------------------------------------------------
# States and configurations for each size
# --------------------------------------------------------------------------


def subset(state: dict, keep: set[str]) -> dict:
    """The state with only the instances whose for_each key is in `keep`."""
    out = copy.deepcopy(state)
    for res in out["resources"]:
        res["instances"] = [i for i in res["instances"] if i.get("index_key") in keep]
    out["serial"] = state.get("serial", 1) + 1
    return out


def as_floor(state: dict) -> dict:
    """ecsx's state as the floor provider's: the same values under the floor's type."""
    out = copy.deepcopy(state)
    out["lineage"] = out.get("lineage", "") + "-floor"
    for res in out["resources"]:
        res["type"] = res["type"].replace("ecsx_", "floor_", 1)
        res["provider"] = 'provider["registry.terraform.io/ecsx/floor"]'
        for inst in res["instances"]:
            # The floor serves no resource identity.
            inst.pop("identity", None)
            inst.pop("identity_schema_version", None)
    return out


def floor_config(ecsx_tf: str) -> str:
    """bench/scale/main.tf for the floor provider: the same blocks and values."""
    return (ecsx_tf.replace('ecsx = { source = "ecsx/ecsx" }', 'floor = { source = "ecsx/floor" }')
            .replace('provider "ecsx" {}', 'provider "floor" {}')
            .replace("ecsx_canary_deployment", "floor_canary_deployment"))


def paced_and_calls(log: Path) -> dict:
    """From a provider debug log (Terraform's text re-log, or hclog JSON): requests that waited
    for a pacing token and how long in all, and the AWS calls the provider made with their
    summed duration."""
    number = r""""?[=:]\s*"?(\d+(?:\.\d+)?)"""
    paced = re.compile(r"aws paced\b.*?waited_ms" + number)
    call = re.compile(r"aws call\b.*?duration_ms" + number)
    paced_n, paced_ms, calls_n, calls_ms, coalesced = 0, 0.0, 0, 0.0, 0
    for line in log.read_text(errors="replace").splitlines():
        if m := paced.search(line):
            paced_n += 1
            paced_ms += float(m.group(1))
        elif m := call.search(line):
            calls_n += 1
            calls_ms += float(m.group(1))
        elif "aws coalesced read" in line:
            coalesced += 1
    return {"paced_requests": paced_n, "paced_seconds": paced_ms / 1000,
            "aws_calls": calls_n, "aws_call_seconds": calls_ms / 1000, "coalesced_batches": coalesced}


# --------------------------------------------------------------------------
# The measurement
# --------------------------------------------------------------------------


def _plan(stack, tf, env_extra: dict, profile: bool) -> dict:
    stack.reset_calls()
    emu0 = cpu_seconds(stack.emulator.pid) or 0.0
    cpu0 = children_cpu()
    started = time.perf_counter()
    proc = subprocess.Popen(
        [*tf.cmd, "plan", "-no-color", "-input=false", "-detailed-exitcode"], cwd=tf.dir,
        env={**tf.env, **env_extra}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    watch = ProviderCpu(proc.pid) if profile else None
    out, _ = proc.communicate()
    seconds = time.perf_counter() - started
    provider_cpu, processes = watch.stop() if watch else (0.0, 0)
    if proc.returncode != 0:
        print(out[-3000:], flush=True)
        raise SystemExit(f"floor bench: plan in {tf.dir} exited {proc.returncode}, expected 0 (no changes)")
    res = {"seconds": seconds, "tf_and_provider_cpu": children_cpu() - cpu0}
    if profile:
        timings = stack._http(f"{stack.url}/_proxy/timings")
        res.update({
            "provider_cpu": provider_cpu, "provider_processes": processes,
            "emulator_cpu": (cpu_seconds(stack.emulator.pid) or 0.0) - emu0,
            "emulator_busy": timings["busy_seconds"],
            "emulator_answer_seconds": timings["upstream_seconds"],
            "emulator_answer_max": timings["upstream_max_seconds"],
            "calls": stack._http(f"{stack.url}/_proxy/stats")["calls"],
        })
    return res


def run(stack, terraform, tf_env, sizes: list[int], runs: int, scratch: Path, bench_dir: Path,
        floor_binary: Path, provider_dir: Path, say) -> dict:
    import infra  # noqa: PLC0415

    # A fresh emulator: every ECS request of the rig advances the emulated scheduler over every
    # service it holds, so services of earlier parts would slow these answers down.
    stack._http(f"{stack.emulator_url}/moto-api/reset", "POST")
    biggest = max(sizes)
    made = infra.create(stack.emulator_url, "fl", count=biggest)
    services = made["services"]
    # Both plugins from dev overrides: ecsx's release build, and the floor under its own name.
    bin_dir = scratch / "floor-bin"
    bin_dir.mkdir()
    shutil.copy(floor_binary, bin_dir / "terraform-provider-floor")
    cli = scratch / "floor-cli.tfrc"
    cli.write_text(
        "provider_installation {\n  dev_overrides {\n"
        f'    "registry.terraform.io/ecsx/ecsx" = "{provider_dir}"\n'
        f'    "registry.terraform.io/ecsx/floor" = "{bin_dir}"\n'
        "  }\n  direct {}\n}\ndisable_checkpoint = true\n"
    )
    tfvars = {
        "cluster": made["cluster"],
        "subnets": made["subnets"],
        "security_groups": [made["security_group"]],
        "task_definition": made["task_definitions"][0],
        "blue_target_group_arn": made["blue_target_group_arn"],
        "green_target_group_arn": made["green_target_group_arn"],
        "listener_arn": made["listener_arn"],
        "rule_arn": made["rule_arn"],
        "test_listener_arn": made["test_listener_arn"],
    }
    ecsx_tf = (bench_dir / "scale/main.tf").read_text()

    def workdir(way: str, n: int) -> Path:
        d = scratch / f"floor-{way}-{n}"
        d.mkdir()
        return d

    def tf_for(d: Path):
        t = terraform(d, tf_env(stack, d))
        t.env["TF_CLI_CONFIG_FILE"] = str(cli)
        return t

    # ecsx: create the largest size once (set-up: no stabilisation wait, pacing off).
    base = workdir("ecsx", biggest)
    (base / "main.tf").write_text(ecsx_tf)
    (base / "terraform.tfvars.json").write_text(json.dumps({**tfvars, "services": as_map(services)}))
    stack.configure(stabilize_seconds=0)
    try:
        say(f"  creating {biggest} ecsx deployments")
        t0 = time.perf_counter()
        tf = tf_for(base)
        tf.env["ECSX_RATE_LIMIT"] = "off"
        tf.run("apply", "-auto-approve", "-parallelism=20")
        say(f"  created in {time.perf_counter() - t0:.1f} s")
    finally:
        stack.restore()
    state = json.loads((base / "terraform.tfstate").read_text())

    dirs: dict[str, dict[int, Path]] = {w: {} for w in WAYS}
    for n in sizes:
        keep = set(services[:n])
        d = base if n == biggest else workdir("ecsx", n)
        if n != biggest:
            (d / "main.tf").write_text(ecsx_tf)
            (d / "terraform.tfvars.json").write_text(json.dumps({**tfvars, "services": as_map(services[:n])}))
            (d / "terraform.tfstate").write_text(json.dumps(subset(state, keep)))
        dirs["ecsx"][n] = d
        d = workdir("floor", n)
        (d / "main.tf").write_text(floor_config(ecsx_tf))
        (d / "terraform.tfvars.json").write_text(json.dumps({**tfvars, "services": as_map(services[:n])}))
        (d / "terraform.tfstate").write_text(json.dumps(as_floor(subset(state, keep))))
        dirs["floor"][n] = d
        d = workdir("terraform_data", n)
        shutil.copy(bench_dir / "floor/terraform_data.tf", d / "main.tf")
        (d / "terraform.tfvars.json").write_text(json.dumps({"services": as_map(services[:n])}))
        tf_for(d).run("apply", "-auto-approve")
        dirs["terraform_data"][n] = d

    out: dict = {"sizes": sizes, "runs": runs, "ways": list(WAYS), "plans": {}, "profile": {}}
    for n in sizes:
        per: dict[str, list] = {w: [] for w in WAYS}
        for i in range(runs):
            order = WAYS if i % 2 == 0 else WAYS[::-1]
            for way in order:
                per[way].append(_plan(stack, tf_for(dirs[way][n]), {}, profile=(way != "terraform_data")))
        out["plans"][n] = per
        med = {w: statistics.median(r["seconds"] for r in per[w]) for w in WAYS}
        say(f"  {n:>5}: ecsx {med['ecsx']:.2f} s, floor {med['floor']:.2f} s, "
            f"terraform_data {med['terraform_data']:.2f} s; ecsx/floor {med['ecsx'] / med['floor']:.2f}x; "
            f"emulator busy {statistics.median(r['emulator_busy'] for r in per['ecsx']):.2f} s, "
            f"provider CPU {statistics.median(r['provider_cpu'] for r in per['ecsx']):.2f} s")

    # Where the rest goes at the largest size: pacing off, and the debug log.
    tf = tf_for(dirs["ecsx"][biggest])
    out["profile"]["unpaced"] = _plan(stack, tf, {"ECSX_RATE_LIMIT": "off"}, profile=True)
    # The coalescing window (15 ms by default) at its shortest: what the windows cost.
    out["profile"]["window_1ms"] = _plan(stack, tf, {"ECSX_COALESCE_WINDOW": "1ms"}, profile=True)
    log = scratch / "floor-debug.log"
    debug = _plan(stack, tf, {"TF_LOG_PROVIDER": "debug", "TF_LOG_PATH": str(log)}, profile=True)
    debug.update(paced_and_calls(log))
    out["profile"]["debug"] = debug
    # The configuration's shape, Terraform alone: plans that create N terraform_data, for_each
    # over toset() of a list of names against a map of the same names.
    shapes = {"toset(list)": ("toset(var.services)", "list(string)", services),
              "map": ("var.services", "map(string)", as_map(services))}
    out["shape"] = {}
    for name, (expr, ty, value) in shapes.items():
        d = scratch / f"floor-shape-{len(out['shape'])}"
        d.mkdir()
        (d / "main.tf").write_text(
            f'variable "services" {{ type = {ty} }}\n'
            f'resource "terraform_data" "svc" {{\n  for_each = {expr}\n  input    = each.value\n}}\n')
        (d / "terraform.tfvars.json").write_text(json.dumps({"services": value}))
        out["shape"][name] = tf_for(d).run("plan")[0]
    say(f"  {biggest} terraform_data, create plan: " + ", ".join(f"for_each = {k} {v:.2f} s" for k, v in out["shape"].items()))
    say(f"  profile at {biggest}: unpaced {out['profile']['unpaced']['seconds']:.2f} s, "
        f"1 ms window {out['profile']['window_1ms']['seconds']:.2f} s; debug log: "
        f"{debug['paced_requests']} requests paced, {debug['paced_seconds']:.2f} s waiting in all, "
        f"{debug['aws_calls']} AWS calls taking {debug['aws_call_seconds']:.2f} s in all")
    return out
