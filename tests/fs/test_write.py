#!/usr/bin/env python3
"""Read-write mount tests on synthetic snapshots (mr-synth): writes through
a real FUSE mount land in the snapshot by the rules of docs/FORMAT.md §12, and
nothing else of the file changes.

Every test that writes unmounts and then checks the file itself: mramfs-info
still accepts it, mr-read-block reads each block as a Python model says,
the bitmap holds exactly the model's present pages, the file length is the
same and no byte outside the page areas and bitmaps changed.

Usage: test_write.py --mount M --info I --synth S --read R [NAME-FILTER]
"""
import ctypes
import errno
import json
import mmap
import os
import platform
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mountlib  # noqa: E402
from mountlib import (Tools, daemon_pid, expected_block, info_json, is_mounted,  # noqa: E402
                      mounted, present_pages, read_block, seek_runs, sha256, synth,
                      unmount, wait_until)

PS = 4096
TMP = None

FALLOC_FL_KEEP_SIZE = 0x01
FALLOC_FL_PUNCH_HOLE = 0x02
FALLOC_FL_ZERO_RANGE = 0x10

_libc = ctypes.CDLL(None, use_errno=True)
_libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
_libc.syscall.restype = ctypes.c_long


def fallocate(fd, mode, off, length):
    if _libc.fallocate(fd, mode, off, length) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


# ---------------------------------------------------------------------------
# The model of a block and of a snapshot

