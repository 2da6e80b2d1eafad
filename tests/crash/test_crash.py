#!/usr/bin/env python3
"""Crash consistency under power loss (docs/CRASH-CONSISTENCY.md).

Each workload runs through a real read-write mount of a snapshot while
crash-shim records the daemon's writes and syncs; crash-check then builds
every state a power loss can leave (or a seeded sample, in CI) and checks
each with mramfs-check and against what the workload was promised.  A few
states of each workload are loaded into QEMU (-incoming) and guest memory
(pmemsave) must equal the blocks as mr-read-block reads them from the state.

  --synthetic  (suite crash) snapshots from mr-synth, no QEMU: the broken
               writer (the shim syncs late) must be caught, the race of
               two writers in one bitmap word must not happen, the kept
               regression trace must still be caught, and the states of a
               random workload and of superio/pc87312.json rewrites must
               all pass;
  --qemu       (suite interop) snapshots QEMU saves: random writes,
               boundaries, zeros and punches, concurrent writers, -o sync
               (pc, 32 MiB), superio/pc87312.json rewrites (40p);
  --full       larger workloads, every state, more QEMU restores.

Prints "crash states: N checked, M violations" per workload and ends with
"N passed, N failed".
"""
import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "interop"))
import crashlib  # noqa: E402
import qemu_harness as qh  # noqa: E402
import test_interop as ti  # noqa: E402
import test_write_qemu as twq  # noqa: E402
import workloads as wl  # noqa: E402

X86_LEGACY_HOLE = twq.X86_LEGACY_HOLE
FIXTURES = os.path.join(HERE, "regress")


class Env:
    def __init__(self, args, checks, workdir):
        self.args = args
        self.checks = checks
        self.workdir = workdir
        self.full = args.full
        self.scale = 5 if args.full else 1
        self.totals = []   # (workload, checked, violations)

    def sample(self):
        """crash-check options: a bounded sample in CI, everything in full."""
        if self.full:
            return dict(max_states=0, random=48, torn=8, keep=3)
        return dict(max_states=250, random=24, torn=4, keep=1)


def expect_clean(env, rec, base_warnings=0, **kw):
    c = env.checks
    opts = env.sample()
    opts.update(kw)
    r = crashlib.check(rec, **opts)
    env.totals.append((rec.name, r.checked, r.violations))
    c.equal(r.report.get("base_warnings"), base_warnings, "%s: mramfs-check "
            "warnings about the base snapshot itself" % rec.name)
    c.ok(r.status == 0 and r.checked > 0 and r.violations == 0,
         "%s: crash states: %d checked, %d violations (recorded in %.1f s)" % (
             rec.name, r.checked, r.violations, rec.seconds),
         "crash-check exit %d; see its output above" % r.status)
    return r


# --------------------------------------------------------------------------
# Synthetic snapshots (no QEMU)


def synthetic_base(workdir, name="synth"):
    """4 MiB pc.ram with present runs and a 64 KiB pc.rom (mr-synth)."""
    spec = {"blocks": [
        {"name": "pc.ram", "size": 4 << 20,
         "present": [[0, 40], [100, 3], [160, 30], [300, 64], [700, 5], [1023, 1]]},
        {"name": "pc.rom", "size": 64 << 10, "present": [[0, 8]]}]}
    path = os.path.join(workdir, name + ".mig")
    crashlib.mountlib.synth(spec, path)
    layout = wl.Layout(path, "pc.ram")
    wl.prepare(path, layout, random.Random(name))
    return path, layout


def synthetic_superio_base(workdir, name="superio"):
    """A 40p-like synthetic snapshot with a serial and a pc87312 section
    whose five register bytes lie inside one 512-byte sector (a filler
    section before it places them), as in QEMU's 40p."""
    def spec(pad):
        return {"machine": "40p", "blocks": [
            {"name": "simm.0", "size": 4 << 20,
             "present": [[0, 40], [100, 3], [160, 30], [300, 64], [700, 5]]}],
            "devices": [{"kind": "raw", "idstr": "filler", "body_size": pad, "desc": {
                "vmsd_name": "filler", "version": 1,
                "fields": [{"name": "data", "type": "buffer", "size": pad}]}},
                {"kind": "serial"}, {"kind": "pc87312"}]}
    path = os.path.join(workdir, name + ".mig")
    body = crashlib.mountlib.synth(spec(1), path)["devices"][2]["body_offset"]
    pad = 1 + (64 - body) % 512   # the five bytes at 64-68 of a sector
    crashlib.mountlib.synth(spec(pad), path)
    layout = wl.Layout(path, "simm.0")
    wl.prepare(path, layout, random.Random(name))
    return path, layout


