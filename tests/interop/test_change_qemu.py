#!/usr/bin/env python3
"""A QEMU snapshot rewritten in place with the same layout while mounted
(fs/mfs-change.c): the files that follow device state, guest/ (the map
follows the PAM registers, the core's notes the CPU registers), show the
new state after the reload, never the old one, and restore/ stays right.

Each case saves a pc snapshot with QEMU (stopped, -device vmcoreinfo) and
makes copies of it patched as another save of the same VM could be, at the
offsets guest/memmap.json's "why" and devices/ give:

  new      PAM register 0x59 maps RAM at 0xf0000 (ROM before), RAX and
           RIP of the CPU changed, other bytes at the marker's address;
  refused  base with a vmcoreinfo device pointing outside RAM: QEMU's
           dump notes cannot be reproduced, so there is no core.

The mounted copy is then rewritten in place (O_TRUNC, same inode, as
`virsh save` or cp(1) do) with one after the other, and after each reload
the mount must serve what a fresh mount of the same bytes serves:
memmap.json equal, physmem, vmcore and restore/lazy.mig equal over their
whole size (data extents and bytes), restore/qemu-args unchanged; the
new PAM value, RAX and RIP show in memmap.json and the core's notes.
While the mount notices a slow rewrite, reads fail with EIO or give the
new bytes, never the old ones.  guest/vmcore, offered at mount, fails
with EIO while it cannot be made (.mramfs/log says why) and is served
again when it can; a core that could not be made at mount does not
appear (the log and memmap.json say to mount again).  .mramfs/stats.json
keeps counting guest/physmem's reads across reloads.

    test_change_qemu.py --mount BUILD/tools/mount.mramfs --case pc-ro
    test_change_qemu.py --list
"""

import dataclasses
import errno
import json
import os
import shutil
import struct
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)
sys.path.insert(0, os.path.join(_HERE, "..", "fs"))
import elfcore  # noqa: E402
import mountlib  # noqa: E402
import qemu_harness as qh  # noqa: E402
import test_interop as ti  # noqa: E402
from test_vmcore_qemu import segment_difference  # noqa: E402

X86 = "qemu-system-x86_64"
MARKER_GPA = 0x800000
MARKER = b"mramfs-change: the first save\0"
NEW_MARKER = b"mramfs-change: the second one\0"
PAM_GPA = 0xf0000            # PAM0's high nibble: RAM or ROM here
NEW_RAX = 0x4d52414d46532121
NEW_RIP = 0x1234
VALIDATED = "validated again after the change: same layout"
NOTICED = "written by another program"


@dataclasses.dataclass
class Case:
    name: str
    doc: str
    options: list
    mount: str = "base"      # which copy is mounted first
    steps: tuple = ()        # the copies it is rewritten with, in order


CASES = [
    Case("pc-ro", "read-only mount: base, rewritten as new, refused and "
         "base again", ["-o", "ro"], "base", ("new", "refused", "base")),
    Case("pc-rw", "read-write mount (files uncached, physmem writable): "
         "base rewritten as new, then a write through guest/physmem",
         ["-o", "rw"], "base", ("new",)),
    Case("pc-no-core", "mounted without a core (vmcoreinfo outside RAM), "
         "rewritten as new: the core cannot appear", ["-o", "ro"], "refused",
         ("new",)),
]


def device(path, idstr):
    return mountlib.info_json(path, "--device", idstr)


def map_of(path):
    return mountlib.info_json(path, "--map")


def range_at(doc, gpa):
    return next(r for r in doc["ranges"]
                if r["gpa"] <= gpa < r["gpa"] + r["length"])


def copy(src, dst):
    """A sparse copy: the snapshot is mostly holes."""
    subprocess.run(["cp", "--sparse=always", src, dst], check=True, timeout=60)


def patch(path, at, data):
    with open(path, "r+b") as f:
        f.seek(at)
        f.write(data)


