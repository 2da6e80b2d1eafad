"""Recording workloads through a real mount for the crash checker.

record() copies a base snapshot, mounts the copy with mount.mramfs under
crash-shim (LD_PRELOAD: every write, punch and sync the daemon makes on the
snapshot goes to a trace), runs a workload through a Client that stamps
each write()/fsync() with CLOCK_MONOTONIC before and after (the
acknowledgement log), unmounts, and hands the four files to crash-check:
base, trace, acknowledgements, snapshot after the unmount.

The shim's switches (MRAMFS_CRASH_SLOW_SYNC_MS, MRAMFS_CRASH_BREAK) are
passed through `shim_env`; the daemon itself has no such option.
"""
import base64
import ctypes
import json
import os
import re
import struct
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "fs"))
import mountlib  # noqa: E402

FALLOC_FL_KEEP_SIZE = 0x01
FALLOC_FL_PUNCH_HOLE = 0x02
FALLOC_FL_ZERO_RANGE = 0x10

_libc = ctypes.CDLL(None, use_errno=True)
_libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]


def now():
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


class Tools:
    mount = None      # mount.mramfs
    check = None      # mramfs-check
    checker = None    # crash-check
    shim = None       # libmramfs-crash-shim.so
    info = None
    read = None
    synth = None


def _b64(data):
    return base64.b64encode(bytes(data)).decode("ascii")


class Acks:
    """The workload's acknowledgement log (crash-model.h)."""

    def __init__(self):
        self.lines = []
        self.lock = threading.Lock()

    def add(self, **kw):
        with self.lock:
            self.lines.append(json.dumps(kw, sort_keys=True))

    def save(self, path):
        with open(path, "w") as f:
            f.write("\n".join(self.lines) + "\n")


class Client:
    """Writes through the block files of a mount, acknowledging each call
    that returned.  One descriptor per (thread, file)."""

    def __init__(self, mnt, acks, sync=False):
        self.mnt = mnt
        self.acks = acks
        self.sync = sync
        self.local = threading.local()
        self.all_fds = []
        self.fd_lock = threading.Lock()
        self.sizes = {}

    def path(self, block):
        return os.path.join(self.mnt, "ram", block)

    def fd(self, block):
        fds = getattr(self.local, "fds", None)
        if fds is None:
            fds = self.local.fds = {}
        if block not in fds:
            fds[block] = os.open(self.path(block), os.O_WRONLY)
            with self.fd_lock:
                self.all_fds.append(fds[block])
                self.sizes[block] = os.fstat(fds[block]).st_size
        return fds[block]

    def close(self):
        with self.fd_lock:
            for fd in self.all_fds:
                os.close(fd)
            self.all_fds = []

    def pwrite(self, block, off, data):
        fd = self.fd(block)
        t0 = now()
        n = os.pwrite(fd, data, off)
        t1 = now()
        self.acks.add(op="write", file=block, off=off, data=_b64(data[:n]),
                      t0=t0, t1=t1, durable=self.sync)
        return n

    def fsync(self, block):
        fd = self.fd(block)
        t0 = now()
        os.fsync(fd)
        self.acks.add(op="fsync", file=block, t0=t0, t1=now())

    def fallocate(self, block, mode, off, length):
        """PUNCH_HOLE or ZERO_RANGE: zeros, acknowledged as a write of
        zeros."""
        fd = self.fd(block)
        t0 = now()
        if _libc.fallocate(fd, mode, off, length) != 0:
            e = ctypes.get_errno()
            raise OSError(e, os.strerror(e))
        t1 = now()
        n = max(0, min(length, self.sizes[block] - off))
        self.acks.add(op="write", file=block, off=off, data=_b64(bytes(n)),
                      t0=t0, t1=t1, durable=self.sync)

    def stored(self, block, off, data, t0, t1):
        """A store through a shared mapping: promised by the msync that
        follows it (synced())."""
        self.acks.add(op="write", file=block, off=off, data=_b64(data),
                      t0=t0, t1=t1)

    def synced(self, block, t0, t1):
        """msync(MS_SYNC) of a mapping of block: FUSE sends it as fsync."""
        self.acks.add(op="fsync", file=block, t0=t0, t1=t1)

    def raw(self, at, data, t0, t1):
        """Bytes a document write put in a device section, durable once the
        close() that applied it returned (mr_section_write)."""
        self.acks.add(op="raw", at=at, data=_b64(data), t0=t0, t1=t1,
                      durable=True)


def _uses_asan(binary):
    r = subprocess.run(["ldd", binary], capture_output=True, text=True)
    return "libasan" in r.stdout