def case_superio_synthetic(env):
    """superio/pc87312.json rewritten with RAM writes between: no crash
    state may hold a document partly applied (crash-verify.c, "torn")."""
    path, layout = synthetic_superio_base(env.workdir)
    rec = crashlib.record("superio-synthetic", env.workdir, path,
                          wl.superio(layout, env.scale, "superio"))
    expect_clean(env, rec, keep=0)


def case_broken_ordering(env):
    """The shim makes each sync take effect only after the next write, so
    a bitmap word lands before the data it vouches for: the checker must
    report present pages full of stale bytes."""
    path, layout = synthetic_base(env.workdir, "broken")
    rec = crashlib.record("broken-late-sync", env.workdir, path,
                          wl.random_writes(layout, 1, "broken"),
                          shim_env={"MRAMFS_CRASH_BREAK": "late-sync"})
    r = crashlib.check(rec, max_states=300, random=16, torn=2)
    env.totals.append((rec.name, r.checked, r.violations))
    env.checks.ok(r.status == 1 and r.violations > 0 and r.kinds.get("garbage", 0) > 0,
                  "broken ordering (bitmap before data sync) is caught: %d of %d "
                  "states violate, %d with stale bytes in a present page" % (
                      r.violations, r.checked, r.kinds.get("garbage", 0)),
                  "crash-check exit %d, kinds %r" % (r.status, r.kinds))


def case_broken_no_sync(env):
    """The shim drops every flush: writes the workload was promised are
    then missing from crash states, and the checker must say so."""
    path, layout = synthetic_base(env.workdir, "nosync")
    rec = crashlib.record("broken-no-sync", env.workdir, path,
                          wl.random_writes(layout, 1, "nosync"),
                          shim_env={"MRAMFS_CRASH_BREAK": "no-sync"})
    r = crashlib.check(rec, max_states=100, random=16, torn=2)
    env.totals.append((rec.name, r.checked, r.violations))
    env.checks.ok(r.status == 1 and r.kinds.get("lost", 0) > 0,
                  "a writer that never flushes is caught: %d of %d states violate, "
                  "%d lose promised writes" % (r.violations, r.checked,
                                              r.kinds.get("lost", 0)),
                  "crash-check exit %d, kinds %r" % (r.status, r.kinds))


def case_word_race(env):
    """Four writers into the pages of two bitmap words while every flush
    takes 20 ms longer: a commit must not write a bit whose page another
    writer wrote after the commit's flush began (mr-update.c)."""
    path, layout = synthetic_base(env.workdir, "race")
    rec = crashlib.record("word-race-slow-sync", env.workdir, path,
                          wl.concurrent(layout, ["pc.rom"], env.scale, "race", writes=8),
                          shim_env={"MRAMFS_CRASH_SLOW_SYNC_MS": "20"})
    expect_clean(env, rec, keep=0)


def case_random_synthetic(env):
    path, layout = synthetic_base(env.workdir, "random")
    rec = crashlib.record("random-synthetic", env.workdir, path,
                          wl.random_writes(layout, env.scale, "synthetic"))
    expect_clean(env, rec, keep=0)


def case_zero_runs_synthetic(env):
    """Zeroing runs of present pages through the mount: each run is one
    punch of the snapshot, not one per page (a fallocate of 1 GiB made
    262,144 calls), and every crash state of it is clean."""
    path, layout = synthetic_base(env.workdir, "zero-runs")
    b = layout.block()
    ps = b.page_size
    runs = [(0, 40), (300, 64)]     # present runs of synthetic_base

    def run(c):
        c.fallocate(layout.main, crashlib.FALLOC_FL_ZERO_RANGE, 300 * ps, 64 * ps)
        c.fallocate(layout.main, crashlib.FALLOC_FL_PUNCH_HOLE |
                    crashlib.FALLOC_FL_KEEP_SIZE, 0, 40 * ps)
        c.fsync(layout.main)
    rec = crashlib.record("zero-runs-synthetic", env.workdir, path, run)
    punches = sorted((off - b.pages_offset, length) for typ, _, off, length
                     in crashlib.trace_records(rec.trace)
                     if typ == crashlib.CRASH_OP_FALLOCATE)
    env.checks.equal(punches, [(p * ps, n * ps) for p, n in runs],
                     "zeroed runs of present pages are punched one call per run")
    expect_clean(env, rec, keep=0)