def make_new(base, path):
    """base with RAM at 0xf0000, other CPU registers and marker bytes."""
    copy(base, path)
    pam = range_at(map_of(base), PAM_GPA)["why"]["through"][0]["pam_register"]
    cpu = device(base, "cpu")["fields"]
    old = int(pam["value"], 16)
    patch(path, pam["offset"], bytes([(old & 0x0f) | 0x30]))
    patch(path, cpu["env.regs"]["offset"], struct.pack(">Q", NEW_RAX))
    patch(path, cpu["env.eip"]["offset"], struct.pack(">Q", NEW_RIP))
    ram = next(b for b in mountlib.info_json(base)["ram_blocks"]
               if b["name"] == "pc.ram")
    patch(path, ram["pages_offset"] + MARKER_GPA, NEW_MARKER)


def make_refused(base, path):
    """base with the guest's VMCOREINFO note said to be outside RAM."""
    copy(base, path)
    f = device(base, "vmcoreinfo")["fields"]
    for name, fmt, value in (("has_vmcoreinfo", ">B", 1),
                             ("vmcoreinfo.guest_format", ">H", 1),
                             ("vmcoreinfo.size", ">I", 0x100),
                             ("vmcoreinfo.paddr", ">Q", 0xe0000000)):
        patch(path, f[name]["offset"], struct.pack(fmt, value))


def data_extents(path):
    with open(path, "rb") as f:
        return mountlib.seek_runs(f.fileno(), os.fstat(f.fileno()).st_size)


def same_file(a, b):
    """None when a and b have the same size, data extents and bytes; else
    what differs."""
    sa, sb = os.path.getsize(a), os.path.getsize(b)
    if sa != sb:
        return "sizes %d and %d" % (sa, sb)
    if data_extents(a) != data_extents(b):
        return "data extents differ"
    with open(a, "rb") as fa, open(b, "rb") as fb:
        d = segment_difference(fa.fileno(), 0, fb.fileno(), 0, sa)
    return None if d is None else "bytes differ at 0x%x" % d


def read(path, off=0, n=None):
    with open(path, "rb", buffering=0) as f:
        f.seek(off)
        return f.read() if n is None else f.read(n)


def qemu_note(core):
    """RAX and RIP of the first CPU, from the core's "QEMU" note
    (QEMUCPUState: version, size, then rax .. r15, rip as u64)."""
    e = elfcore.ElfCore(core)
    try:
        desc = next(n.desc for n in e.notes() if n.name == b"QEMU")
    finally:
        e.close()
    regs = struct.unpack_from("<17Q", desc, 8)
    return regs[0], regs[16]


def head_and_notes(core):
    """The core's bytes up to the end of its notes."""
    e = elfcore.ElfCore(core)
    try:
        note = next(p for p in e.phdrs if p.type == elfcore.PT_NOTE)
    finally:
        e.close()
    return read(core, 0, note.offset + note.filesz)


def log_count(mnt, needle):
    return read(os.path.join(mnt, ".mramfs", "log")).decode().count(needle)


def wait_log(mnt, needle, count, timeout=20.0):
    """Until needle is in .mramfs/log count times."""
    mountlib.wait_until(lambda: log_count(mnt, needle) >= count,
                        timeout=timeout,
                        what="%r %d times in .mramfs/log" % (needle, count))


def stats(mnt):
    return json.loads(read(os.path.join(mnt, ".mramfs", "stats.json")))


def rewrite_in_place(path, src, chunk=None, pause=0.0, after_first=None):
    """What `virsh save` or cp(1) does over an existing file: O_TRUNC and
    write it all on the same inode; here its data extents only (the
    snapshot is sparse), optionally in chunks with a pause after each."""
    ino = os.stat(path).st_ino
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    first = True
    try:
        with open(src, "rb") as f:
            for start, end in data_extents(src):
                step = chunk or end - start
                for pos in range(start, end, step):
                    os.pwrite(fd, os.pread(f.fileno(), min(step, end - pos), pos),
                              pos)
                    if first and after_first:
                        after_first()
                    first = False
                    time.sleep(pause)
        os.ftruncate(fd, os.path.getsize(src))
    finally:
        os.close(fd)
    assert os.stat(path).st_ino == ino


