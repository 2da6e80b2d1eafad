#!/usr/bin/env python3
"""Lazy restore (issue 15) against QEMU 10.x: restore/ of a mount, and
mramfs-restore.

Lazy cases (pc-stopped, pc-running, pc-2.8, pc-libvirt, q35-big,
ppc-pegasos2, mips-fuloong2e, ppc-40p): QEMU saves a mapped-ram snapshot
with random blobs in guest RAM (as test_interop.py places them); the
snapshot is mounted, and then

  qemu-args  restore/qemu-args is, line for line, what the machine needs:
             the memory backend of the block QEMU's query-machines names
             as the machine's "default-ram-id" (none for the 40p, whose
             SIMMs are no backend), -global migration.CAP=on for each
             capability of the file, -incoming of restore/lazy.mig;
  lazy.mig   restore/lazy.mig is the snapshot byte for byte, except the
             lazy block's bitmap and pages, which read as zeros and are
             one hole (SEEK_DATA);
  load       QEMU started with the case's machine arguments plus those
             lines (and nothing else: no QMP) completes the migration;
  lazy       right after, the mount's page cache holds little of the
             block (fincore), so QEMU did not read the guest's RAM;
  blobs      every blob reads back byte-exact (pmemsave), and on small
             guests every mapped byte of main RAM hashes as in a normal
             restore of the same file (-incoming defer + QMP);
  runs       the guest runs after `cont`;
  unchanged  the snapshot has the same sha256 (of its data extents and
             their offsets) before and after, also when pc-running's
             mount is read-write and the guest wrote to its RAM.

restore-tool: mramfs-restore end to end (QEMU reached through a QMP
socket given in its arguments): a lazy restore that completes with the
blobs in place and exits 0 when QEMU quits; QEMU killed (exit 6), the
daemon killed (exit 3), SIGTERM and SIGINT to mramfs-restore (143, 130);
refusals (exit 5: a RAM size other than the snapshot's, share=on, a QEMU
older than 9.0, -incoming; exit 1: a snapshot without mapped-ram; exit 6:
no such QEMU).  After each: nothing mounted, the private mount point
removed, and none of its processes left.

    test_lazy_qemu.py --mount BUILD/tools/mount.mramfs \\
                      --restore BUILD/tools/mramfs-restore --case pc-stopped
    test_lazy_qemu.py --list

Needs root and /dev/fuse. Prints one line per check and ends with
"N passed, N failed"; exits 1 if anything failed.
"""

import contextlib
import dataclasses
import hashlib
import os
import random
import signal
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qemu_harness as qh  # noqa: E402
import mount_checks  # noqa: E402
import test_interop as ti  # noqa: E402
import test_libvirt_qemu as tlq  # noqa: E402

mountlib = mount_checks.mountlib

KiB, MiB = ti.KiB, ti.MiB
X86, PPC, MIPS = ti.X86, ti.PPC, ti.MIPS
# Guests with at most this much main RAM are compared with a normal
# restore over every mapped byte.
FULL_COMPARE = 256 * MiB
# What QEMU may read of the lazy block while it loads: device state that
# points into guest RAM (after SeaBIOS ran, x86's vapic reads its ROM state
# below 1 MiB, and the kernel's read-around for the fault caches the first
# 4 MiB of pc.ram).  The same for any RAM size; nothing when the firmware
# never ran.
LAZY_CACHED_MAX = 8 * MiB
CHUNK = 8 * MiB


@dataclasses.dataclass
class Case:
    name: str
    doc: str
    binary: str = X86
    machine_args: list = dataclasses.field(default_factory=list)
    nodefaults: bool = True
    stopped: bool = True
    mount_options: tuple = ("-o", "ro")
    libvirt: bool = False  # behind a libvirt save image's header