def case_stray_bits(env):
    """A base whose pc.rom bitmap has bits set past its last page
    (docs/FORMAT.md R12): until the mount rewrites that word, every state has a
    problem mramfs-check --repair fixes, and the repaired states must keep
    every promised write."""
    path, layout = synthetic_base(env.workdir, "stray")
    rom = layout.block("pc.rom")
    with open(path, "r+b") as f:
        f.seek(rom.bitmap_offset + 2)   # bits 16-23: pc.rom has 16 pages
        f.write(b"\xf0")

    def run(c):
        rng = random.Random("stray")
        for p in (9, 12, 15):
            c.pwrite("pc.rom", p * rom.page_size + rng.randrange(100), rng.randbytes(300))
            c.fsync("pc.rom")
    rec = crashlib.record("stray-bits", env.workdir, path, run)
    # The base's own warning is the format layer's about those bits.
    r = expect_clean(env, rec, base_warnings=1, keep=0)
    env.checks.ok(r.report.get("repairs", 0) > 0, "stray-bits: %d states needed "
                  "mramfs-check --repair, none lost a promised write" % r.report.get("repairs", 0))


def case_regression_fixtures(env):
    """Traces recorded from writers that got it wrong: crash-check must
    still find the states that show it."""
    names = sorted(n for n in os.listdir(FIXTURES)
                   if os.path.isdir(os.path.join(FIXTURES, n)))
    env.checks.ok(names, "regression traces kept: %s" % ", ".join(names))
    for name in names:
        d = os.path.join(FIXTURES, name)
        rec = crashlib.Recording("fixture-" + name, env.workdir)
        with open(os.path.join(d, "spec.json")) as f:
            crashlib.mountlib.synth(json.load(f), rec.base)
        with open(os.path.join(d, "stale.json")) as f:
            stale = json.load(f)
        layout = wl.Layout(rec.base, stale["block"])
        wl.plant_stale(rec.base, layout, stale["block"], stale["pages"])
        shutil.copy(os.path.join(d, "trace.bin"), rec.trace)
        shutil.copy(os.path.join(d, "acks.jsonl"), rec.acks)
        r = crashlib.check(rec, final=False, max_states=300, random=8, torn=0)
        with open(os.path.join(d, "expect")) as f:
            want = f.read().split()
        env.checks.ok(r.status == 1 and all(r.kinds.get(k, 0) > 0 for k in want),
                      "regression %s: crash-check still finds %s (%d of %d states)" % (
                          name, ", ".join(want), r.violations, r.checked),
                      "exit %d, kinds %r" % (r.status, r.kinds))


# --------------------------------------------------------------------------
# QEMU snapshots


def qemu_base(env, binary, machine_args, nodefaults, name, main, avoid):
    pr = qh.probe(binary, machine_args, env.workdir, nodefaults=nodefaults)
    pmm = pr.memory_map()
    blocks = [b.name for b in ti.main_ram_blocks(pr.ramblocks, pmm)]
    rng = random.Random("crash/" + name)
    blobs = ti.make_blobs(pmm, blocks, pr.roms, rng)
    path = os.path.join(env.workdir, name + ".mig")
    snap = qh.save_snapshot(binary, machine_args, path, env.workdir, stopped=True,
                            blobs=blobs, nodefaults=nodefaults)
    rom_avoid = [(r.addr, r.addr + r.size) for r in pr.roms
                 if r.addr is not None and r.mem == "ram"]
    layout = wl.Layout(path, main, list(avoid) + rom_avoid)
    wl.prepare(path, layout, rng)
    env.checks.note("%s: saved by QEMU in %.1f s; main blocks %s" % (
        name, snap.seconds, ", ".join(blocks)))
    return snap, layout, blocks


def restores(env, snap, rec, result, blocks, holes=()):
    """The kept states load in QEMU, and guest memory equals the blocks as
    mr-read-block reads them from the state."""
    kept = result.report.get("kept", [])
    c = env.checks
    tools = ti.Tools(crashlib.Tools.info, crashlib.Tools.read, c)
    for k in kept:
        t = time.monotonic()
        errs = []
        with qh.restore(snap.binary, snap.machine_args, k["file"], env.workdir,
                        nodefaults=snap.nodefaults, name="restore-crash") as vm:
            mm = vm.memory_map()
            for b in blocks:
                for gpa, boff, n in twq.qemu_spans(mm, b, holes):
                    got = vm.pmemsave(gpa, n)
                    want = tools.read_block(k["file"], b, boff, n)
                    d = ti.describe_difference(got, want, ("qemu", "mr-read-block"), gpa)
                    if d:
                        errs.append("%s+0x%x: %s" % (b, boff, d))
        c.ok(not errs, "%s: QEMU restores %s (%s) and pmemsave == the state's "
             "blocks (%.1f s)" % (rec.name, os.path.basename(k["file"]), k["state"],
                                  time.monotonic() - t), "\n".join(errs[:5]))
        os.unlink(k["file"])
    c.ok(kept, "%s: %d crash states kept for QEMU" % (rec.name, len(kept)))