class Mount:
    """What the checks read of one mount of snapshot."""

    def __init__(self, mnt, snapshot):
        self.mnt, self.snapshot = mnt, os.path.realpath(snapshot)

    def path(self, name):
        return os.path.join(self.mnt, name)

    def memmap(self):
        """memmap.json, the snapshot's name in its messages as SNAPSHOT."""
        text = json.dumps(json.loads(read(self.path("guest/memmap.json"))))
        return json.loads(text.replace(self.snapshot, "SNAPSHOT"))

    def args(self):
        return read(self.path("restore/qemu-args")).decode().replace(
            self.mnt, "MNT")


def compare_with_fresh(c, m, fresh, label):
    """m, reloaded, against a fresh mount of the same bytes."""
    mine, theirs = m.memmap(), fresh.memmap()
    if not os.path.exists(m.path("guest/vmcore")) and \
            os.path.exists(fresh.path("guest/vmcore")):
        # A core that could not appear with the rewrite: checked apart.
        mine.pop("vmcore")
        theirs.pop("vmcore")
    c.equal(mine, theirs, "guest/memmap.json equals a fresh mount's (%s)" % label)
    for name in ("guest/physmem", "guest/vmcore", "restore/lazy.mig"):
        have, want = os.path.exists(m.path(name)), os.path.exists(fresh.path(name))
        if name == "guest/vmcore" and have != want:
            continue  # a core that cannot be made or appear: apart
        if not have and not want:
            continue
        if not c.ok(have and want, "%s in both mounts (%s)" % (name, label)):
            continue
        d = same_file(m.path(name), fresh.path(name))
        c.ok(d is None, "%s equals a fresh mount's: size, data extents and "
             "bytes (%s)" % (name, label), d or "")
    c.equal(m.args(), fresh.args(),
            "restore/qemu-args equals a fresh mount's (%s)" % label)


def check_new(c, m, fresh, before):
    """What the new copy changed, seen through the reloaded mount."""
    r = range_at(m.memmap(), PAM_GPA)
    c.ok(r["block"] == "pc.ram" and r["kind"] == "ram" and
         r["why"].get("pam_register", {}).get("value") == "0x30",
         "memmap.json: 0x%x is pc.ram now, by the new PAM value 0x30 (it was "
         "%s)" % (PAM_GPA, range_at(before["memmap"], PAM_GPA)["block"]),
         json.dumps(r)[:600])
    window = read(m.path("guest/physmem"), PAM_GPA, 0x10000)
    ram = read(m.path("ram/pc.ram"), PAM_GPA, 0x10000)
    c.ok(window == ram and window != before["window"],
         "guest/physmem at 0x%x shows pc.ram, not the BIOS it showed" % PAM_GPA)
    c.equal(read(m.path("guest/physmem"), MARKER_GPA, len(NEW_MARKER)),
            NEW_MARKER, "guest/physmem shows the new marker bytes")
    if "regs" in before and os.path.exists(fresh.path("guest/vmcore")):
        c.equal(qemu_note(m.path("guest/vmcore")), (NEW_RAX, NEW_RIP),
                "guest/vmcore's QEMU note has the new RAX and RIP (they "
                "were 0x%x, 0x%x)" % before["regs"])