CASES = [
    Case("pc-stopped", "x86 pc, 128 MiB, saved before the firmware ran",
         machine_args=["-M", "pc", "-m", "128"]),
    # Read-write mount: the stream is served uncached and the guest's
    # writes must still never reach the snapshot.
    Case("pc-running", "x86 pc, 128 MiB, saved after SeaBIOS ran; "
         "read-write mount", machine_args=["-M", "pc", "-m", "128"],
         stopped=False, mount_options=()),
    # Machine types of QEMU 4.0 and older name a user's memory backend
    # "/objects/ID" unless qemu-args says otherwise.
    Case("pc-2.8", "x86 pc-i440fx-2.8 (an old machine type), 128 MiB",
         machine_args=["-M", "pc-i440fx-2.8", "-m", "128"]),
    # A libvirt save image (sparse format): libvirt's header and domain XML
    # first, QEMU's stream after them; QEMU is told where the stream starts
    # (file:PATH,offset=N).
    Case("pc-libvirt", "x86 pc, 128 MiB, in a libvirt save image",
         machine_args=["-M", "pc", "-m", "128"], libvirt=True),
    Case("q35-big", "x86 q35, 5 GiB: RAM above 4 GiB",
         machine_args=["-M", "q35", "-m", "5G"]),
    Case("ppc-pegasos2", "Pegasos II, 256 MiB, VOF firmware", PPC,
         ["-M", "pegasos2", "-m", "256"], nodefaults=False),
    Case("mips-fuloong2e", "Fuloong 2E, 256 MiB", MIPS, ["-M", "fuloong2e"],
         nodefaults=False),
    # No memory backend: QEMU loads all of the RAM from restore/lazy.mig,
    # which is then the snapshot unchanged.
    Case("ppc-40p", "PReP 40p, 64 MiB (SIMMs, no memory backend)", PPC,
         ["-M", "40p", "-m", "64"], nodefaults=False),
]
TOOL_CASE = Case("restore-tool", "mramfs-restore: runs, kills, refusals",
                 machine_args=["-M", "pc", "-m", "128"])
ALL_CASES = CASES + [TOOL_CASE]


# --------------------------------------------------------------------------
# Helpers


def file_digest(path):
    """The file's size, data extents and bytes (mountlib.sparse_sha256)."""
    return mountlib.sparse_sha256(path, CHUNK)


def cached_bytes(path):
    """Bytes of path in the page cache (util-linux fincore: mincore)."""
    r = subprocess.run(["fincore", "--bytes", "--noheadings", "--raw",
                        "--output", "RES", path], capture_output=True,
                       text=True, timeout=60)
    if r.returncode != 0:
        raise qh.HarnessError("fincore %s: %s" % (path, r.stderr))
    return int(r.stdout.split()[0])


def default_ram_id(binary, machine, workdir):
    """What QEMU says the machine's RAM backend is called (None: it has
    none), from query-machines."""
    with qh.QEMU(binary, ["-M", "none"], workdir, name="machines",
                 stopped=True) as vm:
        for m in vm.cmd("query-machines"):
            if m["name"] == machine:
                return m.get("default-ram-id")
    raise qh.HarnessError("%s does not know machine %s" % (binary, machine))


def expected_args(ref, lazy, mnt):
    """restore/qemu-args as mramfs-restore(1) and mramfs(5) describe it."""
    offset = ",offset=0x%x" % ref.stream_offset if ref.stream_offset else ""
    out = []
    if lazy:
        out += ["-machine", "memory-backend=" + lazy.name, "-object",
                "memory-backend-file,id=%s,size=%d,mem-path=%s/ram/%s,"
                "share=off,readonly=on,rom=off,"
                "x-use-canonical-path-for-ramblock-id=off" % (
                    lazy.name, lazy.used_length, mnt, lazy.name)]
    for cap in ref.capabilities:
        out += ["-global", "migration.%s=on" % cap]
    out += ["-incoming", "file:%s/restore/lazy.mig%s" % (mnt, offset)]
    return out


def read_range(path, off, n):
    with open(path, "rb") as f:
        return os.pread(f.fileno(), n, off)