def case_qemu_pc(env):
    snap, layout, blocks = qemu_base(env, ti.X86, ["-M", "pc", "-m", "32"], True,
                                     "pc", "pc.ram", [X86_LEGACY_HOLE])
    s = env.scale
    runs = [
        ("random", wl.random_writes(layout, s, "random"), (), {}),
        ("boundaries", wl.boundaries(layout, ["pc.rom"], s, "boundaries"), (), {}),
        ("zeros", wl.zeros(layout, s, "zeros"), (), {}),
        ("concurrent", wl.concurrent(layout, ["pc.rom"], s, "concurrent"), (), {}),
        ("concurrent-slow-sync", wl.concurrent(layout, ["pc.rom"], s, "slow", writes=8), (),
         {"MRAMFS_CRASH_SLOW_SYNC_MS": "15"}),
        ("sync", wl.random_writes(layout, s, "sync"), ("-o", "sync"), {}),
    ]
    for name, fn, opts, shim_env in runs:
        rec = crashlib.record("pc-" + name, env.workdir, snap.path, fn, opts, shim_env)
        r = expect_clean(env, rec)
        restores(env, snap, rec, r, blocks, [X86_LEGACY_HOLE])


def case_qemu_40p(env):
    snap, layout, blocks = qemu_base(env, ti.PPC, ["-M", "40p", "-m", "64"], False,
                                     "40p", "simm.0", [])
    rec = crashlib.record("40p-superio", env.workdir, snap.path,
                          wl.superio(layout, env.scale, "superio"))
    r = expect_clean(env, rec)
    restores(env, snap, rec, r, blocks)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for t in ("mount", "check", "checker", "shim", "info", "read", "synth"):
        ap.add_argument("--" + t, required=True)
    ap.add_argument("--qemu", action="store_true", help="QEMU-made snapshots")
    ap.add_argument("--synthetic", action="store_true", help="mr-synth snapshots")
    ap.add_argument("--full", action="store_true", help="every state, larger workloads")
    ap.add_argument("--only", help="run the cases whose name contains this")
    ap.add_argument("--keep", metavar="DIR", help="keep the recordings in DIR")
    args = ap.parse_args(argv)
    # Every workload runs through a mount: root and /dev/fuse, or skipped.
    skipped = crashlib.mountlib.skip_without_mounts()
    if skipped is not None:
        return skipped
    for t in ("mount", "check", "checker", "shim", "info", "read", "synth"):
        setattr(crashlib.Tools, t, os.path.abspath(getattr(args, t)))
    crashlib.mountlib.Tools.read = crashlib.Tools.read
    crashlib.mountlib.Tools.synth = crashlib.Tools.synth
    crashlib.mountlib.Tools.info = crashlib.Tools.info
    if args.qemu and not all(shutil.which(b) for b in (ti.X86, ti.PPC)):
        print("SKIP: %s and %s are needed" % (ti.X86, ti.PPC))
        return 77
    cases = []
    if args.synthetic or not args.qemu:
        cases += [case_broken_ordering, case_broken_no_sync, case_word_race,
                  case_random_synthetic, case_zero_runs_synthetic, case_stray_bits,
                  case_superio_synthetic,
                  case_regression_fixtures]
    if args.qemu:
        cases += [case_qemu_pc, case_qemu_40p]
    if args.only:
        cases = [c for c in cases if args.only in c.__name__]
    qh.install_signal_cleanup()
    checks = ti.Checks()
    workdir = os.path.abspath(args.keep) if args.keep else tempfile.mkdtemp(prefix="mramfs-crash-")
    os.makedirs(workdir, exist_ok=True)
    env = Env(args, checks, workdir)
    t0 = time.monotonic()
    try:
        for case in cases:
            try:
                case(env)
            except Exception as e:  # noqa: BLE001 - every failure is reported
                import traceback
                traceback.print_exc(file=sys.stdout)
                checks.fail("%s ran to the end" % case.__name__, "%s: %s" % (
                    type(e).__name__, e))
            finally:
                qh.kill_all()
    finally:
        for mnt in ti._mounts_below(workdir):
            crashlib.mountlib.unmount(mnt)
        if not args.keep and not ti._mounts_below(workdir):
            shutil.rmtree(workdir, ignore_errors=True)
    total = sum(n for _, n, _ in env.totals)
    bad = sum(v for name, _, v in env.totals if not name.startswith(("broken", "fixture")))
    print("crash states in all: %d checked over %d workloads, %d violations in "
          "workloads that must have none (%.0f s)" % (total, len(env.totals), bad,
                                                      time.monotonic() - t0))
    print("%d passed, %d failed" % (checks.passed, checks.failed))
    return 0 if checks.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
