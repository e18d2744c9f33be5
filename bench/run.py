#!/usr/bin/env python3
"""`make bench`: ecsx against the script baseline, refresh cost, and the provider's own cost.

Everything runs against the local AWS emulator (tests/rig/emulator.py) through the
call-counting proxy (tests/rig/proxy.py), with real Terraform (tests/rig/terraform.py or
$ECSX_TERRAFORM) and the release build of the provider (target/release).

1. The same canary release (bootstrap, canary 10%, canary 50%, promote) three ways:
   bench/baseline (terraform_data + local-exec + AWS CLI) and bench/ecsx
   (ecsx_canary_deployment) with `promotion = "swap"` and `"replace"`. Per step: wall time
   of `terraform plan -out` and of `terraform apply PLAN`, the AWS API calls each made,
   counted at the proxy, and the peak tasks on the service during the apply.
2. Refresh cost: `terraform plan` of 1, 10, 50 and 100 deployments (bench/refresh).
3. The provider: process start to handshake line, peak RSS during the 100-deployment
   plan, release binary size.
4. Scale (bench/scale.py): refresh of up to 1,000 deployments with and without coalesced
   reads, with and without AWS-like rate limits at the proxy, and one apply that moves 50
   canaries one step under those limits.
5. The floor (bench/floor_scale.py): plans of N = 1 to 1,000 ecsx deployments, of a no-op
   provider with the same schema (bench/floor/main.rs) and of terraform_data, side by side,
   with a profile of ecsx's plans (provider CPU, the emulator's answer times, pacing).
6. Rollback latency (bench/rollback.py): from an alarm going into ALARM mid-bake, or an
   abort action, to the routers reading back all traffic on the stable task set.
7. The judge (bench/judge.py): the built-in judge's CloudWatch calls per check and per release
   (a healthy release judged, watching an alarm, and unwatched), and the time from the first
   bad window being readable to traffic back at 100/0. Waits real minutes: about 13.

Each figure is the median of several runs, with min and max. Writes docs/benchmarks.md,
docs/benchmarks.png, and the raw numbers to target/bench/results.json.

    python bench/run.py [--runs 5] [--refresh-runs 5] [--sizes 1,10,50,100]
                        [--scale-sizes 1,10,100,500,1000] [--scale-runs 1]
                        [--floor-sizes 1,10,100,500,1000] [--floor-runs 3]
                        [--rollback-runs 20] [--check-interval 5]
                        [--judge-runs 5] [--judge-check-interval 5]
                        [--only scale|walk|floor|rollback|judge]

`--only floor`, `--only rollback` or `--only judge` merges its results into
target/bench/results.json and rewrites the report when that file holds a full run; without one,
`--only judge` rewrites its own section of docs/benchmarks.md (and its goals) in place. The
judge's results also go to bench/results/judge-DATE.json. `make bench BENCH_ARGS="--only judge"`
runs it alone.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
PY = sys.executable
sys.dont_write_bytecode = True  # no __pycache__ beside the benchmark code
sys.path.insert(0, str(ROOT / "tests" / "rig"))
sys.path.insert(0, str(BENCH))

import infra  # noqa: E402
import floor_scale  # noqa: E402
import judge  # noqa: E402
import judge_report  # noqa: E402
import report  # noqa: E402
import rollback  # noqa: E402
import scale  # noqa: E402
from scale import as_map  # noqa: E402

# One stabilisation period for every task set, and one poll interval for both sides.
STABILIZE_SECONDS = 1.0
DRAIN_SECONDS = 1.0
POLL_SECONDS = 1
MAGIC_COOKIE = "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2"
# 1,000 deployments take the emulator about N minutes to create and plan here; see
# docs/benchmarks.md for what ran.
DEFAULT_SCALE_SIZES = "1,10,100,500"
# The provider under test; ECSX_BENCH_PROVIDER_DIR (e.g. target/debug) only for trying the bench.
PROVIDER_DIR = Path(os.environ.get("ECSX_BENCH_PROVIDER_DIR", ROOT / "target/release")).resolve()
# The no-op provider of the floor comparison (`cargo build --release --example bench-floor`).
FLOOR_BINARY = PROVIDER_DIR / "examples" / "bench-floor"
STEPS = ("bootstrap", "canary 10%", "canary 50%", "promote")
# ecsx-replace: the same configuration with `promotion = "replace"`; the release tables compare
# baseline and ecsx (the default, swap), the promotion table all three.
METHODS = ("baseline", "ecsx", "ecsx-replace")


def say(text: str) -> None:
    print(text, flush=True)


# --------------------------------------------------------------------------
# The emulator and the counting proxy
# --------------------------------------------------------------------------


def start(cmd: list[str], what: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline().strip() if proc.stdout else ""
    if not line.startswith("READY "):
        proc.kill()
        raise SystemExit(f"{what} did not start: {line!r}")
    return proc, f"http://127.0.0.1:{line.split()[1]}"


# The proxy answers with two writes (headers, then body). Without TCP_NODELAY, Nagle's
# algorithm holds the body until the client ACKs the headers, which a delayed ACK puts
# off by ~40 ms: a cost of the proxy, not of AWS or of either side measured here.
PROXY_LAUNCHER = (
    "import sys; sys.path.insert(0, sys.argv[1]); import proxy; "
    "proxy.Handler.disable_nagle_algorithm = True; "
    "sys.exit(proxy.main(sys.argv[2:]))"
)


class Stack:
    """Emulator + proxy, and what a measurement needs from them."""

    def __init__(self) -> None:
        self.emulator, self.emulator_url = start(
            [PY, str(ROOT / "tests/rig/emulator.py"), "--port", "0",
             "--stabilize-seconds", str(STABILIZE_SECONDS),
             "--drain-seconds", str(DRAIN_SECONDS), "--quiet"],
            "emulator",
        )
        self.proxy, self.url = start(
            [PY, "-c", PROXY_LAUNCHER, str(ROOT / "tests/rig"), "--upstream", self.emulator_url, "--port", "0"],
            "proxy",
        )

    def _http(self, url: str, method: str = "GET", body: dict | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method)
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read() or b"{}")

    def reset_calls(self) -> None:
        self._http(f"{self.url}/_proxy/reset", "POST")

    def calls(self) -> dict:
        stats = self._http(f"{self.url}/_proxy/stats")
        if stats.get("faults") or stats.get("retries"):
            raise SystemExit(f"unexpected faults or retries at the proxy: {stats}")
        return stats["calls"]

    def configure(self, **values) -> None:
        self._http(f"{self.emulator_url}/_rig/config", "POST", values)

    def restore(self) -> None:
        self._http(f"{self.emulator_url}/_rig/config", "DELETE")

    def stop(self) -> None:
        for proc in (self.proxy, self.emulator):
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


# --------------------------------------------------------------------------
# Terraform
# --------------------------------------------------------------------------


class ProviderWatch:
    """Polls VmHWM of every terraform-provider-ecsx process Terraform starts."""

    def __init__(self, parent: int):
        self.parent = parent
        self.peak_kb = 0
        self.seen: set[int] = set()
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
                self.seen.add(pid)
                try:
                    with open(f"/proc/{pid}/status") as f:
                        for line in f:
                            if line.startswith("VmHWM:"):
                                self.peak_kb = max(self.peak_kb, int(line.split()[1]))
                except OSError:
                    pass
            self._stop.wait(0.025)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak_kb


class Terraform:
    def __init__(self, workdir: Path, env: dict[str, str]):
        self.dir = workdir
        self.env = env
        self.cmd = os.environ.get("ECSX_TERRAFORM", f"{PY} {ROOT / 'tests/rig/terraform.py'}").split()

    def run(self, *args: str, watch: bool = False) -> tuple[float, int]:
        """Runs one command; returns (seconds, peak provider RSS in kB when watched)."""
        started = time.perf_counter()
        flags = ["-no-color", "-input=false"] if args[0] in ("plan", "apply") else []
        proc = subprocess.Popen(
            [*self.cmd, args[0], *flags, *args[1:]], cwd=self.dir, env=self.env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        watcher = ProviderWatch(proc.pid) if watch else None
        out, _ = proc.communicate()
        elapsed = time.perf_counter() - started
        peak = watcher.stop() if watcher else 0
        if proc.returncode != 0:
            say(out)
            raise SystemExit(f"terraform {args[0]} failed in {self.dir}")
        return elapsed, peak


def tf_env(stack: Stack, work: Path) -> dict[str, str]:
    cli = work / "cli.tfrc"
    cli.write_text(
        "provider_installation {\n"
        f'  dev_overrides {{ "registry.terraform.io/ecsx/ecsx" = "{PROVIDER_DIR}" }}\n'
        "  direct {}\n}\ndisable_checkpoint = true\n"
    )
    empty = work / "empty"
    empty.write_text("")
    return dict(
        os.environ,
        PATH=f"{Path(PY).parent}{os.pathsep}{os.environ.get('PATH', '')}",  # the venv's `aws`
        TF_CLI_CONFIG_FILE=str(cli),
        TF_IN_AUTOMATION="1",
        AWS_ENDPOINT_URL=stack.url,
        AWS_ACCESS_KEY_ID="test",
        AWS_SECRET_ACCESS_KEY="test",
        AWS_REGION="us-east-1",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=str(empty),
        AWS_SHARED_CREDENTIALS_FILE=str(empty),
        AWS_EC2_METADATA_DISABLED="true",
        ECSX_POLL_INTERVAL=f"{POLL_SECONDS}s",
    )


# --------------------------------------------------------------------------
# 1. The canary release, two ways
# --------------------------------------------------------------------------


def step_vars(made: dict) -> list[dict]:
    v1, v2, _ = made["task_definitions"]
    return [
        {"stable_task_definition": v1},
        {"stable_task_definition": v1, "canary_task_definition": v2, "canary_traffic_percent": 10},
        {"stable_task_definition": v1, "canary_task_definition": v2, "canary_traffic_percent": 50},
        {"stable_task_definition": v2},
    ]


def check_promoted(stack: Stack, made: dict) -> None:
    """The walk must end where a promote ends: v2 PRIMARY alone with all traffic (on blue,
    or on green after a swap promotion)."""
    c = infra._clients(stack.emulator_url)
    service = made["services"][0]
    sets = c["ecs"].describe_task_sets(cluster=made["cluster"], service=service)["taskSets"]
    live = [t for t in sets if t["status"] != "DRAINING"]
    v2 = made["task_definitions"][1]
    if len(live) != 1 or live[0]["status"] != "PRIMARY" or live[0]["taskDefinition"] != v2:
        raise SystemExit(f"walk did not end promoted: {[(t['id'], t['status'], t['taskDefinition']) for t in live]}")
    rule = c["elbv2"].describe_rules(RuleArns=[made["rule_arn"]])["Rules"][0]
    weights = {g["TargetGroupArn"]: g["Weight"] for g in rule["Actions"][0]["ForwardConfig"]["TargetGroups"]}
    live_tg = next((lb["targetGroupArn"] for lb in live[0].get("loadBalancers", [])), None)
    if weights.get(live_tg) != 100:
        raise SystemExit(f"walk did not end with all traffic on {live_tg}: {weights}")


class TaskCount:
    """Samples, every 50 ms, the tasks running on a service (DRAINING task sets included: their
    tasks run until drained) as a share of its desired count."""

    def __init__(self, emulator_url: str, cluster: str, service: str):
        self.ecs = infra._clients(emulator_url)["ecs"]
        self.cluster, self.service = cluster, service
        self.peak_percent = 0.0
        self.peak_task_sets = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            svc = self.ecs.describe_services(cluster=self.cluster, services=[self.service])["services"][0]
            sets = self.ecs.describe_task_sets(cluster=self.cluster, service=self.service)["taskSets"]
            desired = max(svc.get("desiredCount", 0), 1)
            running = sum(t.get("runningCount", 0) + t.get("pendingCount", 0) for t in sets)
            self.peak_percent = max(self.peak_percent, 100.0 * running / desired)
            self.peak_task_sets = max(self.peak_task_sets, len(sets))
            self._stop.wait(0.05)

    def stop(self) -> tuple[float, int]:
        self._stop.set()
        self._thread.join()
        return self.peak_percent, self.peak_task_sets


def walk(stack: Stack, method: str, run: int, scratch: Path) -> list[dict]:
    name = f"{ {'baseline': 'bl', 'ecsx': 'ex', 'ecsx-replace': 'er'}[method] }{run}"
    made = infra.create(stack.emulator_url, name)
    work = scratch / name
    work.mkdir()
    for f in (BENCH / ("baseline" if method == "baseline" else "ecsx")).glob("*.tf"):
        shutil.copy(f, work / f.name)
    tfvars = {
        "cluster": made["cluster"],
        "service": made["services"][0],
        "subnets": made["subnets"],
        "security_groups": [made["security_group"]],
        "blue_target_group_arn": made["blue_target_group_arn"],
        "green_target_group_arn": made["green_target_group_arn"],
        "listener_arn": made["listener_arn"],
        "rule_arn": made["rule_arn"],
        "test_listener_arn": made["test_listener_arn"],
    }
    if method == "baseline":
        tfvars["poll_seconds"] = POLL_SECONDS
    if method == "ecsx-replace":
        tfvars["promotion"] = "replace"
    (work / "terraform.tfvars.json").write_text(json.dumps(tfvars))
    tf = Terraform(work, tf_env(stack, work))
    results = []
    for title, variables in zip(STEPS, step_vars(made)):
        var_args = [f"-var={k}={v}" for k, v in variables.items()]
        stack.reset_calls()
        plan_s, _ = tf.run("plan", "-out=step.plan", *var_args)
        plan_calls = stack.calls()
        stack.reset_calls()
        tasks = TaskCount(stack.emulator_url, made["cluster"], made["services"][0])
        apply_s, _ = tf.run("apply", "step.plan")
        peak_percent, peak_task_sets = tasks.stop()
        apply_calls = stack.calls()
        results.append({
            "step": title, "plan_s": plan_s, "apply_s": apply_s,
            "plan_calls": plan_calls, "apply_calls": apply_calls,
            "peak_task_percent": peak_percent, "peak_task_sets": peak_task_sets,
        })
    check_promoted(stack, made)
    return results


# --------------------------------------------------------------------------
# 2. Refresh cost
# --------------------------------------------------------------------------


def refresh(stack: Stack, sizes: list[int], runs: int, big_runs: int, scratch: Path) -> dict:
    biggest = max(sizes)
    made = infra.create(stack.emulator_url, "rf", count=biggest)
    base = scratch / f"refresh-{biggest}"
    base.mkdir()
    shutil.copy(BENCH / "refresh/main.tf", base / "main.tf")
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
    (base / "terraform.tfvars.json").write_text(json.dumps({**tfvars, "services": as_map(made["services"])}))
    # Creating the deployments is set-up, not measured: no stabilisation wait.
    stack.configure(stabilize_seconds=0)
    try:
        say(f"  creating {biggest} deployments")
        seconds, _ = Terraform(base, tf_env(stack, base)).run("apply", "-auto-approve")
        say(f"  created in {seconds:.1f} s")
    finally:
        stack.restore()
    # Smaller sizes: the same state with all but the first N deployments removed (locally).
    dirs = {}
    for n in sizes:
        if n == biggest:
            dirs[n] = base
            continue
        work = scratch / f"refresh-{n}"
        work.mkdir()
        shutil.copy(base / "main.tf", work / "main.tf")
        shutil.copy(base / "terraform.tfstate", work / "terraform.tfstate")
        (work / "terraform.tfvars.json").write_text(json.dumps({**tfvars, "services": as_map(made["services"][:n])}))
        extra = [f'ecsx_canary_deployment.svc["{s}"]' for s in made["services"][n:]]
        Terraform(work, tf_env(stack, work)).run("state", "rm", *extra)
        dirs[n] = work
    out = {}
    for n in sizes:
        tf = Terraform(dirs[n], tf_env(stack, dirs[n]))
        samples = []
        for _ in range(big_runs if n == biggest else runs):
            stack.reset_calls()
            seconds, peak = tf.run("plan", "-detailed-exitcode", watch=(n == biggest))
            calls = stack.calls()
            # The same plan without the refresh: Terraform, the plugin transport and the
            # provider's planning alone, no AWS call. The difference is what refreshing costs.
            local_s, _ = tf.run("plan", "-detailed-exitcode", "-refresh=false")
            samples.append({"plan_s": seconds, "calls": calls, "peak_rss_kb": peak, "plan_no_refresh_s": local_s})
        out[n] = samples
        say(f"  {n:>3} deployments: plan {statistics.median(s['plan_s'] for s in samples):.2f} s, "
            f"{statistics.median(sum(s['calls'].values()) for s in samples) / n:.1f} calls per deployment")
    return out


# --------------------------------------------------------------------------
# 3. The provider itself
# --------------------------------------------------------------------------


def client_cert_pem() -> str:
    """A client certificate like Terraform's: ECDSA P-521, self-signed, CA:true."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP521R1())
    name = x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "HashiCorp"),
        x509.NameAttribute(NameOID.COMMON_NAME, "localhost"),
    ])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(seconds=30))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA512())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def handshake(binary: Path, runs: int) -> list[float]:
    """Milliseconds from spawning the plugin to reading its handshake line."""
    env = dict(
        os.environ,
        TF_PLUGIN_MAGIC_COOKIE=MAGIC_COOKIE,
        PLUGIN_PROTOCOL_VERSIONS="6",
        PLUGIN_CLIENT_CERT=client_cert_pem(),
    )
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        proc = subprocess.Popen([str(binary)], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        line = proc.stdout.readline() if proc.stdout else b""
        samples.append((time.perf_counter() - started) * 1000)
        proc.kill()
        proc.wait()
        if not line.startswith(b"1|6|tcp|"):
            raise SystemExit(f"unexpected handshake line: {line!r}")
    return samples


def startup_phases(binary: Path, runs: int) -> dict:
    """Where the time before the handshake line goes: ECSX_STARTUP_TRACE=1 makes the provider
    print microseconds since main() per phase on stderr; `--version` (start, print, exit) is
    the floor a process start costs. Medians of `runs` starts, in milliseconds."""
    env = dict(
        os.environ,
        TF_PLUGIN_MAGIC_COOKIE=MAGIC_COOKIE,
        PLUGIN_PROTOCOL_VERSIONS="6",
        PLUGIN_CLIENT_CERT=client_cert_pem(),
        ECSX_STARTUP_TRACE="1",
    )
    phases: dict[str, list[float]] = {}
    version_ms = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([str(binary), "--version"], capture_output=True, check=True)
        version_ms.append((time.perf_counter() - started) * 1000)
        proc = subprocess.Popen([str(binary)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        proc.stdout.readline()
        time.sleep(0.05)  # let it reach serving, so the phases after the line are printed too
        proc.kill()
        _, err = proc.communicate()
        for line in err.decode(errors="replace").splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[0] == "startup" and parts[2].endswith("us"):
                phases.setdefault(parts[1], []).append(int(parts[2][:-2]) / 1000)
    return {"version_ms": version_ms,
            "phases_ms": {k: statistics.median(v) for k, v in phases.items()}}


def machine() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    tf_version = subprocess.run(
        [*os.environ.get("ECSX_TERRAFORM", f"{PY} {ROOT / 'tests/rig/terraform.py'}").split(), "version"],
        capture_output=True, text=True,
    ).stdout.splitlines()
    aws_version = subprocess.run(
        [str(Path(PY).parent / "aws"), "--version"], capture_output=True, text=True
    ).stdout.strip()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "os": platform.platform(),
        "load_at_start": os.getloadavg(),
        "terraform": tf_version[0] if tf_version else "unknown",
        "aws_cli": aws_version.split()[0] if aws_version else "unknown",
        "date": datetime.date.today().isoformat(),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3, help="runs of each canary walk and each plan")
    ap.add_argument("--refresh-runs", type=int, default=5, help="plans per size below the largest")
    ap.add_argument("--big-runs", type=int, default=5, help="plans of the largest size")
    ap.add_argument("--sizes", default="1,10,50,100", help="deployment counts for the refresh cost")
    ap.add_argument("--handshake-runs", type=int, default=20)
    ap.add_argument("--scale-sizes", default=DEFAULT_SCALE_SIZES,
                    help="deployment counts for the scale bench (empty: skip it)")
    ap.add_argument("--scale-runs", type=int, default=1, help="plans per size and mode")
    ap.add_argument("--floor-sizes", default="1,10,100,500,1000",
                    help="deployment counts for the floor comparison (empty: skip it)")
    ap.add_argument("--floor-runs", type=int, default=3, help="plans per size and way")
    ap.add_argument("--rollback-runs", type=int, default=20,
                    help="alarm flips, and abort actions, of the rollback bench (0: skip it)")
    ap.add_argument("--check-interval", type=float, default=5.0,
                    help="the alarm check interval of the rollback bench, in seconds")
    ap.add_argument("--judge-runs", type=int, default=5,
                    help="releases the judge rolls back, for its latency (0: skip the judge bench)")
    ap.add_argument("--judge-check-interval", type=float, default=5.0,
                    help="the judge's check interval, in seconds")
    ap.add_argument("--only", choices=["scale", "walk", "floor", "rollback", "judge"], default=None,
                    help="only one part: the scale bench, the canary walks (with the provider's own "
                         "figures), the floor comparison, the rollback bench or the judge bench")
    ap.add_argument("--out", type=Path, default=ROOT / "docs", help="where benchmarks.md/.png go")
    args = ap.parse_args()
    sizes = sorted({int(s) for s in args.sizes.split(",")})
    scale_sizes = sorted({int(s) for s in args.scale_sizes.split(",") if s.strip()})
    floor_sizes = sorted({int(s) for s in args.floor_sizes.split(",") if s.strip()})

    binary = PROVIDER_DIR / "terraform-provider-ecsx"
    if not binary.exists():
        raise SystemExit("build the provider first: cargo build --release")
    started = time.perf_counter()
    results: dict = {"machine": machine(), "settings": {
        "runs": args.runs, "refresh_runs": args.refresh_runs, "big_runs": args.big_runs,
        "stabilize_seconds": STABILIZE_SECONDS, "drain_seconds": DRAIN_SECONDS,
        "poll_seconds": POLL_SECONDS, "sizes": sizes,
        "scale_sizes": scale_sizes, "scale_runs": args.scale_runs, "only": args.only,
        "floor_sizes": floor_sizes, "floor_runs": args.floor_runs,
        "rollback_runs": args.rollback_runs, "check_interval": args.check_interval,
        "judge_runs": args.judge_runs, "judge_check_interval": args.judge_check_interval,
    }}
    say(f"provider: {binary}")
    results["provider_dir"] = str(PROVIDER_DIR.relative_to(ROOT)) if PROVIDER_DIR.is_relative_to(ROOT) else str(PROVIDER_DIR)
    results["binary_bytes"] = binary.stat().st_size
    results["handshake_ms"] = handshake(binary, args.handshake_runs)
    say(f"handshake: median {statistics.median(results['handshake_ms']):.1f} ms")
    results["startup"] = startup_phases(binary, args.handshake_runs)
    say(f"start-up phases (ms since main): {results['startup']['phases_ms']}, "
        f"--version {statistics.median(results['startup']['version_ms']):.1f} ms")

    stack = Stack()
    scratch = Path(tempfile.mkdtemp(prefix="ecsx-bench-"))
    try:
        say(f"emulator {stack.emulator_url}, counting proxy {stack.url}")
        walks: dict[str, list] = {m: [] for m in METHODS}
        for run in range(1, args.runs + 1 if args.only in (None, "walk") else 1):
            # Alternate which side goes first, so drift in machine load hits both alike.
            for method in (METHODS if run % 2 else METHODS[::-1]):
                t0 = time.perf_counter()
                walks[method].append(walk(stack, method, run, scratch))
                promote = walks[method][-1][-1]
                say(f"canary walk {run}/{args.runs} {method:<12} {time.perf_counter() - t0:5.1f} s; "
                    f"promote {promote['apply_s']:.1f} s, peak {promote['peak_task_percent']:.0f}% of desired, "
                    f"{promote['peak_task_sets']} task sets")
        results["walks"] = walks
        if args.only is None:
            say("refresh cost")
            results["refresh"] = refresh(stack, sizes, args.refresh_runs, args.big_runs, scratch)
        if scale_sizes and args.only in (None, "scale"):
            say("scale: coalesced reads and AWS-like rate limits")
            results["scale"] = scale.run(stack, Terraform, tf_env, ProviderWatch, scale_sizes,
                                         args.scale_runs, scratch, BENCH, say)
        if floor_sizes and args.only in (None, "floor"):
            if not FLOOR_BINARY.exists():
                raise SystemExit("build the floor first: cargo build --release --example bench-floor")
            say("floor: ecsx, the no-op provider and terraform_data, side by side")
            results["floor"] = floor_scale.run(stack, Terraform, tf_env, floor_sizes, args.floor_runs,
                                               scratch, BENCH, FLOOR_BINARY, PROVIDER_DIR, say)
        if args.rollback_runs and args.only in (None, "rollback"):
            say(f"rollback latency: {args.rollback_runs} alarm flips and {args.rollback_runs} abort actions")
            results["rollback"] = rollback.run(stack, Terraform, tf_env, args.rollback_runs,
                                               args.check_interval, scratch, BENCH, say)
        if args.judge_runs and args.only in (None, "judge"):
            say(f"the judge: calls per check and per release, and {args.judge_runs} rollbacks on a bad window")
            # Each release on an emulator and proxy of its own (the judge's releases run side by
            # side, on the real clock).
            results["judge"] = judge.run(Stack, Terraform, tf_env, args.judge_runs,
                                         args.judge_check_interval, scratch, BENCH, say)
            results["judge"]["machine"] = {**results["machine"], "load_at_end": os.getloadavg()}
            kept = BENCH / "results" / f"judge-{results['machine']['date']}.json"
            kept.write_text(json.dumps(results["judge"], indent=1) + "\n")
            say(f"wrote {kept}")
    finally:
        stack.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    results["bench_seconds"] = time.perf_counter() - started
    results["machine"]["load_at_end"] = os.getloadavg()

    raw = ROOT / "target/bench/results.json"
    raw.parent.mkdir(parents=True, exist_ok=True)
    if args.only in ("floor", "rollback", "judge") and raw.exists():
        # One part measured again: kept beside the full run's other parts.
        full = json.loads(raw.read_text())
        if full.get("settings", {}).get("only") is None and full.get("walks"):
            full[args.only] = results[args.only]
            full.setdefault("parts_rerun", {})[args.only] = results["machine"]
            results = full
    raw.write_text(json.dumps(results, indent=1))
    if args.only and results.get("settings", {}).get("only") is not None:
        if args.only == "judge" and "judge" in results:
            # No full run to redo the report from: the judge's section, in place.
            judge_report.splice(results, args.out / "benchmarks.md")
            say(f"wrote {raw} and the judge's section of {args.out / 'benchmarks.md'}")
            return 0
        say(f"wrote {raw} (--only: no report)")
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    report.write(results, args.out / "benchmarks.md", args.out / "benchmarks.png")
    say(f"wrote {args.out / 'benchmarks.md'}, {args.out / 'benchmarks.png'} and {raw} "
        f"in {results['bench_seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
