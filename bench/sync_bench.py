"""Benchmark: how fast regsync syncs a portfolio, against the floor of merely downloading it.

    python bench/sync_bench.py --studies 10000            # measures N = 10,000 and 50,000
    python bench/sync_bench.py --studies 10000 50000      # the same, sizes given explicitly
    python bench/sync_bench.py --studies 2000 --profile   # also writes a cProfile per phase

For each size N, one run:

- starts the fake API (``tests/support/fakeapi``) serving N synthetic studies in a separate
  *process* (so the server's CPU never shares a GIL with the client being measured);
- floor: downloads every page with the request pattern regsync uses (``GET /studies`` with
  ``filter.ids`` batches from ``regsync.client.id_batches``, ``pageSize=1000``, following
  ``nextPageToken``) on one keep-alive ``requests.Session``, each body in one read as
  regsync's client reads it, and parses each body with ``orjson.loads`` (the parser regsync
  uses), the garbage collector paused while parsing and one page in memory at a time: the
  tightest floor we know how to write. Best of two runs, in the benchmark process (no
  interpreter start-up in it);
- regsync: ``regsync --db DB --api-url URL sync --quiet`` as a fresh child process for each
  measurement (REGSYNC_DELAY=0), wall time including interpreter start-up, peak RSS from
  ``os.wait4`` (that child only): first sync of a watchlist of N and unchanged ``--full``
  re-sync, each the best of two (two databases), like the floor; then incremental re-sync
  after 1% of the studies changed (new LastUpdatePostDate, registry dataTimestamp moved one
  day), with the HTTP requests the fake API received.

Prints a Markdown table. regsync's modules are byte-compiled first, as installing it does (see
bench/startup_bench.py: a checkout run with PYTHONDONTWRITEBYTECODE=1 would otherwise compile
every module of a sync from source in each child, about 0.15 s that no installed regsync pays).

Last full run (2 CPUs, Python 3.11; README "Performance"), after pages came to be read beside
the writer (regsync/prepared.py): floor 1.49 s / 7.26 s for 10,000 / 50,000 studies; first
sync 1.28x / 1.05x the floor (target 1.5x: met); unchanged --full 1.16x / 0.96x (target 1.2x:
met); incremental with 1% changed 3 / 5 requests, the budget exactly; peak RSS of the largest
process 145-169 MB; per-study cost at 50,000 vs 10,000: 0.80x first, 0.81x full. The same
code minutes later at 10,000: 1.21x first, 1.22x full: the ratios move by about 0.1 between
runs. Before the readers, the same day: 1.87x / 1.71x first, 1.16x / 0.99x full.

With ``--profile`` only the writer is profiled: the readers' work (parse, hash, obligation,
compression) happens in forked processes cProfile does not see.
"""

from __future__ import annotations

import argparse
import compileall
import gc
import math
import multiprocessing as mp
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# The fake API is test infrastructure (tests/support/fakeapi) and does not ship with regsync.
sys.path.insert(0, str(ROOT / "tests"))

from regsync.client import MAX_PAGE_SIZE, id_batches, _encode  # noqa: E402
from regsync.sync import DEFAULT_RECHECK_SHARE  # noqa: E402
from seed_bench import TreePeak  # noqa: E402  (bench/ is this script's own directory)

DATA_TS_0 = "2026-09-04T09:00:06"
DATA_TS_1 = "2026-09-05T09:00:06"
CHANGED_POST_DATE = "2026-09-05"
CHANGED_SHARE = 0.01


# --- the fake API, in its own process ---------------------------------------------------------


def _server_main(n: int, conn) -> None:
    from support.fakeapi import FakeRegistry, history_markup, mutate, serve, synthesize

    registry = FakeRegistry(data_timestamp=DATA_TS_0)
    for record in synthesize(n):
        registry.add(record)
    with serve(registry) as server:
        conn.send((server.url, registry.ids()))
        while True:
            cmd, *args = conn.recv()
            if cmd == "stop":
                conn.send("bye")
                return
            if cmd == "reset_log":
                registry.reset_log()
                conn.send(None)
            elif cmd == "log":
                conn.send([
                    (r.path, {k: v[-1] for k, v in r.query.items() if k != "filter.ids"},
                     len(r.query.get("filter.ids", [""])[-1].split(",")) if "filter.ids" in r.query else 0,
                     r.status)
                    for r in registry.requests
                ])
            elif cmd == "mutate":
                share, post_date, data_ts = args
                ids = registry.ids()
                step = max(1, round(1 / share))
                changed = ids[::step]
                for nct_id in changed:
                    before = registry.get(nct_id)
                    after = mutate(before, post_date)
                    registry.add(after)
                    # The registry's history of each changed study (the sync's fill-in reads it):
                    # the version before (the first time) and the new one.
                    if registry.history_index(nct_id) is None:
                        registry.add_history(nct_id, before["protocolSection"]["statusModule"]["lastUpdateSubmitDate"],
                                             history_markup(before))
                    registry.add_history(nct_id, after["protocolSection"]["statusModule"]["lastUpdateSubmitDate"],
                                         history_markup(after))
                registry.data_timestamp = data_ts
                conn.send(len(changed))
            else:
                conn.send(f"unknown command {cmd!r}")