def reader(m, want, noticed, seen):
    """From the moment the mount noticed the writer: EIO, or the new map's
    ranges, physmem at 0xf0000 and the core's headers and notes."""
    files = [("ranges", lambda: m.memmap()["ranges"]),
             ("window", lambda: read(m.path("guest/physmem"), PAM_GPA, 0x10000))]
    if "notes" in want:
        files.append(("notes", lambda: read(m.path("guest/vmcore"), 0,
                                            len(want["notes"]))))
    noticed.wait(30)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            got = {key: get() for key, get in files}
        except OSError as e:
            if e.errno != errno.EIO:
                seen["bad"].append(str(e))
            seen["eio"] += 1
            time.sleep(0.01)
            continue
        except ValueError as e:
            seen["bad"].append("memmap.json is not JSON (a mix?): %s" % e)
            return
        seen["bad"] += ["%s: neither EIO nor the new bytes" % key
                        for key, _ in files if got[key] != want[key]]
        seen["new"] += 1
        return


def state(m):
    s = {"memmap": m.memmap(),
         "window": read(m.path("guest/physmem"), PAM_GPA, 0x10000)}
    s["ranges"] = s["memmap"]["ranges"]
    if os.path.exists(m.path("guest/vmcore")):
        s["notes"] = head_and_notes(m.path("guest/vmcore"))
        s["regs"] = qemu_note(m.path("guest/vmcore"))
    return s


def physmem_reads(mnt):
    return stats(mnt)["views"]["guest"]["reads"]


def run_case(case, c, workdir):
    t0 = time.monotonic()
    print("# case %s: %s" % (case.name, case.doc))
    if shutil.which(X86) is None:
        c.note("%s is not installed: case skipped" % X86)
        return
    copies = {name: os.path.join(workdir, name + ".mig")
              for name in ("base", "new", "refused")}
    qh.save_snapshot(X86, ["-M", "pc", "-m", "128", "-device", "vmcoreinfo"],
                     copies["base"], workdir, stopped=True,
                     blobs=[qh.Blob(MARKER_GPA, MARKER, "marker")])
    make_new(copies["base"], copies["new"])
    make_refused(copies["base"], copies["refused"])
    mounted = os.path.join(workdir, "mounted.mig")
    copy(copies[case.mount], mounted)
    mnts = {name: os.path.join(workdir, "mnt-" + name)
            for name in ("mounted", "base", "new", "refused")}
    for d in mnts.values():
        os.mkdir(d)
    with mountlib.mounted(copies["base"], ["-o", "ro"], mnts["base"]), \
            mountlib.mounted(copies["new"], ["-o", "ro"], mnts["new"]), \
            mountlib.mounted(copies["refused"], ["-o", "ro"], mnts["refused"]), \
            mountlib.mounted(mounted, case.options, mnts["mounted"]):
        fresh = {name: Mount(mnts[name], copies[name]) for name in copies}
        m = Mount(mnts["mounted"], mounted)
        first = state(m)
        had_core = "notes" in first
        c.equal(had_core, case.mount != "refused",
                "guest/vmcore exists at mount exactly when it can be made")
        args = m.args()
        reads = physmem_reads(m.mnt)
        for i, step in enumerate(case.steps, 1):
            label = "%s rewritten as %s" % (case.mount if i == 1 else
                                            case.steps[i - 2], step)
            want = state(fresh[step])
            if not had_core:
                want.pop("notes", None)
            seen = {"eio": 0, "new": 0, "bad": []}
            noticed = threading.Event()
            t = threading.Thread(target=reader, args=(m, want, noticed, seen))
            t.start()
            counts = (log_count(m.mnt, NOTICED), log_count(m.mnt, VALIDATED))
            rewrite_in_place(mounted, copies[step], chunk=64 << 10, pause=0.02,
                             after_first=lambda: (
                                 wait_log(m.mnt, NOTICED, counts[0] + 1),
                                 noticed.set()))
            noticed.set()
            wait_log(m.mnt, VALIDATED, counts[1] + 1)
            t.join(30)
            c.ok(not seen["bad"] and seen["new"] == 1,
                 "while the mount notices the rewrite, guest/ reads fail with "
                 "EIO or give the new bytes, never the old (%s)" % label,
                 json.dumps(seen))
            compare_with_fresh(c, m, fresh[step], label)
            c.equal(m.args(), args, "restore/qemu-args is unchanged (%s)" % label)
            if step == "new":
                check_new(c, m, fresh[step], first)
            log = read(m.path(".mramfs/log")).decode()
            core = m.path("guest/vmcore")
            if had_core and step == "refused":
                try:
                    read(core, 0, 64)
                    c.fail("guest/vmcore fails with EIO when it cannot be "
                           "made (%s)" % label)
                except OSError as e:
                    c.equal(e.errno, errno.EIO, "guest/vmcore fails with EIO "
                            "when it cannot be made (%s)" % label)
                c.ok("guest/vmcore: cannot be made from the rewritten "
                     "snapshot" in log and "VMCOREINFO" in log,
                     ".mramfs/log says why guest/vmcore fails", log[-1500:])
                c.equal(m.memmap()["vmcore"]["offered"], False,
                        "memmap.json says the core is not offered (%s)" % label)
            elif had_core:
                c.equal(head_and_notes(core), want["notes"],
                        "guest/vmcore's headers and notes are the new ones "
                        "(%s)" % label)
            else:
                c.ok(not os.path.exists(core), "guest/vmcore does not appear "
                     "without a remount (%s)" % label)
                st = m.memmap()["vmcore"]
                c.ok(st["offered"] is False and "mount it again" in st["why"],
                     "memmap.json says the core needs a remount", json.dumps(st))
                c.ok("guest/vmcore: can be made from the rewritten snapshot"
                     in log, ".mramfs/log says the core needs a remount",
                     log[-1500:])
            if step == "base":
                c.equal(state(m), first, "rewritten as it was: guest/ shows "
                        "what it showed at mount")
            now = physmem_reads(m.mnt)
            c.ok(now > reads, "stats.json keeps counting guest/'s reads "
                 "(%d, then %d)" % (reads, now))
            reads = now
        if "rw" in case.options[1]:
            check_rw_write(c, m, mounted)
    c.note("case %s took %.1f s" % (case.name, time.monotonic() - t0))


