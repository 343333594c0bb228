"""`nbctl status --refresh` over a fleet in three clouds' emulators; `nbctl status` over its rows.

    python scripts/bench_fleet.py [--instances 1000] [--latency 0.1] [--runs 5]

Builds N nbctl-made instances (40 % Compute Engine spot VMs over 3 zones, 30 % EC2 spot
instances, 30 % Paperspace machines) in the project's emulators, each answering every API
request --latency seconds late, as over a network. Then, with the real CLI in subprocesses:
1. a first `status --refresh` adopts them into a fresh store: every instance must be listed,
   RUNNING, under its provider (and its zone, on GCE);
2. `status --refresh` with nothing changed, --runs times, each beside a `python -c pass`:
   median wall times, the requests each provider got, and the store's write transactions
   (SQLite's file change counter, database header offset 24), which must stay 0;
3. `status` (no refresh) over the N rows, --runs times: the median;
4. 1 % of the fleet stopped in the clouds: the next refresh writes exactly those rows, in one
   transaction.
Targets (issue 17): at 1,000 instances and 100 ms, refresh median <= 2.0 s, nothing written on
a refresh with nothing changed; `status` <= 0.40 s with 1,000 rows; at 10,000, at most ten
times the 1,000 figure. Exit status 1 when a check fails (a slow figure is only reported).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

OWNER = "bench"
GCE_ZONES = ("us-central1-a", "us-central1-b", "us-central1-c")
PS_REGIONS = ("East Coast (NY2)", "West Coast (CA1)", "Europe (AMS1)")


def nbctl_command() -> list[str]:
    beside = Path(sys.executable).with_name("nbctl")
    return [str(beside)] if beside.exists() else [sys.executable, "-m", "nbctl_cloud"]


def run(cmd: list[str], env: dict) -> tuple[float, str]:
    t0 = time.perf_counter()
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    wall = time.perf_counter() - t0
    if res.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({res.returncode}):\n{res.stderr}")
    return wall, res.stdout


def commits(db: Path) -> int:
    """SQLite's file change counter: one more per write transaction committed."""
    with db.open("rb") as f:
        f.seek(24)
        return int.from_bytes(f.read(4), "big")