def check_stream(checks, mnt, snap_path, ref, lazy):
    """lazy.mig: the snapshot but [bitmap, end of pages) of the lazy block,
    which is zeros and one hole.  Reads everything but that hole."""
    mig = os.path.join(mnt, "restore", "lazy.mig")
    size = os.path.getsize(snap_path)
    checks.equal(os.path.getsize(mig), size, "lazy.mig has the snapshot's size")
    hole = (lazy.bitmap_offset, lazy.pages_offset + lazy.used_length) \
        if lazy else (size, size)
    bad = []
    for a, z in ((0, hole[0]), (hole[1], size)):
        pos = a
        while pos < z:
            n = min(CHUNK, z - pos)
            got, want = read_range(mig, pos, n), read_range(snap_path, pos, n)
            if got != want:
                bad.append("0x%x: %s" % (pos, ti.describe_difference(
                    got, want, ("lazy.mig", "snapshot"), pos)))
                break
            pos += n
    checks.ok(not bad, "lazy.mig == the snapshot outside 0x%x-0x%x" % hole,
              "\n".join(bad))
    if not lazy:
        return
    bm = read_range(mig, lazy.bitmap_offset, lazy.bitmap_size)
    checks.ok(bm == bytes(len(bm)) and len(bm) == lazy.bitmap_size,
              "lazy.mig: %s's bitmap reads as %d zero bytes (the snapshot's "
              "has %d pages present)" % (lazy.name, lazy.bitmap_size,
                                         lazy.present_pages))
    with open(mig, "rb") as f:
        at = os.lseek(f.fileno(), lazy.bitmap_offset, os.SEEK_DATA)
    checks.equal(at, hole[1], "lazy.mig: SEEK_DATA from the bitmap lands after "
                 "%s's pages (one hole)" % lazy.name)


def check_blobs(checks, case, snap, ref, vm):
    """Every blob: guest memory (pmemsave) == the file's bytes there (the
    reference reader of qemu_harness) == the blob itself when the guest
    never ran (firmware may have written over a blob)."""
    mm = vm.memory_map()
    refs = {b.name: b for b in ref.blocks}
    for blob in snap.blobs:
        n = len(blob.data)
        what = "blob %s (0x%x+0x%x)" % (blob.name, blob.gpa, n)
        got = vm.pmemsave(blob.gpa, n)
        want = b"".join(refs[b].read(snap.path, o, k)
                        for b, o, k in ti.gpa_span_to_block(mm, blob.gpa, n))
        checks.ok(got == want, "%s: guest memory == the snapshot's bytes"
                  % what, ti.describe_difference(got, want, ("qemu", "file"),
                                                 blob.gpa))
        if case.stopped:
            checks.ok(got == blob.data, "%s: guest memory == the blob" % what)


def mapped_hashes(vm, mm, blocks):
    """sha256 of every mapped range of these blocks in the guest."""
    out = {}
    for b in blocks:
        for gpa, off, n in mm.ranges_of_block(b):
            h = hashlib.sha256()
            pos = 0
            while pos < n:
                k = min(CHUNK, n - pos)
                h.update(vm.pmemsave(gpa + pos, k))
                pos += k
            out[(b, gpa, n)] = h.hexdigest()
    return out


def save(case, workdir, rng, checks):
    pr = qh.probe(case.binary, case.machine_args, workdir,
                  nodefaults=case.nodefaults)
    pmm = pr.memory_map()
    blocks = [b.name for b in ti.main_ram_blocks(pr.ramblocks, pmm)]
    blobs = ti.make_blobs(pmm, blocks, pr.roms, rng)
    path = os.path.join(workdir, case.name + ".mig")
    offset = 0
    if case.libvirt:
        # As libvirt saves: its header, then QEMU's stream at its end
        # (QEMU keeps the bytes before the offset, docs/FORMAT.md §3).
        hdr = tlq.libvirt_header(tlq.domain_xml(case.name), "sparse")
        with open(path, "wb") as f:
            f.write(hdr)
        offset = len(hdr)
    snap = qh.save_snapshot(case.binary, case.machine_args, path, workdir,
                            stopped=case.stopped, blobs=blobs,
                            nodefaults=case.nodefaults, offset=offset)
    checks.note("saved %s in %.1f s (%d blobs in %s)" % (
        path, snap.seconds, len(blobs), ", ".join(blocks)))
    return snap, blocks


# --------------------------------------------------------------------------
# Lazy cases