def wrapper(path, snapshot, trace, shim_env):
    """A mount.mramfs that runs the real one under the shim."""
    env = {"LD_PRELOAD": Tools.shim, "MRAMFS_CRASH_TARGET": snapshot,
           "MRAMFS_CRASH_LOG": trace}
    env.update(shim_env)
    lines = ["#!/bin/sh"]
    if _uses_asan(Tools.mount):
        # The shim is preloaded before the daemon's ASan runtime.
        lines.append('ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}'
                     'verify_asan_link_order=0"; export ASAN_OPTIONS')
    lines.append("exec env %s %s \"$@\"" % (
        " ".join("%s=%s" % kv for kv in sorted(env.items())), Tools.mount))
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.chmod(path, 0o755)


def sparse_copy(src, dst):
    subprocess.run(["cp", "--sparse=always", src, dst], check=True)


class Recording:
    """The files of one recorded workload."""

    def __init__(self, name, workdir):
        self.name = name
        self.dir = os.path.join(workdir, name)
        os.makedirs(self.dir, exist_ok=True)
        self.base = os.path.join(self.dir, "base.mig")
        self.snapshot = os.path.join(self.dir, "snapshot.mig")
        self.trace = os.path.join(self.dir, "trace.bin")
        self.acks = os.path.join(self.dir, "acks.jsonl")
        self.seconds = 0.0


def record(name, workdir, base, workload, options=(), shim_env=None):
    """Runs workload(client) on a mount of a copy of base, recorded.
    Returns the Recording."""
    rec = Recording(name, workdir)
    sparse_copy(base, rec.base)
    sparse_copy(base, rec.snapshot)
    if os.path.exists(rec.trace):
        os.unlink(rec.trace)
    mount = os.path.join(rec.dir, "mount.mramfs")
    wrapper(mount, rec.snapshot, rec.trace, shim_env or {})
    acks = Acks()
    saved = mountlib.Tools.mount
    mountlib.Tools.mount = mount
    mnt = os.path.join(rec.dir, "mnt")
    os.makedirs(mnt, exist_ok=True)
    t = time.monotonic()
    try:
        with mountlib.mounted(rec.snapshot, list(options), mnt=mnt):
            client = Client(mnt, acks, sync="sync" in ",".join(options))
            try:
                workload(client)
            finally:
                client.close()
            t0 = now()
        # mounted() returns once the daemon has exited: it synced at the
        # unmount (mount.mramfs(8)).
        acks.add(op="unmount", t0=t0, t1=now())
    finally:
        mountlib.Tools.mount = saved
    rec.seconds = time.monotonic() - t
    acks.save(rec.acks)
    return rec


# crash-trace.h's CrashRecord, host byte order, no padding.
_RECORD = struct.Struct("=IHHiiIIqQQQQQQ")
CRASH_OP_FALLOCATE = 2


def trace_records(path):
    """[(type, mode, offset, length)] of a recorded trace, in order."""
    out = []
    with open(path, "rb") as f:
        data = f.read()
    at = 0
    while at < len(data):
        (magic, typ, _, mode, _, _, _, _, off, length, _, _, _,
         data_len) = _RECORD.unpack_from(data, at)
        assert magic == 0x5243524d, "bad record at %d of %s" % (at, path)
        out.append((typ, mode, off, length))
        at += _RECORD.size + data_len
    return out


class Result:
    def __init__(self, status, output, report):
        self.status = status
        self.output = output
        self.report = report or {}

    @property
    def checked(self):
        return self.report.get("checked", 0)

    @property
    def violations(self):
        return self.report.get("violations", 0)

    @property
    def kinds(self):
        return self.report.get("kinds", {})


def check(rec, max_states=0, random=32, torn=6, seed=1, keep=0, final=True,
          save_violations=False, label=None):
    """crash-check on a recording; prints its output."""
    report = os.path.join(rec.dir, "report.json")
    argv = [Tools.checker, "--base", rec.base, "--trace", rec.trace,
            "--acks", rec.acks, "--check", Tools.check, "--work", rec.dir,
            "--label", label or rec.name, "--seed", str(seed),
            "--random", str(random), "--torn", str(torn),
            "--max-states", str(max_states), "--report", report]
    if final:
        argv += ["--final", rec.snapshot]
    if keep:
        argv += ["--keep", os.path.join(rec.dir, "kept"), "--keep-count", str(keep)]
    if save_violations:
        argv += ["--save-violations", os.path.join(rec.dir, "violations")]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=3600)
    out = r.stdout + (r.stderr if r.stderr.strip() else "")
    sys.stdout.write(out)
    sys.stdout.flush()
    rep = None
    if os.path.exists(report):
        with open(report) as f:
            rep = json.load(f)
        os.unlink(report)
    return Result(r.returncode, out, rep)


def states_line(output):
    m = re.search(r"crash states: (\d+) checked, (\d+) violations", output)
    return (int(m.group(1)), int(m.group(2))) if m else None