class Fleet:
    """The three emulators, seeded with nbctl-made instances; request counts per provider."""

    def __init__(self, total: int):
        from tests.emulators.aws import AwsEmulator, Delays as AwsDelays
        from tests.emulators.gcp import Delays, GcpEmulator
        from tests.emulators.paperspace.server import Delays as PsDelays
        from tests.emulators.paperspace.server import PaperspaceEmulator

        self.gcp = GcpEmulator(delays=Delays(operation=0.01, provision=0.01)).start()
        self.aws = AwsEmulator(delays=AwsDelays(provision=0.01, stop=0.01, delete=0.01)).start()
        # 120: the documented maximum of `limit`, which nbctl asks for
        self.ps = PaperspaceEmulator(page_size=120, delays=PsDelays(provision=0.01)).start()
        n_gce, n_ec2 = total * 4 // 10, total * 3 // 10
        self.expected: dict[str, tuple[str, str | None]] = {}  # name -> (provider, GCE zone)
        self._seed_gce(n_gce)
        self._seed_ec2(n_ec2)
        self._seed_paperspace(total - n_gce - n_ec2)

    def env(self) -> dict[str, str]:
        return {**self.gcp.env(), **self.aws.env(), **self.ps.env()}

    def set_latency(self, seconds: float) -> None:
        self.gcp.latency = self.ps.latency = self.aws.layer.latency = seconds

    def counts(self) -> dict[str, Counter]:
        with self.gcp.clock.lock:
            gcp = Counter({m.replace("projects.locations.", ""): n
                           for m, n in self.gcp.counts.items()})
        aws = Counter(f"{c.service}.{c.action}" for c in list(self.aws.layer.calls))
        with self.ps._lock:
            ps = Counter(f"{r['method']} {r['route']}" for r in self.ps.requests)
        return {"gcp": gcp, "aws": aws, "paperspace": ps}

    def stop(self) -> None:
        self.gcp.stop()
        self.aws.stop()
        self.ps.stop()

    # -- seeding, through each emulator's own API or state ---------------------------------
    def _seed_gce(self, n: int) -> None:
        with self.gcp.clock.lock:
            for i in range(n):
                name, zone = f"gce-{i:05d}", GCE_ZONES[i % len(GCE_ZONES)]
                self.gcp.add_instance(name, zone, labels=labels(name), spot=True)
                self.expected[name] = ("gcp", zone)

    def _seed_ec2(self, n: int) -> None:
        """One RunInstances per instance, as nbctl launches them (a reservation each)."""
        import boto3

        ec2 = boto3.client("ec2", region_name="us-east-1", endpoint_url=self.aws.url,
                           aws_access_key_id="testing", aws_secret_access_key="testing")
        image = self.aws.seed_dlami()

        def launch(i: int) -> None:
            name = f"ec2-{i:05d}"
            ec2.run_instances(
                ImageId=image, InstanceType="g4dn.xlarge", MinCount=1, MaxCount=1,
                Placement={"AvailabilityZone": "us-east-1a"},
                InstanceMarketOptions={"MarketType": "spot", "SpotOptions": {
                    "SpotInstanceType": "persistent", "InstanceInterruptionBehavior": "stop"}},
                TagSpecifications=[{"ResourceType": "instance", "Tags": [
                    {"Key": k, "Value": v} for k, v in {**labels(name), "Name": name}.items()]}])

        for i in range(n):  # one at a time: the emulator's RunInstances is not thread-safe
            launch(i)
        self.expected.update({f"ec2-{i:05d}": ("aws", None) for i in range(n)})

    def _seed_paperspace(self, n: int) -> None:
        import httpx

        with httpx.Client(base_url=self.ps.url + "/", timeout=60,
                          headers={"Authorization": f"Bearer {self.ps.key}"}) as http:
            def make(i: int) -> None:
                name = f"ps-{i:05d}"
                script = http.post("startup-scripts", json={
                    "name": f"nbctl:{OWNER}:{name}:0123abcd", "script": "#!/bin/sh\n",
                    "isRunOnce": False}).raise_for_status().json()
                http.post("machines", json={
                    "name": name, "machineType": "A4000", "templateId": "tmlinabox22",
                    "diskSize": 100, "region": PS_REGIONS[i % len(PS_REGIONS)],
                    "publicIpType": "dynamic", "startupScriptId": script["id"],
                    "startOnCreate": True, "emailPassword": False,
                    "autoShutdownEnabled": False}).raise_for_status()

            _each(make, range(n))
        self.expected.update({f"ps-{i:05d}": ("paperspace", None) for i in range(n)})

    def stop_some(self, share: float) -> set[str]:
        """Stop this share of every provider's instances in the clouds; their names."""
        import boto3
        import httpx

        names = sorted(self.expected)
        pick = {p: [n for n in names if self.expected[n][0] == p] for p in
                ("gcp", "aws", "paperspace")}
        pick = {p: ns[:max(1, int(len(ns) * share))] for p, ns in pick.items()}
        with self.gcp.clock.lock:
            for name in pick["gcp"]:
                self.gcp.compute.instances[(self.expected[name][1], name)]["status"] = "TERMINATED"
        ec2 = boto3.client("ec2", region_name="us-east-1", endpoint_url=self.aws.url,
                           aws_access_key_id="testing", aws_secret_access_key="testing")
        found = ec2.describe_instances(Filters=[{"Name": "tag:nbctl-name",
                                                 "Values": pick["aws"]}])
        ec2.stop_instances(InstanceIds=[i["InstanceId"] for r in found["Reservations"]
                                        for i in r["Instances"]])
        with httpx.Client(base_url=self.ps.url + "/", timeout=60,
                          headers={"Authorization": f"Bearer {self.ps.key}"}) as http:
            for m in self.ps.live_machines():
                if m["name"] in pick["paperspace"]:
                    http.patch(f"machines/{m['id']}/stop").raise_for_status()
        return {n for ns in pick.values() for n in ns}