class Server:
    """The fake API in its own process, driven over a pipe; ``main`` serves it (another
    benchmark passes its own, with its own commands)."""

    def __init__(self, n: int, main=None):
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=main or _server_main, args=(n, child), daemon=True)
        self.proc.start()
        self.url, self.ids = self.conn.recv()

    def call(self, *cmd):
        self.conn.send(cmd)
        return self.conn.recv()

    def close(self) -> None:
        try:
            self.call("stop")
        finally:
            self.proc.join(10)
            if self.proc.is_alive():
                self.proc.kill()


# --- measurements ------------------------------------------------------------------------------


def floor(url: str, ids: list[str]) -> tuple[float, int, int]:
    """Seconds to download and parse every page regsync would ask for; (secs, studies, bytes)."""
    session = requests.Session()
    session.headers.update({"Accept": "application/json"})
    studies = nbytes = 0
    started = time.perf_counter()
    for batch in id_batches(ids, url):
        params = {"format": "json", "markupFormat": "markdown", "filter.ids": ",".join(batch),
                  "pageSize": str(MAX_PAGE_SIZE)}
        token = None
        while True:
            query = dict(params, **({"pageToken": token} if token else {}))
            # Read as regsync's client reads: the body in one read (stream=True,
            # iter_content(None)), not in requests' default 10 KiB chunks.
            response = session.get(f"{url}/studies?" + _encode(query), timeout=60, stream=True)
            response.raise_for_status()
            body = b"".join(response.iter_content(chunk_size=None))
            nbytes += len(body)
            page = None  # one page in memory at a time
            gc.disable()  # parsed JSON has no cycles: collecting while parsing is pure cost
            try:
                page = orjson.loads(body)
            finally:
                gc.enable()
            studies += len(page["studies"])
            token = page.get("nextPageToken")
            if not token:
                break
    elapsed = time.perf_counter() - started
    session.close()
    return elapsed, studies, nbytes


def regsync(
    db: Path, url: str, *args: str, profile: Path | None = None, tree: list[int] | None = None
) -> tuple[float, float, int, str]:
    """Run ``regsync ... sync --quiet ARGS`` in a fresh child: (seconds, peak RSS MB, exit,
    stderr). With ``tree``, the RSS of the sync and its page readers together is sampled
    from /proc every 20 ms and its peak (bytes) appended: that run is not timed fairly."""
    env = dict(os.environ, REGSYNC_DELAY="0", REGSYNC_RECHECK=str(DEFAULT_RECHECK_SHARE))
    env.pop("REGSYNC_DB", None)
    cmd = [sys.executable]
    if profile is not None:
        cmd += ["-m", "cProfile", "-o", str(profile)]
    cmd += ["-m", "regsync", "--db", str(db), "--api-url", url, "sync", "--quiet", *args]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    sampler = TreePeak(proc.pid, every=0.02) if tree is not None else None
    stderr = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    if sampler is not None and tree is not None:
        tree.append(sampler.stop())
    proc.returncode = os.waitstatus_to_exitcode(status)
    return elapsed, usage.ru_maxrss / 1024, proc.returncode, stderr.decode(errors="replace")


def startup_seconds() -> float:
    best = math.inf
    for _ in range(3):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "regsync", "--version"], stdout=subprocess.DEVNULL, check=True)
        best = min(best, time.perf_counter() - started)
    return best