def run_lazy(case, checks, workdir):
    t0 = time.monotonic()
    rng = random.Random("mramfs-lazy/" + case.name)
    print("# case %s: %s" % (case.name, case.doc))
    snap, blocks = save(case, workdir, rng, checks)
    ref = qh.read_ram_layout(snap.path, snap.offset)
    ram_id = default_ram_id(case.binary, ref.machine, workdir)
    lazy = next((b for b in ref.blocks if b.name == ram_id), None)
    checks.note("machine %s: default-ram-id %s; lazily served: %s" % (
        ref.machine, ram_id, lazy.name if lazy else "nothing"))
    digest = file_digest(snap.path)
    mnt = tempfile.mkdtemp(prefix="mnt-", dir=workdir)
    with mountlib.mounted(snap.path, list(case.mount_options), mnt=mnt):
        checks.equal(sorted(os.listdir(os.path.join(mnt, "restore"))),
                     ["lazy.mig", "qemu-args"], "restore/ holds lazy.mig "
                     "and qemu-args")
        with open(os.path.join(mnt, "restore", "qemu-args")) as f:
            text = f.read()
        args = text.split("\n")[:-1]
        checks.ok(text.endswith("\n"), "qemu-args ends in a newline")
        checks.equal(args, expected_args(ref, lazy, mnt),
                     "qemu-args: one argument a line, for this machine and "
                     "mount")
        check_stream(checks, mnt, snap.path, ref, lazy)
        with qh.restore_from_args(case.binary, case.machine_args, args,
                                  workdir, nodefaults=case.nodefaults,
                                  name="lazy") as vm:
            checks.ok(True, "QEMU with qemu-args completed the migration in "
                      "%.2f s, runstate %s" % (vm.load_seconds,
                                               vm.status_after_load))
            if lazy:
                cached = cached_bytes(os.path.join(mnt, "ram", lazy.name))
                checks.ok(cached <= LAZY_CACHED_MAX, "lazy: %d KiB of ram/%s "
                          "in the page cache after the load (%d KiB present "
                          "in the snapshot)" % (cached // KiB, lazy.name,
                                                lazy.present_pages * 4),
                          "more than %d KiB" % (LAZY_CACHED_MAX // KiB))
            check_blobs(checks, case, snap, ref, vm)
            ram = sum(b.used_length for b in snap.ramblocks if b.name in blocks)
            if ram <= FULL_COMPARE:
                mm = vm.memory_map()
                got = mapped_hashes(vm, mm, blocks)
                with qh.restore_snapshot(snap, workdir, name="normal") as nvm:
                    want = mapped_hashes(nvm, mm, blocks)
                checks.ok(got == want, "every mapped byte of %s equals a "
                          "normal restore (%d ranges, %d MiB)" % (
                              ", ".join(blocks), len(got), ram // MiB),
                          "differing ranges: %s" % [k for k in got
                                                    if got[k] != want.get(k)])
            vm.cmd("cont")
            vm.wait_status({"running"})
            time.sleep(0.3)
            checks.equal(vm.status(), "running", "the guest runs after cont")
    checks.equal(file_digest(snap.path), digest,
                 "the snapshot is unchanged (sha256 of its data extents)")
    checks.note("case %s took %.1f s" % (case.name, time.monotonic() - t0))


# --------------------------------------------------------------------------
# mramfs-restore


def our_mounts(snapshot):
    """Mount points of fuse.mramfs mounts of this snapshot."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fields = right.split()
            if fields and fields[0] == "fuse.mramfs" and \
                    fields[1].replace("\\040", " ") == snapshot:
                out.append(left.split()[4])
    return out


def children(pid):
    out = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % p) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid:
            out.append(int(p))
    return out


def comm(pid):
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip()
    except OSError:
        return ""


class Run:
    """One mramfs-restore, with QEMU reachable through QMP."""

    def __init__(self, tool, snap, workdir, tmp, extra=(), machine=None,
                 binary=X86, qmp=True):
        self.sock = os.path.join(workdir, "restore-qmp.sock")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.sock)
        qemu = [binary] + list(machine or snap.machine_args) + [
            "-display", "none", "-nodefaults", "-S"] + list(extra)
        if qmp:
            qemu += ["-qmp", "unix:%s,server=on,wait=off" % self.sock]
        self.argv = [tool, "-v", snap.path, "--"] + qemu
        self.err_path = os.path.join(workdir, "restore-stderr.txt")
        env = dict(os.environ, TMPDIR=tmp)
        with open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=err,
                                         env=env, preexec_fn=qh._pdeathsig)
        self.qmp = None
        self.kids = []

    def connect(self):
        self.qmp = qh.QMPClient(self.sock, alive=lambda: self.proc.poll() is None)
        # The daemon and QEMU, named while they run.
        self.kids = [(p, comm(p)) for p in children(self.proc.pid)]
        return self.qmp

    def pid_of(self, name):
        return next((p for p, c in self.kids if c.startswith(name)), None)

    def wait(self, timeout=60):
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        if self.qmp:
            self.qmp.close()
        with open(self.err_path, "rb") as f:
            self.stderr = f.read().decode("utf-8", "replace")
        return rc


def check_clean(checks, what, run, snap, tmp):
    checks.equal(our_mounts(snap.path), [], "%s: nothing mounted" % what)
    checks.equal(os.listdir(tmp), [], "%s: the private mount point is gone"
                 % what)
    left = [p for p, _ in run.kids if not mountlib.process_gone(p)]
    checks.ok(run.kids and not left, "%s: its processes are gone (%s)" % (
        what, ", ".join("%d %s" % k for k in run.kids)),
        "still running: %s" % left)


def wait_loaded(qmp, timeout=60):
    deadline = time.monotonic() + timeout
    while qmp.execute("query-migrate").get("status") != "completed":
        if time.monotonic() > deadline:
            raise qh.HarnessError("lazy restore not completed in %d s" % timeout)
        time.sleep(0.02)


def run_tool(case, checks, workdir, tool):
    t0 = time.monotonic()
    rng = random.Random("mramfs-lazy/" + case.name)
    print("# case %s: %s" % (case.name, case.doc))
    snap, blocks = save(case, workdir, rng, checks)
    digest = file_digest(snap.path)
    tmp = os.path.join(workdir, "tmp")
    os.mkdir(tmp)
    blob = snap.blobs[0]

    # A restore that runs to the end: QEMU quits, exit 0.
    r = Run(tool, snap, workdir, tmp)
    qmp = r.connect()
    wait_loaded(qmp)
    mnts = our_mounts(snap.path)
    checks.ok(len(mnts) == 1 and mnts[0].startswith(tmp + "/"),
              "mramfs-restore mounted the snapshot under $TMPDIR", repr(mnts))
    if mnts:
        cached = cached_bytes(os.path.join(mnts[0], "ram", "pc.ram"))
        checks.ok(cached <= LAZY_CACHED_MAX, "mramfs-restore: %d KiB of pc.ram "
                  "cached after the load" % (cached // KiB))
        with open(os.path.join(mnts[0], "restore", "qemu-args")) as fh:
            lines = fh.read().split("\n")[:-1]
        with open(r.err_path) as fh:
            checks.ok("running " + " ".join(r.argv[4:] + lines) in fh.read(),
                      "mramfs-restore -v ran QEMU with the arguments and the "
                      "lines of restore/qemu-args")
        with open("/proc/self/mountinfo") as fh:
            opts = fh.read().split(mnts[0] + " ")[1].split()[0].split(",")
        checks.ok("ro" in opts, "the mount is read-only")
    f = os.path.join(workdir, "blob.bin")
    qmp.execute("pmemsave", {"val": blob.gpa, "size": len(blob.data),
                             "filename": f})
    with open(f, "rb") as fh:
        checks.ok(fh.read() == blob.data, "mramfs-restore: blob %s reads "
                  "back byte-exact" % blob.name)
    qmp.execute("cont")
    qmp.execute("quit")
    checks.equal(r.wait(), 0, "mramfs-restore exits 0 when QEMU quits")
    check_clean(checks, "after quit", r, snap, tmp)

    # QEMU killed, the daemon killed, signals to mramfs-restore.
    for what, victim, sig, want in (
            ("QEMU killed", "qemu", signal.SIGKILL, 6),
            ("the daemon killed", "mramfs", signal.SIGKILL, 3),
            ("SIGTERM to mramfs-restore", None, signal.SIGTERM, 143),
            ("SIGINT to mramfs-restore", None, signal.SIGINT, 130)):
        r = Run(tool, snap, workdir, tmp)
        wait_loaded(r.connect())
        pid = r.pid_of(victim) if victim else r.proc.pid
        checks.ok(pid is not None, "%s: found its process" % what,
                  "children: %s" % r.kids)
        if pid is not None:
            os.kill(pid, sig)
        rc = r.wait()
        checks.equal(rc, want, "%s: mramfs-restore exits %d" % (what, want))
        if want == 6:
            checks.ok("killed by signal 9" in r.stderr, "%s: says so" % what,
                      r.stderr[-500:])
        check_clean(checks, what, r, snap, tmp)

    # mramfs-restore itself killed: QEMU and the daemon get SIGTERM (their
    # parent-death signal), QEMU shuts down, the daemon unmounts; only the
    # empty mount point stays.
    r = Run(tool, snap, workdir, tmp)
    wait_loaded(r.connect())
    os.kill(r.proc.pid, signal.SIGKILL)
    r.wait()
    try:
        mountlib.wait_until(lambda: all(mountlib.process_gone(p)
                                        for p, _ in r.kids) and
                            not our_mounts(snap.path), timeout=30,
                            what="QEMU and the daemon to end")
        ok = True
    except AssertionError:
        ok = False
    checks.ok(ok, "mramfs-restore killed: QEMU and the daemon end, nothing "
              "stays mounted", "mounts %s, processes %s" % (
                  our_mounts(snap.path), [k for k in r.kids
                                          if not mountlib.process_gone(k[0])]))
    for d in os.listdir(tmp):
        with contextlib.suppress(OSError):
            os.rmdir(os.path.join(tmp, d))

    # Refusals: nothing is started or mounted.
    old = os.path.join(workdir, "qemu-8.2")
    with open(old, "w") as fh:
        fh.write("#!/bin/sh\necho 'QEMU emulator version 8.2.2 (fake)'\n")
    os.chmod(old, 0o755)
    nomr = os.path.join(workdir, "not-mapped-ram.mig")
    qh.save_snapshot(X86, case.machine_args, nomr, workdir,
                     capabilities={"mapped-ram": False}, name="save-nomr")
    refusals = [
        ("-m 256", dict(machine=["-M", "pc", "-m", "256"]), 5,
         "saved with 0x8000000 bytes of RAM"),
        ("share=on", dict(extra=["-object", "memory-backend-memfd,id=m1,"
                                 "size=1M,share=on"]), 5, "share=on"),
        ("-incoming", dict(extra=["-incoming", "defer"]), 5,
         "adds -incoming itself"),
        ("QEMU 8.2", dict(binary=old), 5, "QEMU 8.2: lazy restore needs"),
        ("no such QEMU", dict(binary=os.path.join(workdir, "no-qemu")), 6,
         "cannot run"),
    ]
    for what, kw, want, needle in refusals:
        r = Run(tool, snap, workdir, tmp, qmp=False, **kw)
        rc = r.wait()
        checks.ok(rc == want and needle in r.stderr, "refused, %s: exit %d, "
                  "\"%s\"" % (what, want, needle),
                  "exit %d, stderr: %s" % (rc, r.stderr[-600:]))
        checks.equal((our_mounts(snap.path), os.listdir(tmp)), ([], []),
                     "refused, %s: nothing mounted or left in $TMPDIR" % what)
    nsnap = dataclasses.replace(snap, path=nomr)
    r = Run(tool, nsnap, workdir, tmp, qmp=False)
    rc = r.wait()
    checks.ok(rc == 1 and "not a mapped-ram file" in r.stderr,
              "refused, a snapshot saved without mapped-ram: exit 1",
              "exit %d, stderr: %s" % (rc, r.stderr[-600:]))
    checks.equal(file_digest(snap.path), digest, "the snapshot is unchanged")
    checks.note("case %s took %.1f s" % (case.name, time.monotonic() - t0))


# --------------------------------------------------------------------------


def main(argv=None):
    # Every case mounts: case_arguments skips (77) without root and
    # /dev/fuse.
    ap, args, cases = ti.case_arguments(
        __doc__, ALL_CASES, argv,
        [("--restore", "path to mramfs-restore")])
    if cases is None:
        return 0
    if not args.mount or not args.restore:
        ap.error("--mount and --restore are required")
    qh.install_signal_cleanup()
    mountlib.Tools.mount = args.mount
    checks = ti.Checks()

    def run(case, workdir):
        if case is TOOL_CASE:
            run_tool(case, checks, workdir, args.restore)
        else:
            run_lazy(case, checks, workdir)
    return ti.run_cases(cases, checks, args.keep, "mramfs-lazy-", run)


if __name__ == "__main__":
    sys.exit(main())