def _each(fn, items) -> None:
    """fn(item) for every item, eight at a time (seeding only)."""
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(fn, items))


def labels(name: str) -> dict[str, str]:
    return {"nbctl-name": name, "nbctl-owner": OWNER, "nbctl-spec-hash": "0123abcd"}


def anchor_store(home: str) -> None:
    """One row per provider, so that `status --refresh` lists all three (it lists the
    providers the store knows); the first refresh adopts the rest."""
    os.environ["NBCTL_HOME"] = home
    from nbctl_cloud.model import Instance, State
    from nbctl_cloud.store import Store

    store = Store()
    for name, provider in (("gce-00000", "gcp"), ("ec2-00000", "aws"), ("ps-00000", "paperspace")):
        store.save(Instance(name=name, provider=provider, state=State.RUNNING, labels=labels(name)))
    store.engine.dispose()


def check_listed(fleet: Fleet, rows: list[dict]) -> list[str]:
    got = {r["name"]: r for r in rows}
    problems = [f"{n} not listed" for n in fleet.expected if n not in got]
    problems += [f"{n} listed but not in the fleet" for n in got if n not in fleet.expected]
    for name, (provider, zone) in fleet.expected.items():
        r = got.get(name)
        if r and (r["provider"], r["state"]) != (provider, "RUNNING"):
            problems.append(f"{name}: {r['provider']} {r['state']}, not {provider} RUNNING")
        if r and zone and r["zone"] != zone:
            problems.append(f"{name}: zone {r['zone']}, not {zone}")
    return problems


def _children_cpu() -> float:
    """User and system CPU of this process's finished children (nbctl and its listing
    processes)."""
    import resource
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def compile_nbctl() -> None:
    """nbctl's modules compiled to bytecode, as `pip install` leaves a wheel's. An editable
    install compiles them on first import and keeps the result, unless PYTHONDONTWRITEBYTECODE
    is set (it is on some CI and sandbox images): then every nbctl run would compile the ~120
    modules it imports again, about 0.1 s a process, which no installed nbctl spends."""
    import compileall

    import nbctl_cloud
    import nbctl_cloud.providers

    for package in (nbctl_cloud, nbctl_cloud.providers):
        compileall.compile_dir(os.path.dirname(package.__file__), quiet=1)