class Block:
    """What a block must read as, and which of its pages must be present:
    a written page becomes present when a non-zero byte is written into it
    (its other bytes are then zeros, never the stale bytes of its slot);
    zeros leave an absent page absent and a present page present."""

    def __init__(self, spec_block):
        self.name = spec_block["name"]
        self.size = spec_block["size"]
        self.data = bytearray(expected_block(spec_block))
        self.present = set(present_pages(spec_block))

    def write(self, off, buf):
        buf = bytes(buf)
        end = off + len(buf)
        assert 0 <= off and end <= self.size, (self.name, off, len(buf))
        self.data[off:end] = buf
        for p in range(off // PS, (end - 1) // PS + 1):
            if p in self.present:
                continue
            lo, hi = max(off, p * PS) - off, min(end, (p + 1) * PS) - off
            if buf.count(0, lo, hi) != hi - lo:
                self.present.add(p)

    def runs(self):
        """Data runs as SEEK_DATA/SEEK_HOLE must report them."""
        runs = []
        for p in sorted(self.present):
            if runs and runs[-1][1] == p * PS:
                runs[-1] = (runs[-1][0], (p + 1) * PS)
            else:
                runs.append((p * PS, (p + 1) * PS))
        return runs


def first_diff(got, want):
    if len(got) != len(want):
        return "length %d, expected %d" % (len(got), len(want))
    for at in range(0, len(got), PS):
        if got[at:at + PS] != want[at:at + PS]:
            i = next(i for i in range(at, min(at + PS, len(got))) if got[i] != want[i])
            return "first difference at +0x%x (page %d of the range): got %r, expected %r" % (
                i, i // PS, bytes(got[i:i + 16]), bytes(want[i:i + 16]))
    return "equal"


def assert_same(got, want, what):
    if got != want:
        raise AssertionError("%s: %s" % (what, first_diff(got, want)))


def file_bitmap(raw, blk):
    """Present pages of a block from the bitmap bytes of the file (written
    on a little-endian host: page i is bit i%8 of byte i/8)."""
    bits = int.from_bytes(raw[blk["bitmap_offset"]:blk["bitmap_offset"] + blk["bitmap_size"]],
                          "little")
    assert bits >> blk["num_pages"] == 0, \
        "%s: bitmap bits past num_pages are set (docs/FORMAT.md §12)" % blk["name"]
    return {i for i in range(blk["num_pages"]) if bits >> i & 1}


class Snap:
    """A synthetic snapshot, the model of its blocks, and its bytes outside
    every page area and bitmap, which §12 forbids changing."""

    def __init__(self, name, spec):
        self.path = os.path.join(TMP, name + ".mig")
        synth(spec, self.path)
        self.models = {b["name"]: Block(b) for b in spec["blocks"]}
        self.layout = {b["name"]: b for b in info_json(self.path)["ram_blocks"]}
        with open(self.path, "rb") as f:
            raw = f.read()
        self.size = len(raw)
        areas = sorted([(b["bitmap_offset"], b["bitmap_offset"] + b["bitmap_size"])
                        for b in self.layout.values()] +
                       [(b["pages_offset"], b["pages_offset"] + b["used_length"])
                        for b in self.layout.values()])
        self.fixed, pos = [], 0
        for start, end in areas + [(self.size, self.size)]:
            if start > pos:
                self.fixed.append((pos, raw[pos:start]))
            pos = max(pos, end)

    def file(self, mnt, name):
        return os.path.join(mnt, "ram", name)

    def slot(self, name, page):
        """Offset in the snapshot of a page's slot."""
        return self.layout[name]["pages_offset"] + page * PS

    def check(self, what):
        """The snapshot, unmounted: valid, and what the model says."""
        with open(self.path, "rb") as f:
            raw = f.read()
        assert len(raw) == self.size, "%s: file length %d became %d" % (what, self.size, len(raw))
        for off, want in self.fixed:
            if raw[off:off + len(want)] != want:
                raise AssertionError("%s: bytes outside the page areas changed: %s" % (
                    what, first_diff(raw[off:off + len(want)], want).replace(
                        "+0x", "+0x%x+0x" % off)))
        info = info_json(self.path)  # fails unless mramfs-info exits 0
        assert not info["warnings"], "%s: mramfs-info warns: %s" % (what, info["warnings"])
        for blk in info["ram_blocks"]:
            m = self.models[blk["name"]]
            got = file_bitmap(raw, blk)
            if got != m.present:
                raise AssertionError("%s: %s: bitmap differs from the model: present only "
                                     "in the file %s, only in the model %s" % (
                                         what, m.name, sorted(got - m.present)[:10],
                                         sorted(m.present - got)[:10]))
            assert blk["present_pages"] == len(m.present), (what, blk["present_pages"])
            assert_same(read_block(self.path, m.name, 0, m.size), m.data,
                        "%s: %s read from the file" % (what, m.name))


def expect_errno(codes, fn, what):
    codes = (codes,) if isinstance(codes, int) else codes
    try:
        r = fn()
    except OSError as e:
        if e.errno not in codes:
            raise AssertionError("%s: %s, expected %s" % (
                what, e, "/".join(errno.errorcode[c] for c in codes)))
        return
    raise AssertionError("%s: succeeded (returned %r), expected %s" % (
        what, r, "/".join(errno.errorcode[c] for c in codes)))


def present_count(path):
    return int(os.getxattr(path, "user.mramfs.present_pages"))


# ---------------------------------------------------------------------------
# 1 and 8: writes of every shape, seen at once through the mount and in the
# file

SPEC_W = {"blocks": [
    {"name": "pc.ram", "size": 4 << 20,
     "present": [[0, 3], [8, 2], [12, 1], [63, 2], [100, 5], [300, 4], [318, 1]],
     "stale": [[3, 2], [11, 1], [200, 3], [1023, 1]]},
    {"name": "small", "size": 64 << 10, "present": [[0, 1], [15, 1]], "stale": [[14, 1]]},
]}


def write_checks(options, tag):
    rnd = random.Random(1)
    snap = Snap("write-" + tag, SPEC_W)
    big, small = 4 << 20, 64 << 10
    writes = [
        ("pc.ram", 100, b"into a present page", "part of a present page"),
        ("pc.ram", 3 * PS + 1000, b"into a stale slot", "part of an absent page with a stale slot"),
        ("pc.ram", 5 * PS + 7, b"into a hole", "part of an absent page (hole)"),
        ("pc.ram", 6 * PS, rnd.randbytes(PS), "a whole absent page"),
        ("pc.ram", 10 * PS - 50, rnd.randbytes(100), "across present page 9 -> absent page 10"),
        ("pc.ram", 12 * PS - 30, rnd.randbytes(60), "across stale page 11 -> present page 12"),
        ("pc.ram", 8 * PS - 20, rnd.randbytes(40), "across absent page 7 -> present page 8"),
        ("pc.ram", 4 * PS - 1, b"\x01\x02", "across stale page 3 (written) -> stale page 4"),
        ("pc.ram", big - 1, b"\xa5", "the last byte of a block (stale page)"),
        ("small", small - PS, rnd.randbytes(PS), "the last page of a block (present)"),
        ("small", small - 2 * PS, rnd.randbytes(PS), "a whole stale page"),
        ("pc.ram", 62 * PS + 123, rnd.randbytes(1 << 20),
         "1 MiB at an unaligned offset over present, absent and stale pages"),
    ]
    with mounted(snap.path, options) as mnt:
        wfd = {n: os.open(snap.file(mnt, n), os.O_WRONLY) for n in snap.models}
        rfd = {n: os.open(snap.file(mnt, n), os.O_RDONLY) for n in snap.models}
        try:
            for name, off, data, what in writes:
                m = snap.models[name]
                n = os.pwrite(wfd[name], data, off)
                assert n == len(data), "%s: short write %d" % (what, n)
                m.write(off, data)
                lo = max(0, (off // PS - 1) * PS)
                hi = min(m.size, ((off + len(data) - 1) // PS + 2) * PS)
                got = os.pread(rfd[name], hi - lo, lo)
                assert b"STALE!" not in got, "%s: stale slot bytes read through the mount" % what
                assert_same(got, m.data[lo:hi], "%s, read through the mount" % what)
                # The file itself, no fsync: present-page writes are a
                # pwrite, absent pages are committed before the reply.
                got = read_block(snap.path, name, lo, hi - lo)
                assert_same(got, m.data[lo:hi], "%s, read from the file while mounted" % what)
                assert present_count(snap.file(mnt, name)) == len(m.present), what
            for name, m in snap.models.items():
                assert_same(os.pread(rfd[name], m.size, 0), m.data, "%s through the mount" % name)
            # snapshot.json is made at each read: its counts follow writes.
            with open(os.path.join(mnt, "snapshot.json")) as f:
                got = {b["name"]: b["present_pages"] for b in json.load(f)["ram_blocks"]}
            assert got == {n: len(m.present) for n, m in snap.models.items()}, got
        finally:
            for fd in list(wfd.values()) + list(rfd.values()):
                os.close(fd)
    snap.check("after the writes (%s)" % tag)
    with open(snap.path, "rb") as f:
        f.seek(snap.slot("pc.ram", 3))
        assert b"STALE!" not in f.read(PS), "the written stale page's slot kept stale bytes"


def test_writes_land_in_the_file_at_once_and_absent_pages_start_from_zeros():
    write_checks([], "async")


def test_sync_mount_same_writes_and_time_per_write():
    write_checks(["-o", "sync"], "sync")
    # Informative only: time per 4 KiB write, with and without -o sync.
    spec = {"blocks": [{"name": "t", "size": 4 << 20, "present": [[0, 512]]}]}
    rnd = random.Random(8)
    data = [rnd.randbytes(PS) for _ in range(256)]
    line = []
    for opts, tag in (([], "async"), (["-o", "sync"], "sync")):
        snap = Snap("time-" + tag, spec)
        with mounted(snap.path, opts) as mnt:
            fd = os.open(snap.file(mnt, "t"), os.O_WRONLY)
            try:
                for what, first in (("present", 0), ("absent", 512)):
                    t0 = time.monotonic()
                    for i in range(256):
                        os.pwrite(fd, data[i], (first + i) * PS)
                        snap.models["t"].write((first + i) * PS, data[i])
                    us = (time.monotonic() - t0) / 256 * 1e6
                    line.append("%s page %s %.0f us" % (what, tag, us))
            finally:
                os.close(fd)
        snap.check("timing writes (%s)" % tag)
    print("    4 KiB write: " + ", ".join(line))


# ---------------------------------------------------------------------------
# 2: refusals change nothing

SPEC_R = {"blocks": [
    {"name": "pc.ram", "size": 1 << 20, "present": [[0, 4], [200, 3]], "stale": [[10, 2]]},
    {"name": "tail", "size": 64 << 10, "present": [[15, 1]]},
]}


def test_refused_changes_leave_the_snapshot_byte_identical():
    snap = Snap("refuse", SPEC_R)
    before = sha256(snap.path)
    size = 1 << 20
    with mounted(snap.path) as mnt:
        p = snap.file(mnt, "pc.ram")
        ram = os.path.join(mnt, "ram")
        for flags in (os.O_WRONLY | os.O_TRUNC, os.O_RDWR | os.O_TRUNC):
            expect_errno(errno.EPERM, lambda: os.close(os.open(p, flags)), "open O_TRUNC")
        fd = os.open(p, os.O_RDWR)
        try:
            for n in (0, size - PS, size - 1, size + 1, size + PS):
                expect_errno(errno.EPERM, lambda: os.truncate(p, n), "truncate to %d" % n)
                expect_errno(errno.EPERM, lambda: os.ftruncate(fd, n), "ftruncate to %d" % n)
            os.truncate(p, size)      # the size it has: accepted, no change
            os.ftruncate(fd, size)
            assert os.fstat(fd).st_size == size
            # A block never grows: a write at or past its end gets EFBIG
            # (writes that cross the end are in
            # test_write_straddling_the_end_writes_only_inside_the_block).
            for off, n in ((size, 1), (size, PS), (size + PS, 10), (1 << 40, 1)):
                expect_errno(errno.EFBIG, lambda: os.pwrite(fd, b"x" * n, off),
                             "write of %d bytes at %d (size %d)" % (n, off, size))
            os.lseek(fd, size, os.SEEK_SET)
            expect_errno(errno.EFBIG, lambda: os.write(fd, b"y" * 10), "write() at the end")
            assert os.fstat(fd).st_size == size
            for off, n in ((size - PS, 2 * PS), (size, PS), (0, size + 1)):
                expect_errno(errno.EFBIG, lambda: fallocate(fd, 0, off, n),
                             "fallocate(%d, %d) growing the block" % (off, n))
            expect_errno(errno.EFBIG, lambda: os.posix_fallocate(fd, size - PS, 2 * PS),
                         "posix_fallocate growing the block")
            fallocate(fd, 0, 0, size)                          # every slot exists: no-op
            fallocate(fd, FALLOC_FL_KEEP_SIZE, size - PS, 4 * PS)
            assert os.fstat(fd).st_size == size
        finally:
            os.close(fd)
        for what, fn in (
                ("chmod", lambda: os.chmod(p, 0o600)),
                ("utime", lambda: os.utime(p, (1, 1))),
                ("utime now", lambda: os.utime(p)),
                ("chown", lambda: os.chown(p, 1, 1)),
                ("chmod of ram/", lambda: os.chmod(ram, 0o700)),
                ("setxattr", lambda: os.setxattr(p, "user.x", b"1")),
                ("removexattr", lambda: os.removexattr(p, "user.mramfs.idstr")),
                ("mkdir", lambda: os.mkdir(os.path.join(ram, "x"))),
                ("rmdir", lambda: os.rmdir(ram)),
                ("unlink", lambda: os.unlink(p)),
                ("rename", lambda: os.rename(p, os.path.join(ram, "y"))),
                ("rename onto", lambda: os.rename(p, snap.file(mnt, "tail"))),
                ("link", lambda: os.link(p, os.path.join(ram, "l"))),
                ("symlink", lambda: os.symlink("pc.ram", os.path.join(ram, "s"))),
                ("mknod", lambda: os.mknod(os.path.join(ram, "n"))),
                ("create", lambda: os.open(os.path.join(ram, "new"), os.O_CREAT | os.O_WRONLY)),
                ("create in /", lambda: os.open(os.path.join(mnt, "new"), os.O_CREAT | os.O_RDWR)),
                ("truncate snapshot.json",
                 lambda: os.truncate(os.path.join(mnt, "snapshot.json"), 0)),
        ):
            expect_errno(errno.EPERM, fn, what)
        for flags in (os.O_WRONLY, os.O_RDWR, os.O_WRONLY | os.O_APPEND):
            expect_errno((errno.EACCES, errno.EPERM),
                         lambda: os.close(os.open(os.path.join(mnt, "snapshot.json"), flags)),
                         "open snapshot.json for writing")
        st = os.stat(p)
        assert st.st_size == size and st.st_mode & 0o777 == 0o644, st
    assert sha256(snap.path) == before, "a refused change modified the snapshot"
    snap.check("after refusals")

    with mounted(snap.path, ["-o", "ro"]) as mnt:
        p = snap.file(mnt, "pc.ram")
        ram = os.path.join(mnt, "ram")
        for flags in (os.O_WRONLY, os.O_RDWR, os.O_WRONLY | os.O_TRUNC):
            expect_errno(errno.EROFS, lambda: os.close(os.open(p, flags)), "ro: open for writing")
        for what, fn in (
                ("truncate", lambda: os.truncate(p, 1 << 20)),
                ("chmod", lambda: os.chmod(p, 0o600)),
                ("utime", lambda: os.utime(p, (1, 1))),
                ("chown", lambda: os.chown(p, 1, 1)),
                ("setxattr", lambda: os.setxattr(p, "user.x", b"1")),
                ("mkdir", lambda: os.mkdir(os.path.join(ram, "x"))),
                ("unlink", lambda: os.unlink(p)),
                ("rename", lambda: os.rename(p, os.path.join(ram, "y"))),
                ("create", lambda: os.open(os.path.join(ram, "new"), os.O_CREAT | os.O_WRONLY)),
                ("snapshot.json", lambda: os.open(os.path.join(mnt, "snapshot.json"), os.O_WRONLY)),
        ):
            expect_errno(errno.EROFS, fn, "ro: " + what)
        fd = os.open(p, os.O_RDONLY)
        try:
            expect_errno(errno.EBADF, lambda: os.pwrite(fd, b"x", 0), "ro: write on a read fd")
        finally:
            os.close(fd)
    assert sha256(snap.path) == before, "a read-only mount modified the snapshot"


def test_write_straddling_the_end_writes_only_inside_the_block():
    """A write that starts inside a block and runs past its end writes what
    lies inside the block and stops there, as a write reaching a file-size
    limit does (POSIX): write() returns the short count, and writing at the
    end fails with EFBIG.  Nothing past the end is ever written.  Refusing
    the whole write is not possible: the kernel splits a buffered write at
    the first partial page that is not in its cache, so the bytes inside
    the block reach the daemon as a request of their own."""
    snap = Snap("straddle", SPEC_R)
    m = snap.models["pc.ram"]
    size = m.size
    with mounted(snap.path) as mnt:
        fd = os.open(snap.file(mnt, "pc.ram"), os.O_WRONLY)
        try:
            # The last page is absent and never read: not in the page cache.
            n = os.pwrite(fd, b"z" * 20, size - 10)
            assert n == 10, "20-byte write at size-10 returned %d, not 10" % n
            m.write(size - 10, b"z" * 10)
            n = os.pwrite(fd, b"y" * (PS + 20), size - PS - 10)
            assert n == PS + 10, "write of a page + 20 at size-PS-10 returned %d" % n
            m.write(size - PS - 10, b"y" * (PS + 10))
            # Once in the kernel's cache, the last page no longer splits a
            # crossing write: the daemon writes the part inside the block.
            n = os.pwrite(fd, b"w" * 30, size - 7)
            assert n == 7, "30-byte write at size-7 returned %d" % n
            m.write(size - 7, b"w" * 7)
            expect_errno(errno.EFBIG, lambda: os.pwrite(fd, b"x", size),
                         "write at the end of the block")
        finally:
            os.close(fd)
    snap.check("after writes straddling the end")


# ---------------------------------------------------------------------------
# 3: zero pages stay sparse

SPEC_Z = {"blocks": [
    {"name": "z", "size": 1 << 20,
     "present": [[0, 4], [10, 1], [20, 3], [30, 1], [40, 2], [60, 1]],
     "stale": [[5, 1], [50, 1]]},
]}


def test_zero_pages_stay_sparse():
    snap = Snap("zero", SPEC_Z)
    m = snap.models["z"]
    holes = []  # slots that must be punched
    punched_page = PS // 512
    with mounted(snap.path) as mnt:
        path = snap.file(mnt, "z")
        fd = os.open(path, os.O_RDWR)
        sfd = os.open(snap.path, os.O_RDONLY)

        def write(off, data):
            assert os.pwrite(fd, data, off) == len(data)
            m.write(off, data)

        def agree(what):
            assert present_count(path) == len(m.present), "%s: present_pages %d, model %d" % (
                what, present_count(path), len(m.present))
            assert_same(os.pread(fd, m.size, 0), m.data, what + ", through the mount")
            assert seek_runs(fd, m.size) == m.runs(), what + ": SEEK_DATA/SEEK_HOLE"

        try:
            # Zeros into absent pages: nothing written, nothing allocated.
            alloc = os.fstat(sfd).st_blocks
            write(7 * PS, bytes(PS))                 # a hole
            write(5 * PS, bytes(PS))                 # a stale slot
            write(8 * PS + 100, bytes(100))          # part of a hole
            write(50 * PS + 9, bytes(3000))          # part of a stale slot
            write(6 * PS, bytes(4 * PS))             # pages 6..9, all absent
            assert os.fstat(sfd).st_blocks == alloc, "zeros into absent pages allocated space"
            assert len(m.present) == len(present_pages(SPEC_Z["blocks"][0]))
            agree("zeros into absent pages")
            assert os.lseek(fd, 7 * PS, os.SEEK_HOLE) == 7 * PS

            # A present page written wholly zero: still present, reads
            # zeros, its slot punched.
            alloc = os.fstat(sfd).st_blocks
            write(2 * PS, bytes(PS))
            holes.append(2)
            assert os.fstat(sfd).st_blocks == alloc - punched_page, \
                "allocation %d -> %d, expected one page less" % (alloc, os.fstat(sfd).st_blocks)
            assert os.lseek(sfd, snap.slot("z", 2), os.SEEK_HOLE) == snap.slot("z", 2), \
                "the zeroed present page's slot is not a hole"
            assert os.lseek(fd, 2 * PS, os.SEEK_DATA) == 2 * PS, "page 2 stopped being present"
            assert os.pread(fd, PS, 2 * PS) == bytes(PS)
            agree("a present page zeroed")

            # Data, a zero page and zeros into an absent page in one write.
            rnd = random.Random(3)
            write(40 * PS, rnd.randbytes(PS) + bytes(PS) + bytes(500))
            holes.append(41)
            agree("a write with a zero page inside")

            # fallocate PUNCH_HOLE|KEEP_SIZE: partial present pages get
            # zeros, whole present ones are punched, absent ones untouched.
            for off, n, hole in ((20 * PS + 100, 3 * PS - 200, [21]),
                                 (9 * PS, 2 * PS + 50, [10])):
                fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, n)
                m.write(off, bytes(n))
                holes.extend(hole)
                agree("PUNCH_HOLE at %d+%d" % (off, n))
            # ZERO_RANGE, with and without KEEP_SIZE.
            try:
                for mode, off, n, hole in ((FALLOC_FL_ZERO_RANGE, 10, PS, []),
                                           (FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
                                            3 * PS, PS, [3]),
                                           (FALLOC_FL_ZERO_RANGE, 59 * PS + 1, 2 * PS, [])):
                    fallocate(fd, mode, off, n)
                    m.write(off, bytes(n))
                    holes.extend(hole)
                    agree("ZERO_RANGE at %d+%d" % (off, n))
            except OSError as e:
                # Older kernels do not pass ZERO_RANGE to FUSE at all.
                if e.errno != errno.EOPNOTSUPP:
                    raise
                print("    (this kernel does not pass FALLOC_FL_ZERO_RANGE to FUSE)")
            for page in holes:
                assert os.lseek(sfd, snap.slot("z", page), os.SEEK_HOLE) == snap.slot("z", page), \
                    "slot of zeroed present page %d is not a hole" % page
        finally:
            os.close(fd)
            os.close(sfd)
    snap.check("after zero writes")
    sfd = os.open(snap.path, os.O_RDONLY)
    try:
        for page in holes:
            assert os.lseek(sfd, snap.slot("z", page), os.SEEK_HOLE) == snap.slot("z", page), page
    finally:
        os.close(sfd)


# ---------------------------------------------------------------------------
# 4: shared writable mmap

SPEC_M = {"blocks": [
    {"name": "m", "size": 256 << 10, "present": [[0, 2], [10, 1]], "stale": [[4, 1]]},
]}


def test_shared_mmap_writes_reach_the_file():
    """What happens: the mapping is served from the kernel's page cache of
    the block file.  A page faulted in from an absent page holds zeros
    (never the stale bytes of its slot).  msync (or munmap, close, the
    flusher) writes each dirty page back as a whole-page WRITE request, so
    an absent page touched through the mapping becomes present holding
    zeros plus the stored bytes, exactly as a write() of those bytes would
    make it; pages only read through the mapping are never written and
    stay absent."""
    snap = Snap("mmap", SPEC_M)
    m = snap.models["m"]
    stores = [(100, b"mmap-present"), (4 * PS + 50, b"mmap-stale"),
              (10 * PS - 3, b"CROSS!"), (m.size - 1, b"\xee")]
    with mounted(snap.path) as mnt:
        path = snap.file(mnt, "m")
        fd = os.open(path, os.O_RDWR)
        try:
            mm = mmap.mmap(fd, m.size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
            try:
                assert mm[4 * PS:5 * PS] == bytes(PS), "stale slot visible through mmap"
                assert mm[5 * PS] == 0 and mm[20 * PS] == 0  # read faults only
                for off, data in stores:
                    mm[off:off + len(data)] = data
                    m.write(off, data)
                mm.flush()  # msync(MS_SYNC)
                # The daemon's view (O_DIRECT bypasses the page cache) and
                # the file itself now hold the stores.
                dfd = os.open(path, os.O_RDONLY | os.O_DIRECT)
                try:
                    assert_same(os.pread(dfd, m.size, 0), m.data, "after msync, O_DIRECT read")
                finally:
                    os.close(dfd)
                assert_same(read_block(snap.path, "m", 0, m.size), m.data,
                            "after msync, read from the file while mounted")
                assert_same(os.pread(fd, m.size, 0), m.data, "after msync, read through the mount")
                assert present_count(path) == len(m.present)
                assert 5 not in m.present and 20 not in m.present
            finally:
                mm.close()
        finally:
            os.close(fd)
    snap.check("after mmap stores")


# ---------------------------------------------------------------------------
# 5: random I/O from threads against a model

def gen_block(name, pages, rnd):
    present, stale, p = [], [], 0
    while p < pages:
        n = min(rnd.randint(1, 24), pages - p)
        r = rnd.random()
        if r < 0.35:
            present.append([p, n])
        elif r < 0.5:
            stale.append([p, n])
        p += n
    return {"name": name, "size": pages * PS, "present": present, "stale": stale}


THREADS = 4
SHARED_PAGES = 64
OPS_PER_THREAD = 6000


def pick_len(rnd, room):
    r = rnd.random()
    if r < 0.25:
        n = rnd.randint(1, 64)
    elif r < 0.45:
        n = rnd.randint(65, PS - 1)
    elif r < 0.65:
        n = PS * rnd.randint(1, 4)
    elif r < 0.93:
        n = rnd.randint(PS + 1, 64 << 10)
    elif r < 0.985:
        n = rnd.randint(64 << 10, 1 << 20)
    else:
        n = 1 << 20
    return max(1, min(n, room))


def pick_off(rnd, lo, hi, n, aligned):
    if aligned:
        return lo + rnd.randint(0, (hi - lo - n) // PS) * PS
    return rnd.randint(lo, hi - n)


def pick_data(rnd, n, off):
    r = rnd.random()
    if r < 0.55:
        return rnd.randbytes(n)
    if r < 0.72:
        return bytes(n)
    data = bytearray(n)
    if r < 0.85:
        # Mostly zeros: one non-zero byte makes an absent page present.
        data[rnd.randrange(n)] = rnd.randint(1, 255)
        return bytes(data)
    # Random data with whole zero pages inside.
    data[:] = rnd.randbytes(n)
    for p in range((off + PS - 1) // PS, (off + n) // PS):
        if rnd.random() < 0.5:
            data[p * PS - off:(p + 1) * PS - off] = bytes(PS)
    return bytes(data)


def expect_seek(fd, m, off, whence, lo, hi):
    """SEEK_DATA/SEEK_HOLE from off in [lo, hi): the answer is known from
    the model when it lies inside [lo, hi), the range this thread owns."""
    page = off // PS
    want_present = whence == os.SEEK_DATA
    q = page
    while q * PS < hi and (q in m.present) != want_present:
        q += 1
    try:
        got = os.lseek(fd, off, whence)
    except OSError as e:
        if e.errno == errno.ENXIO and q * PS >= hi:
            return None
        return "lseek(%d, %s): %s" % (off, "DATA" if want_present else "HOLE", e)
    want = off if q == page else q * PS
    if q * PS < hi:
        if got != want:
            return "lseek(%d, %s) = %d, model %d" % (off, "DATA" if want_present else "HOLE",
                                                     got, want)
    elif got < hi:
        return "lseek(%d, %s) = %d, model says beyond %d" % (
            off, "DATA" if want_present else "HOLE", got, hi)
    return None


def test_random_io_from_threads_matches_model():
    rnd0 = random.Random(5)
    spec = {"blocks": [gen_block("b0", 1536, rnd0), gen_block("b1", 1024, rnd0),
                       gen_block("b2", 512, rnd0)]}
    snap = Snap("model", spec)
    names = sorted(snap.models)
    own = {}
    for name, m in snap.models.items():
        q = (m.size // PS - SHARED_PAGES) // THREADS
        own[name] = [(t * q * PS, (t + 1) * q * PS) for t in range(THREADS)]
    shared_lock = threading.Lock()
    errors, stop = [], threading.Event()
    counts = [dict.fromkeys(("write", "zero", "read", "seek", "lseek", "shared", "direct"), 0)
              for _ in range(THREADS)]

    def worker(t, mnt):
        rnd = random.Random(100 + t)
        c = counts[t]
        fds = {n: os.open(snap.file(mnt, n), os.O_RDWR) for n in names}
        dfds = {n: os.open(snap.file(mnt, n), os.O_RDWR | os.O_DIRECT) for n in names}
        try:
            for i in range(OPS_PER_THREAD):
                if stop.is_set():
                    return
                name = rnd.choice(names)
                m = snap.models[name]
                lo, hi = own[name][t]
                fd = fds[name]
                r = rnd.random()
                if r < 0.40:
                    n = pick_len(rnd, hi - lo)
                    off = pick_off(rnd, lo, hi, n, rnd.random() < 0.4)
                    data = pick_data(rnd, n, off)
                    # Large writes also through O_DIRECT: the kernel cuts a
                    # 1 MiB write from an unaligned buffer into concurrent
                    # requests that meet inside a page.
                    direct = n >= 256 << 10 and rnd.random() < 0.4
                    w = os.pwrite(dfds[name] if direct else fd, data, off)
                    if w != n:
                        raise AssertionError("%s: short write %d of %d at %d" % (name, w, n, off))
                    m.write(off, data)
                    c["direct" if direct else "write"] += 1
                elif r < 0.47:
                    # Whole zero pages.
                    k = rnd.randint(1, 8)
                    off = pick_off(rnd, lo, hi, k * PS, True)
                    os.pwrite(fd, bytes(k * PS), off)
                    m.write(off, bytes(k * PS))
                    c["zero"] += 1
                elif r < 0.75:
                    n = pick_len(rnd, hi - lo)
                    off = pick_off(rnd, lo, hi, n, rnd.random() < 0.3)
                    direct = rnd.random() < 0.2
                    got = os.pread(dfds[name] if direct else fd, n, off)
                    if got != m.data[off:off + n]:
                        raise AssertionError("thread %d: %s: pread(%d, %d)%s: %s" % (
                            t, name, n, off, " O_DIRECT" if direct else "",
                            first_diff(got, m.data[off:off + n])))
                    c["read"] += 1
                elif r < 0.85:
                    n = pick_len(rnd, min(hi - lo, 128 << 10))
                    off = pick_off(rnd, lo, hi, n, False)
                    os.lseek(fd, off, os.SEEK_SET)
                    if rnd.random() < 0.5:
                        data = pick_data(rnd, n, off)
                        assert os.write(fd, data) == n
                        m.write(off, data)
                    else:
                        got = os.read(fd, n)
                        if got != m.data[off:off + n]:
                            raise AssertionError("thread %d: %s: read(%d) at %d: %s" % (
                                t, name, n, off, first_diff(got, m.data[off:off + n])))
                    assert os.lseek(fd, 0, os.SEEK_CUR) == off + n
                    c["seek"] += 1
                elif r < 0.92:
                    off = rnd.randrange(lo, hi)
                    for whence in (os.SEEK_DATA, os.SEEK_HOLE):
                        msg = expect_seek(fd, m, off, whence, lo, hi)
                        if msg:
                            raise AssertionError("thread %d: %s: %s" % (t, name, msg))
                    c["lseek"] += 1
                else:
                    # The shared range: whole pages, serialised by the test.
                    first = m.size // PS - SHARED_PAGES
                    k = rnd.randint(1, 4)
                    p = rnd.randrange(first, m.size // PS - k + 1)
                    data = pick_data(rnd, k * PS, p * PS)
                    with shared_lock:
                        os.pwrite(fd, data, p * PS)
                        m.write(p * PS, data)
                        got = os.pread(fd, SHARED_PAGES * PS, first * PS)
                        if got != m.data[first * PS:]:
                            raise AssertionError("thread %d: %s: shared range: %s" % (
                                t, name, first_diff(got, m.data[first * PS:])))
                    c["shared"] += 1
        except Exception as e:  # noqa: BLE001 - reported by the main thread
            errors.append("thread %d: %r" % (t, e))
            stop.set()
        finally:
            for fd in list(fds.values()) + list(dfds.values()):
                try:
                    os.fsync(fd)
                except OSError as e:
                    errors.append("thread %d: fsync: %r" % (t, e))
                os.close(fd)

    with mounted(snap.path) as mnt:
        threads = [threading.Thread(target=worker, args=(t, mnt)) for t in range(THREADS)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(300)
        assert not any(th.is_alive() for th in threads), "a worker hung"
        assert not errors, errors
        for name, m in snap.models.items():
            path = snap.file(mnt, name)
            assert present_count(path) == len(m.present), name
    total = {k: sum(c[k] for c in counts) for k in counts[0]}
    print("    %d operations: %s" % (sum(total.values()), total))
    snap.check("after the random I/O")
    digest = sha256(snap.path)
    with mounted(snap.path) as mnt:
        for name, m in snap.models.items():
            fd = os.open(snap.file(mnt, name), os.O_RDONLY)
            try:
                assert_same(os.pread(fd, m.size, 0), m.data, "%s after remount" % name)
                assert seek_runs(fd, m.size) == m.runs(), "%s: SEEK_DATA/HOLE after remount" % name
            finally:
                os.close(fd)
    assert sha256(snap.path) == digest, "a mount that only read changed the snapshot"
    snap.check("after remount")


# The variant: threads write different bytes of the same absent pages.
# The kernel serialises write() calls on one inode (i_rwsem), so the
# requests meet in the daemon through asynchronous direct I/O: io_submit
# with O_DIRECT queues each write as its own FUSE request and returns, so
# every thread's pieces of a page are in flight at once.  Without the block
# lock of mr-update.c two requests would each build the absent page from
# zeros and the later pwrite would erase the earlier's bytes.

class Iocb(ctypes.Structure):
    _fields_ = [("aio_data", ctypes.c_uint64), ("aio_key", ctypes.c_uint32),
                ("aio_rw_flags", ctypes.c_int32), ("aio_lio_opcode", ctypes.c_uint16),
                ("aio_reqprio", ctypes.c_int16), ("aio_fildes", ctypes.c_uint32),
                ("aio_buf", ctypes.c_uint64), ("aio_nbytes", ctypes.c_uint64),
                ("aio_offset", ctypes.c_int64), ("aio_reserved2", ctypes.c_uint64),
                ("aio_flags", ctypes.c_uint32), ("aio_resfd", ctypes.c_uint32)]


class IoEvent(ctypes.Structure):
    _fields_ = [("data", ctypes.c_uint64), ("obj", ctypes.c_uint64),
                ("res", ctypes.c_int64), ("res2", ctypes.c_int64)]


class Aio:
    """Linux native AIO (io_setup/io_submit/io_getevents) through syscall()."""
    # io_setup, io_destroy, io_getevents, io_submit
    NR = {"x86_64": (206, 207, 208, 209), "aarch64": (0, 1, 4, 2),
          "riscv64": (0, 1, 4, 2)}
    IOCB_CMD_PWRITE = 1

    def __init__(self, depth):
        nr = self.NR.get(platform.machine())
        if nr is None or sys.byteorder != "little":
            raise OSError(errno.ENOSYS, "no native AIO numbers for " + platform.machine())
        self.nr_setup, self.nr_destroy, self.nr_getevents, self.nr_submit = nr
        self.ctx = ctypes.c_ulong(0)
        if _libc.syscall(ctypes.c_long(self.nr_setup), ctypes.c_long(depth),
                         ctypes.byref(self.ctx)) != 0:
            e = ctypes.get_errno()
            raise OSError(e, "io_setup: " + os.strerror(e))

    def close(self):
        _libc.syscall(ctypes.c_long(self.nr_destroy), self.ctx)

    def pwrite_all(self, fd, writes):
        """Submits every (offset, bytes) at once; returns their results."""
        n = len(writes)
        bufs = [ctypes.create_string_buffer(data, len(data)) for _, data in writes]
        cbs = (Iocb * n)()
        for i, ((off, data), buf) in enumerate(zip(writes, bufs)):
            cbs[i].aio_data = i
            cbs[i].aio_lio_opcode = self.IOCB_CMD_PWRITE
            cbs[i].aio_fildes = fd
            cbs[i].aio_buf = ctypes.addressof(buf)
            cbs[i].aio_nbytes = len(data)
            cbs[i].aio_offset = off
        ptrs = (ctypes.c_void_p * n)(*[ctypes.addressof(cbs[i]) for i in range(n)])
        done = 0
        while done < n:
            r = _libc.syscall(ctypes.c_long(self.nr_submit), self.ctx, ctypes.c_long(n - done),
                              ctypes.byref(ptrs, done * ctypes.sizeof(ctypes.c_void_p)))
            if r < 0:
                e = ctypes.get_errno()
                if e in (errno.EINTR, errno.EAGAIN):
                    continue
                raise OSError(e, "io_submit: " + os.strerror(e))
            done += r
        results, events = [None] * n, (IoEvent * n)()
        got = 0
        while got < n:
            r = _libc.syscall(ctypes.c_long(self.nr_getevents), self.ctx, ctypes.c_long(1),
                              ctypes.c_long(n - got), events, None)
            if r < 0:
                e = ctypes.get_errno()
                if e == errno.EINTR:
                    continue
                raise OSError(e, "io_getevents: " + os.strerror(e))
            for ev in events[:r]:
                results[ev.data] = ev.res
            got += r
        del bufs
        return results


def test_threads_writing_parts_of_the_same_absent_pages_all_survive():
    pages, per_round, piece = 512, 8, 256
    snap = Snap("same", {"blocks": [{"name": "same", "size": pages * PS,
                                     "stale": [[0, 128], [300, 50]]}]})
    m = snap.models["same"]
    rounds = pages // per_round
    # Each round cuts its pages into 256-byte pieces, every other round
    # shifted by half a piece so that pieces also straddle page boundaries;
    # piece i goes to thread i % THREADS.
    plan = []
    for rd in range(rounds):
        base, end = rd * per_round * PS, (rd + 1) * per_round * PS
        shift = 0 if rd % 2 == 0 else piece // 2
        cuts = sorted({base, end} | set(range(base + shift, end, piece)))
        plan.append([(a, b - a) for a, b in zip(cuts, cuts[1:])])

    def piece_data(t, off, n):
        unit = ("t%d@%x;" % (t, off)).encode()
        return (unit * (n // len(unit) + 1))[:n]

    barrier = threading.Barrier(THREADS)
    errors = []
    mode = []

    def worker(t, mnt):
        fd = os.open(snap.file(mnt, "same"), os.O_WRONLY | os.O_DIRECT)
        try:
            try:
                aio = Aio(512)
            except OSError as e:
                aio = None
                mode.append("no native AIO (%s): plain pwrite" % e)
            for rd in range(rounds):
                mine = [(off, piece_data(t, off, n)) for i, (off, n) in enumerate(plan[rd])
                        if i % THREADS == t]
                barrier.wait(60)
                if aio:
                    res = aio.pwrite_all(fd, mine)
                else:
                    res = [os.pwrite(fd, data, off) for off, data in mine]
                for (off, data), r in zip(mine, res):
                    if r != len(data):
                        raise AssertionError("write of %d at %d: %d" % (len(data), off, r))
            if aio:
                aio.close()
        except Exception as e:  # noqa: BLE001
            errors.append("thread %d: %r" % (t, e))
            barrier.abort()
        finally:
            os.close(fd)

    with mounted(snap.path) as mnt:
        threads = [threading.Thread(target=worker, args=(t, mnt)) for t in range(THREADS)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(120)
        assert not any(th.is_alive() for th in threads), "a writer hung"
        assert not errors, errors
        for rd in range(rounds):
            for i, (off, n) in enumerate(plan[rd]):
                m.write(off, piece_data(i % THREADS, off, n))
        assert m.present == set(range(pages))
        dfd = os.open(snap.file(mnt, "same"), os.O_RDONLY | os.O_DIRECT)
        try:
            got = os.pread(dfd, m.size, 0)
        finally:
            os.close(dfd)
        for p in range(pages):
            if got[p * PS:(p + 1) * PS] != m.data[p * PS:(p + 1) * PS]:
                raise AssertionError("page %d lost bytes of a concurrent writer: %s" % (
                    p, first_diff(got[p * PS:(p + 1) * PS], m.data[p * PS:(p + 1) * PS])))
        assert present_count(snap.file(mnt, "same")) == pages
    if mode:
        print("    " + mode[0])
    snap.check("after concurrent writes into the same pages")


# ---------------------------------------------------------------------------
# 6: kill -9 in the middle of a write storm

_EQ = bytes([1] + [0] * 255)  # translate(): 1 where the xor is 0 (equal)
_NE = bytes([0] + [1] * 255)


def _xor(a, b):
    return (int.from_bytes(a, "little") ^ int.from_bytes(b, "little")).to_bytes(len(a), "little")


def unexplained(actual, base, cands):
    """Offset of the first byte of `actual` equal neither to `base` nor to
    the byte of a candidate write [(offset, bytes)] covering it; None if
    every byte is explained."""
    left = int.from_bytes(_xor(actual, base).translate(_NE), "little")
    for lo, data in cands:
        if not left:
            break
        eq = _xor(actual[lo:lo + len(data)], data).translate(_EQ)
        left &= ~(int.from_bytes(eq, "little") << (8 * lo))
    if not left:
        return None
    return ((left & -left).bit_length() - 1) // 8


def page_cands(writes, p):
    """The parts of writes [(off, data)] inside page p, page-relative."""
    out = []
    for off, data in writes:
        lo, hi = max(off, p * PS), min(off + len(data), (p + 1) * PS)
        if lo < hi:
            out.append((lo - p * PS, data[lo - off:hi - off]))
    return out


# Mostly absent pages, so that writes in flight at the kill still make
# pages present (the commit path), not only overwrite present ones.
SPEC_C = {"blocks": [
    {"name": "c", "size": 8 << 20,
     "present": [[0, 10], [40, 5], [600, 30], [1100, 2], [1300, 20], [1850, 10]],
     "stale": [[20, 10], [60, 4], [550, 20], [1200, 8], [1600, 12], [2040, 8]]},
]}
FSYNC_EVERY = 8


def test_kill_9_mid_storm_keeps_fsynced_writes_and_a_valid_file():
    snap = Snap("crash", SPEC_C)
    size = SPEC_C["blocks"][0]["size"]
    region = size // THREADS
    hist = [[] for _ in range(THREADS)]       # [off, data, acked]
    synced = [0] * THREADS                    # writes covered by a good fsync
    fsyncs = [0] * THREADS
    ended = [None] * THREADS
    stop = threading.Event()

    def stormer(t, mnt):
        rnd = random.Random(600 + t)
        lo = t * region
        fd = os.open(snap.file(mnt, "c"), os.O_WRONLY)
        try:
            while not stop.is_set():
                if len(hist[t]) % FSYNC_EVERY == FSYNC_EVERY - 1 and \
                        len(hist[t]) != synced[t]:
                    os.fsync(fd)
                    synced[t] = len(hist[t])
                    fsyncs[t] += 1
                r = rnd.random()
                if r < 0.4:
                    n = rnd.randint(1, 256)
                elif r < 0.7:
                    n = rnd.randint(257, 2 * PS)
                elif r < 0.9:
                    n = rnd.randint(1, 8) * PS
                else:
                    n = rnd.randint(2 * PS, 64 << 10)
                off = pick_off(rnd, lo, lo + region, n, n % PS == 0)
                data = bytes(n) if rnd.random() < 0.2 else rnd.randbytes(n)
                hist[t].append([off, data, False])
                w = os.pwrite(fd, data, off)
                if w != n:
                    # Cut short by the kill: the first w bytes were acknowledged.
                    hist[t][-1:] = [[off, data[:w], True], [off + w, data[w:], False]]
                    raise OSError(errno.EIO, "short write %d of %d" % (w, n))
                hist[t][-1][2] = True
        except OSError as e:
            ended[t] = e
        finally:
            try:
                os.close(fd)
            except OSError:
                pass

    with mounted(snap.path) as mnt:
        pid = daemon_pid(mnt)
        assert pid, "no daemon"
        threads = [threading.Thread(target=stormer, args=(t, mnt)) for t in range(THREADS)]
        for th in threads:
            th.start()
        killed = False
        try:
            wait_until(lambda: min(fsyncs) >= 4 and sum(map(len, hist)) >= 400, timeout=30,
                       what="the storm to get going")
            time.sleep(random.Random(6).uniform(0, 0.03))
            os.kill(pid, signal.SIGKILL)
            killed = True
        finally:
            if not killed:
                stop.set()
            for th in threads:
                th.join(60)
            stop.set()
        assert not any(th.is_alive() for th in threads), "a writer hung after the kill"
        assert all(ended), "a writer was not interrupted by the kill: %s" % ended
    assert not is_mounted(mnt)

    # Three models over the initial content: what fsync made durable, what
    # write() acknowledged, and the candidate writes for the bytes between.
    durable = Block(SPEC_C["blocks"][0])
    acked = Block(SPEC_C["blocks"][0])
    later, uncertain = [[] for _ in range(THREADS)], [[] for _ in range(THREADS)]
    for t in range(THREADS):
        for i, (off, data, ok) in enumerate(hist[t]):
            if i < synced[t]:
                durable.write(off, data)
            else:
                later[t].append((off, data))
            if ok:
                acked.write(off, data)
            else:
                uncertain[t].append((off, data))
    info_json(snap.path)  # mramfs-info still accepts the file
    blk = snap.layout["c"]
    with open(snap.path, "rb") as f:
        raw = f.read()
    present = file_bitmap(raw, blk)
    data = read_block(snap.path, "c", 0, size)
    assert b"STALE!" not in data, "stale slot bytes became page content"
    for p in range(size // PS):
        t = p * PS // region
        page = data[p * PS:(p + 1) * PS]
        span = slice(p * PS, (p + 1) * PS)
        # fsync'ed writes survive; other bytes come from a later write.
        if p in durable.present and p not in present:
            raise AssertionError("page %d: made present by an fsync'ed write, absent now" % p)
        if p in present:
            bad = unexplained(page, durable.data[span], page_cands(later[t], p))
            if bad is not None:
                raise AssertionError("page %d byte %d: %r is neither the fsync'ed content %r "
                                     "nor from a later write" % (p, bad, page[bad:bad + 1],
                                                                 durable.data[p * PS + bad:][:1]))
        # Killing the daemon keeps the kernel's page cache, so every
        # acknowledged write is there too; only the write in flight at the
        # kill may have landed in part.
        if p in acked.present and p not in present:
            raise AssertionError("page %d: made present by an acknowledged write, absent now" % p)
        if p in present:
            cands = page_cands(uncertain[t], p)
            if p not in acked.present and not cands:
                raise AssertionError("page %d is present but no write made it present" % p)
            bad = unexplained(page, acked.data[span], cands)
            if bad is not None:
                raise AssertionError("page %d byte %d: %r is neither the acknowledged content "
                                     "%r nor from the write in flight" % (
                                         p, bad, page[bad:bad + 1],
                                         acked.data[p * PS + bad:][:1]))
    # And the file is whole again after a clean mount and unmount.
    with mounted(snap.path) as mnt:
        fd = os.open(snap.file(mnt, "c"), os.O_RDONLY)
        try:
            assert os.pread(fd, size, 0) == data, "the mount reads other bytes than the file"
        finally:
            os.close(fd)
    info_json(snap.path)
    print("    killed after %d writes (%d acknowledged, %d fsync'ed, %d in flight)" % (
        sum(map(len, hist)), sum(1 for h in hist for w in h if w[2]), sum(synced),
        sum(map(len, uncertain))))


# ---------------------------------------------------------------------------
# 7: one writer or many readers

def test_lock_one_writer_or_many_readers():
    snap = Snap("lock", {"blocks": [{"name": "pc.ram", "size": 1 << 20, "present": [[0, 2]]}]})
    mnts = [tempfile.mkdtemp(prefix="mramfs-mnt-", dir=TMP) for _ in range(3)]

    def refused(args, what):
        # Each waits ~2 s for the lock before giving up: run them together.
        procs = [(subprocess.Popen([Tools.mount, snap.path, mnt] + opts, stderr=subprocess.PIPE,
                                   text=True), mnt, opts) for mnt, opts in args]
        errs = [p.communicate(timeout=60)[1] for p, _, _ in procs]
        for (p, mnt, opts), err in zip(procs, errs):
            assert p.returncode == 4, "%s %s: exit %d, expected 4 (locked): %s" % (
                what, opts, p.returncode, err)
            assert "locked" in err, err
            assert not is_mounted(mnt)

    try:
        with mounted(snap.path, mnt=mnts[0]):              # read-write
            refused([(mnts[1], []), (mnts[2], ["-o", "ro"])], "while mounted read-write")
        with mounted(snap.path, ["-o", "ro"], mnt=mnts[0]), \
                mounted(snap.path, ["-o", "ro"], mnt=mnts[1]):
            for mnt in mnts[:2]:
                with open(os.path.join(mnt, "ram/pc.ram"), "rb") as f:
                    assert f.read(PS) == snap.models["pc.ram"].data[:PS]
            refused([(mnts[2], ["-o", "rw"])], "while mounted read-only twice")
        # A new read-write mount right after the unmount returns, without
        # waiting for the old daemon to exit.
        r = subprocess.run([Tools.mount, snap.path, mnts[0]], capture_output=True, text=True,
                           timeout=60)
        assert r.returncode == 0, r.stderr
        subprocess.run(["fusermount3", "-u", mnts[0]], check=True, timeout=30)
        t0 = time.monotonic()
        r = subprocess.run([Tools.mount, snap.path, mnts[1]], capture_output=True, text=True,
                           timeout=60)
        assert r.returncode == 0, "rw mount after unmount: exit %d: %s" % (r.returncode, r.stderr)
        assert is_mounted(mnts[1])
        print("    rw mount right after unmount took %.2fs" % (time.monotonic() - t0))
    finally:
        for mnt in mnts:
            unmount(mnt)
            os.rmdir(mnt)
    snap.check("after the lock tests")


def main():
    return mountlib.main(globals(), tools=("mount", "info", "synth", "read"),
                         prefix="mramfs-wtest-", cases=[
        test_writes_land_in_the_file_at_once_and_absent_pages_start_from_zeros,
        test_refused_changes_leave_the_snapshot_byte_identical,
        test_write_straddling_the_end_writes_only_inside_the_block,
        test_zero_pages_stay_sparse,
        test_shared_mmap_writes_reach_the_file,
        test_random_io_from_threads_matches_model,
        test_threads_writing_parts_of_the_same_absent_pages_all_survive,
        test_kill_9_mid_storm_keeps_fsynced_writes_and_a_valid_file,
        test_lock_one_writer_or_many_readers,
        test_sync_mount_same_writes_and_time_per_write,
    ])



if __name__ == "__main__":
    sys.exit(main())