def check_rw_write(c, m, mounted):
    """After the reload, a write through guest/physmem at 0xf0000 (pc.ram
    now) lands in pc.ram and in the file."""
    data = b"written at 0xf0000 after the reload"
    before = stats(m.mnt)
    fd = os.open(m.path("guest/physmem"), os.O_WRONLY)
    try:
        os.pwrite(fd, data, PAM_GPA)
    finally:
        os.close(fd)
    c.equal(read(m.path("ram/pc.ram"), PAM_GPA, len(data)), data,
            "a write through guest/physmem after the reload reaches pc.ram")
    c.equal(mountlib.read_block(mounted, "pc.ram", PAM_GPA, len(data)), data,
            "and the snapshot file")
    after = stats(m.mnt)
    c.equal(after["views"]["guest"]["writes"], before["views"]["guest"]["writes"] + 1,
            "stats.json counts the write to guest/physmem")


def main(argv=None):
    ap, args, cases = ti.case_arguments(__doc__, CASES, argv)
    if cases is None:
        return 0
    if not args.mount or not args.info or not args.read:
        ap.error("--mount, --info and --read are required")
    if shutil.which(X86) is None:
        print("SKIP: %s is not installed" % X86)
        return 77
    # Every case mounts: root and /dev/fuse, or skipped (77).
    skipped = mountlib.skip_without_mounts()
    if skipped is not None:
        return skipped
    mountlib.Tools.mount = os.path.abspath(args.mount)
    mountlib.Tools.info = os.path.abspath(args.info)
    mountlib.Tools.read = os.path.abspath(args.read)
    qh.install_signal_cleanup()
    checks = ti.Checks()
    return ti.run_cases(cases, checks, args.keep, "mramfs-change-",
                        lambda case, wd: run_case(case, checks, wd))


if __name__ == "__main__":
    sys.exit(main())