def bench_size(n: int, workdir: Path, profile_dir: Path | None) -> dict:
    from regsync.store import Store

    t0 = time.perf_counter()
    server = Server(n)
    setup = time.perf_counter() - t0
    try:
        url, ids = server.url, server.ids
        assert len(ids) == n, (len(ids), n)
        # Two databases, so that the first sync and the --full re-sync are, like the floor,
        # the best of two runs (the same estimator on both sides of each ratio).
        dbs = [workdir / f"bench_{n}.db", workdir / f"bench_{n}_b.db"]
        for path in dbs:
            with Store.open_write(path) as store:
                store.watch_add(ids)

        def prof(name: str, i: int) -> Path | None:
            return profile_dir / f"{name}_{n}{'_b' * i}.prof" if profile_dir else None

        floors, firsts, fulls = [], [], []
        for i, path in enumerate(dbs):
            floors.append(floor(url, ids))
            firsts.append(regsync(path, url, profile=prof("first", i)))
            assert firsts[-1][2] == 0, firsts[-1][3]
            fulls.append(regsync(path, url, "--full", profile=prof("full", i)))
            assert fulls[-1][2] == 0, fulls[-1][3]
        # The sync and its readers together, sampled: a third database, a run not timed.
        tree: list[int] = []
        spare_db = workdir / f"bench_{n}_c.db"
        with Store.open_write(spare_db) as store:
            store.watch_add(ids)
        assert regsync(spare_db, url, tree=tree)[2] == 0
        for spare in workdir.glob(f"{spare_db.name}*"):
            spare.unlink()
        floor_s, floor_studies, floor_bytes = min(floors)
        assert floor_studies == n
        # Best wall time; peak RSS is the larger of the two.
        first = (min(r[0] for r in firsts), max(r[1] for r in firsts), 0, "")
        full = (min(r[0] for r in fulls), max(r[1] for r in fulls), 0, "")
        db = dbs[0]
        for spare in workdir.glob(f"{dbs[1].name}*"):
            spare.unlink()

        changed = server.call("mutate", CHANGED_SHARE, CHANGED_POST_DATE, DATA_TS_1)
        server.call("reset_log")
        inc = regsync(db, url, profile=prof("incremental", 0))
        assert inc[2] == 0, inc[3]
        log = server.call("log")
        date_queries = [r for r in log if "filter.advanced" in r[1]]
        batches = [r for r in log if r[2]]
        singles = [r for r in log if r[0].startswith("/api/v2/studies/")]
        versions = [r for r in log if r[0].endswith("/version")]
        history = [r for r in log if r[0].startswith("/api/int/")]
        # The next night: the same share changes again; each study's fill-in now finds only
        # the new version, numbered by its date (steady state: one index request each).
        changed_2 = server.call("mutate", CHANGED_SHARE, "2026-09-08", "2026-09-08T09:00:06")
        server.call("reset_log")
        inc_2 = regsync(db, url)
        assert inc_2[2] == 0, inc_2[3]
        log_2 = server.call("log")
        history_2 = [r for r in log_2 if r[0].startswith("/api/int/")]
        fetched = sum(r[2] for r in batches)
        recheck = math.ceil(n * DEFAULT_RECHECK_SHARE)
        # What the registry reports as changed since (dataTimestamp date - 1 day), registry-wide.
        light_studies = None
        with requests.get(
            f"{url}/studies?" + _encode({"filter.advanced": "AREA[LastUpdatePostDate]RANGE[2026-09-03,MAX]",
                                         "fields": "NCTId", "pageSize": "1000", "countTotal": "true"}),
            timeout=60,
        ) as r:
            light_studies = orjson.loads(r.content).get("totalCount")
        # The budget: 1 (/version) + ceil(changed / 1000) + the re-check's requests.
        batch_size = len(next(iter(id_batches(ids, url))))
        budget = 1 + math.ceil(light_studies / 1000) + math.ceil((changed + recheck) / batch_size)
        with Store.open_read(db) as check:
            versions_stored = check.counts()["versions"]
        return {
            "n": n, "setup": setup, "floor": floor_s, "floor_bytes": floor_bytes,
            "first": first, "full": full, "inc": inc, "changed": changed, "tree_mb": tree[0] / 2**20,
            "registry_changed": light_studies, "requests": len(log), "budget": budget,
            "date_queries": len(date_queries), "batches": len(batches), "singles": len(singles),
            "version_requests": len(versions), "fetched": fetched, "recheck": recheck,
            "history": len(history), "changed_2": changed_2, "requests_2": len(log_2), "history_2": len(history_2),
            "versions_stored": versions_stored, "db_mb": db.stat().st_size / 1e6,
        }
    finally:
        server.close()


# --- report ------------------------------------------------------------------------------------


def _ok(flag: bool) -> str:
    return "met" if flag else "**missed**"