def median_pair(cmd: list[str], env: dict, runs: int, db: Path | None = None):
    """`cmd` and `python -c pass` alternately, `runs` times: medians, walls, commits made."""
    walls, bare, before = [], [], commits(db) if db else 0
    for _ in range(runs):
        bare.append(run([sys.executable, "-c", "pass"], env)[0])
        walls.append(run(cmd, env)[0])
    return statistics.median(walls), statistics.median(bare), walls, \
        (commits(db) - before if db else 0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--instances", type=int, default=1000, help="fleet size (try 10000)")
    ap.add_argument("--latency", type=float, default=0.1, help="seconds per API request")
    ap.add_argument("--runs", type=int, default=5, help="timed runs of each command")
    ap.add_argument("--nbctl", default=None,
                    help="the nbctl command to time (default: the one beside this Python), "
                         "e.g. another checkout's, to compare in the same conditions")
    args = ap.parse_args(argv)

    home = tempfile.mkdtemp(prefix="nbctl-fleet-")
    compile_nbctl()
    t0 = time.perf_counter()
    fleet = Fleet(args.instances)
    # The emulators' state is made: the collector of this process (the clouds' stand-in, on
    # the cores nbctl is timed on) need not walk it again at every collection their answers set
    # off, as no cloud's service spends the machine's CPU on it.
    import gc
    gc.freeze()
    print(f"fleet: {args.instances} instances seeded in {time.perf_counter() - t0:.1f} s "
          f"(gce {sum(p == 'gcp' for p, _ in fleet.expected.values())} over "
          f"{len(GCE_ZONES)} zones, ec2 {sum(p == 'aws' for p, _ in fleet.expected.values())}, "
          f"paperspace {sum(p == 'paperspace' for p, _ in fleet.expected.values())}); "
          f"latency {args.latency * 1000:g} ms a request")
    anchor_store(home)
    db = Path(home) / "data" / "state.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NBCTL_", "AWS_"))}
    env.update(fleet.env(), NBCTL_HOME=home, NBCTL_OWNER=OWNER)
    nbctl = args.nbctl.split() if args.nbctl else nbctl_command()
    print(f"nbctl: {' '.join(nbctl)}")
    failures: list[str] = []
    try:
        time.sleep(0.2)  # the emulators' short provisioning delays pass
        fleet.set_latency(args.latency)
        wall, out = run([*nbctl, "status", "--refresh", "-o", "json"], env)
        problems = check_listed(fleet, json.loads(out))
        print(f"first refresh (adopts the fleet): {wall:.2f} s; "
              f"{'all listed correctly' if not problems else f'{len(problems)} problems'}")
        failures += problems[:10]

        before = fleet.counts()
        cpu0, kids0 = time.process_time(), _children_cpu()
        med, bare, walls, written = median_pair([*nbctl, "status", "--refresh"], env,
                                                args.runs, db)
        emu_cpu = (time.process_time() - cpu0) / args.runs
        nbctl_cpu = (_children_cpu() - kids0) / args.runs  # `python -c pass` included: ~0.05 s
        after = fleet.counts()
        print(f"\nstatus --refresh, nothing changed ({args.runs} runs): median {med:.2f} s "
              f"(runs {', '.join(f'{w:.2f}' for w in walls)}); python -c pass {bare:.3f} s")
        print(f"  store write transactions over those runs: {written} (target 0)")
        print(f"  CPU per refresh: nbctl's processes {nbctl_cpu:.2f} s, the emulators' "
              f"(in this process, on the same cores) {emu_cpu:.2f} s")
        print("  requests per refresh:")
        for provider in ("gcp", "aws", "paperspace"):
            delta = after[provider] - before[provider]
            per = {k: v // args.runs for k, v in delta.items()}
            print(f"    {provider:10} {sum(per.values()):3}  " +
                  ", ".join(f"{k}={v}" for k, v in sorted(per.items())))
        if written:
            failures.append(f"{written} write transactions on refreshes with nothing changed")

        smed, sbare, swalls, _ = median_pair([*nbctl, "status"], env, args.runs)
        print(f"\nstatus (no refresh, {args.instances} rows): median {smed:.3f} s "
              f"(runs {', '.join(f'{w:.3f}' for w in swalls)}); python -c pass {sbare:.3f} s")

        from nbctl_cloud.store import Store
        store = Store(f"sqlite:///{db}")
        stamps = {r.instance.name: r.updated_at for r in store.all()}
        stopped = fleet.stop_some(0.01)
        c0 = commits(db)
        wall, _ = run([*nbctl, "status", "--refresh"], env)
        changed = {r.instance.name for r in store.all() if r.updated_at != stamps[r.instance.name]}
        store.engine.dispose()
        print(f"\nrefresh after {len(stopped)} instances were stopped in the clouds: {wall:.2f} s, "
              f"{len(changed)} rows written in {commits(db) - c0} transaction(s)")
        if changed != stopped or commits(db) - c0 != 1:
            failures.append(f"rows written {sorted(changed ^ stopped)[:5]} differ from those "
                            f"stopped, or {commits(db) - c0} transactions instead of 1")
    finally:
        fleet.stop()
        shutil.rmtree(home, ignore_errors=True)
    for f in failures:
        print(f"FAILED: {f}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