def report(results: list[dict], startup: float) -> str:
    lines = []
    head = "| measure | target | " + " | ".join(f"N = {r['n']:,}" for r in results) + " |"
    lines += [head, "|---|---|" + "---|" * len(results)]

    def row(name: str, target: str, cells: list[str]) -> None:
        lines.append(f"| {name} | {target} | " + " | ".join(cells) + " |")

    row("floor: download + orjson.loads (filter.ids batches)", "",
        [f"{r['floor']:.2f} s, {r['n'] / r['floor']:,.0f} studies/s, {r['floor_bytes'] / 1e6:,.0f} MB" for r in results])
    for key, label, target in (("first", "first sync", 1.5), ("full", "unchanged full re-sync (`--full`)", 1.2)):
        cells = []
        for r in results:
            secs = r[key][0]
            ratio = secs / r["floor"]
            cells.append(f"{secs:.2f} s, {r['n'] / secs:,.0f} studies/s, **{ratio:.2f}x** floor ({_ok(ratio <= target)})")
        row(label, f"<= {target}x floor", cells)
    row("incremental, 1% changed: time (the fill-in's history requests paced at 2/s included)", "",
        [f"{r['inc'][0]:.2f} s, of which {r['history'] * 0.5:.1f} s the history endpoints' pace ("
         f"{r['n'] / r['inc'][0]:,.0f} watched studies/s; "
         f"{r['fetched']:,} fetched: {r['changed']:,} changed + {r['recheck']:,} re-checked)" for r in results])
    row("incremental, 1% changed: HTTP requests", "<= 1 + ceil(changed/1000) + re-check",
        [f"{r['requests'] - r['history']} = {r['version_requests']} /version + {r['date_queries']} date query + "
         f"{r['batches']} batches + {r['singles']} single; budget {r['budget']} "
         f"({_ok(r['requests'] - r['history'] <= r['budget'])})" for r in results])
    row("fill-in of missed versions: history requests, first night / next night", "next night: 1 per changed study",
        [f"{r['history']:,} for {r['changed']:,} changed studies / "
         f"{r['history_2']:,} for {r['changed_2']:,} ({r['history_2'] / max(r['changed_2'], 1):.2f} per changed study; "
         f"{r['requests_2']:,} requests in all)" for r in results])
    row("peak RSS of the largest process: the sync or a page reader (first / full / incremental)",
        "<= 200 MB at 50,000",
        [f"{r['first'][1]:.0f} / {r['full'][1]:.0f} / {r['inc'][1]:.0f} MB"
         + (f" ({_ok(max(r['first'][1], r['full'][1], r['inc'][1]) <= 200)})" if r["n"] >= 50_000 else "")
         for r in results])
    row("peak RSS of the sync and its page readers together (first sync, sampled)", "",
        [f"{r['tree_mb']:.0f} MB" for r in results])
    if len(results) >= 2:
        small, big = results[0], results[-1]
        cells = ["1.00 (reference)"] * (len(results) - 1)
        parts = []
        for key in ("first", "full"):
            per_small = small[key][0] / small["n"]
            per_big = big[key][0] / big["n"]
            parts.append(f"{key} {per_big / per_small:.2f}x ({_ok(per_big / per_small <= 1.25)})")
        row(f"per-study cost at {big['n']:,} vs {small['n']:,}", "<= 1.25x", cells + ["; ".join(parts)])
    row("database size after the runs", "",
        [f"{r['db_mb']:,.0f} MB, {r['versions_stored']:,} versions" for r in results])
    lines.append("")
    lines.append(
        f"regsync times are wall-clock of a fresh `regsync ... sync --quiet` process (REGSYNC_DELAY=0), "
        f"interpreter start-up ({startup:.2f} s for `regsync --version`) included, best of two like the "
        f"floor, which runs in the benchmark process. Server: tests/support/fakeapi in its own process. "
        f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}."
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, nargs="+", default=[10_000],
                        help="N; one value also measures 5*N (default: 10000, i.e. 10,000 and 50,000)")
    parser.add_argument("--profile", action="store_true", help="write a cProfile per regsync run into --workdir")
    parser.add_argument("--workdir", type=Path, default=None, help="keep the databases (and profiles) here")
    args = parser.parse_args(argv)
    sizes = args.studies if len(args.studies) > 1 else [args.studies[0], args.studies[0] * 5]

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="regsync-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    compileall.compile_dir(str(ROOT / "regsync"), quiet=1)
    try:
        startup = startup_seconds()
        results = []
        for n in sizes:
            for old in workdir.glob(f"bench_{n}*.db*"):
                old.unlink()
            started = time.perf_counter()
            results.append(bench_size(n, workdir, workdir if args.profile else None))
            print(f"# N = {n:,}: measured in {time.perf_counter() - started:.0f} s "
                  f"(fake API set-up {results[-1]['setup']:.0f} s)", file=sys.stderr, flush=True)
        print(report(results, startup))
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
