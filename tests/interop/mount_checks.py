"""The mount checks of test_interop.py (--mount): mount.mramfs over the file
QEMU wrote, compared with QEMU and with the reference reader of qemu_harness.

For every case:
  tree      files under ram/ <-> `info ramblock` names (user.mramfs.idstr and
            the path rule of mramfs(5)), sizes, st_blocks, snapshot.json;
  content   every block file, whole, == mr-read-block == reference reader,
            and == pmemsave of the restored QEMU over the guest ranges the
            case compares;
  seek      SEEK_DATA/SEEK_HOLE walk == bitmap runs, ENXIO at EOF;
  cp        `cp --sparse=always` of the main RAM: same bytes, holes exactly
            where the pages are absent;
  grep      `grep -c -a -F` finds the ASCII markers placed in guest RAM, at
            the right offset.
For pc-stopped also: a stale slot (garbage in the page of a clear bit)
reads as zeros through the mount and in QEMU, and truncated copies are
refused at mount time as QEMU refuses them.

Whole blocks are streamed in STREAM_CHUNK pieces through a few reusable
buffers compared with memcmp, so memory stays bounded (q35-big has a 5 GiB
pc.ram) and comparing costs less than reading.
"""

import bisect
import contextlib
import ctypes
import errno
import fcntl
import json
import mmap
import os
import re
import stat
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

sys.dont_write_bytecode = True
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)
sys.path.insert(0, os.path.join(_HERE, "..", "fs"))
import qemu_harness as qh  # noqa: E402
import mountlib  # noqa: E402

KiB = 1 << 10
MiB = 1 << 20
STREAM_CHUNK = 8 * MiB
# Block files larger than this (q35-big's 5 GiB pc.ram) are streamed with
# O_DIRECT: through the page cache FUSE reads them at ~0.6 GB/s here, with
# O_DIRECT at ~5 GB/s. They are grepped with -z only: with -a alone, GNU grep
# holds a whole line in memory, and a 5 GiB block of zeros is one line
# (3.3 GB RSS, 17 s); with -z NUL ends a line and grep skips holes with
# SEEK_DATA.
BIG_BLOCK = 256 * MiB
MARKER_PREFIX = "marker"    # Blob.name of the ASCII markers (make_blobs)
TOOL_TIMEOUT = 60
F_SETPIPE_SZ = 1031


# --------------------------------------------------------------------------
# The path rule of mramfs(5)


def _escape(component):
    if component in (".", ".."):
        return "%2E" * len(component)
    return component.replace("%", "%25")


def block_components(idstr):
    parts = [_escape(c) for c in idstr.split("/") if c]
    return tuple(parts) if parts else ("%2F" * len(idstr),)


def expected_paths(names):
    """{idstr: path under the mount} for a set of block names: the idstr
    split on '/', empty components dropped, '%' -> %25, '.'/'..' -> %2E,
    and '%file' appended to a block whose path is also a directory."""
    comps = {n: block_components(n) for n in names}
    dirs = {c[:i] for c in comps.values() for i in range(1, len(c))}
    out = {}
    for n, c in comps.items():
        if c in dirs:
            c = c[:-1] + (c[-1] + "%file",)
        out[n] = "/".join(("ram",) + c)
    return out


# --------------------------------------------------------------------------
# Buffers and runs

_libc = ctypes.CDLL(None, use_errno=True)
_libc.memcmp.argtypes = (ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t)
_libc.memcmp.restype = ctypes.c_int


class Buf:
    """STREAM_CHUNK bytes at a page-aligned address (O_DIRECT needs one),
    reused for every chunk; `n` bytes are valid."""

    def __init__(self, size=STREAM_CHUNK):
        self.mem = mmap.mmap(-1, size)
        self.addr = ctypes.addressof(ctypes.c_char.from_buffer(self.mem))
        self.view = memoryview(self.mem)
        self.n = 0

    def same(self, other):
        return self.n == other.n and \
            _libc.memcmp(self.addr, other.addr, self.n) == 0

    def zero_at(self, lo, n):
        return _libc.memcmp(self.addr + lo, _ZERO.addr, n) == 0

    def clear(self, n):
        ctypes.memset(self.addr, 0, n)
        self.n = n

    def data(self, lo=0, hi=None):
        return self.mem[lo:self.n if hi is None else hi]


_ZERO = Buf()   # never written


def fill_fd(buf, fd, off, n):
    got = 0
    while got < n:
        k = os.preadv(fd, [buf.view[got:n]], off + got)
        if k == 0:
            break
        got += k
    buf.n = got


def fill_pipe(buf, fd, n):
    got = 0
    while got < n:
        k = os.readv(fd, [buf.view[got:n]])
        if k == 0:
            break
        got += k
    buf.n = got


def fill_sparse(buf, fd, off, n):
    """fill_fd, unless [off, off+n) is a hole of the (local) file: then
    only buf.n is set and False returned."""
    try:
        data = os.lseek(fd, off, os.SEEK_DATA)
    except OSError as e:
        if e.errno != errno.ENXIO:
            raise
        data = None
    if data is None or data >= off + n:
        # A hole: zeros up to the end of the file; not read, not filled.
        buf.n = min(n, max(os.fstat(fd).st_size - off, 0))
        return False
    fill_fd(buf, fd, off, n)
    return True


def present_runs(rb):
    """Byte ranges [start, end) of the runs of pages whose bit is set, from
    the reference reader's bitmap (bit i = bit i%8 of byte i/8)."""
    bits = int.from_bytes(rb.bitmap, "little") & ((1 << rb.num_pages) - 1)
    s = format(bits, "b")[::-1] if bits else ""
    ps = rb.page_size
    return [(m.start() * ps, min(m.end() * ps, rb.used_length))
            for m in re.finditer("1+", s)]


def fill_ref(buf, rb, runs, path, snap_fd, off, n):
    """Block bytes [off, off+n) as the reference reader reads them: its own
    RefBlock.read() for ordinary blocks; for big ones the same rule (bytes
    of set-bit pages from pages_offset, zeros elsewhere) run by run, since
    RefBlock.read loops over pages in Python (6 s for 5 GiB)."""
    if rb.used_length <= BIG_BLOCK:
        buf.view[:n] = rb.read(path, off, n)
        buf.n = n
        return
    buf.clear(n)
    i = max(bisect.bisect_right(runs, (off, float("inf"))) - 1, 0)
    for a, z in runs[i:]:
        if a >= off + n:
            break
        a, z = max(a, off), min(z, off + n)
        if a < z:
            os.preadv(snap_fd, [buf.view[a - off:z - off]],
                      rb.pages_offset + a)


def fmt_runs(runs, limit=12):
    s = ", ".join("0x%x-0x%x" % r for r in runs[:limit])
    return s + (", ... (%d runs)" % len(runs) if len(runs) > limit else "")


def add_run(runs, a, z):
    if runs and runs[-1][1] == a:
        runs[-1] = (runs[-1][0], z)
    else:
        runs.append((a, z))


def first_diff(a, b, base, names, page):
    """One line about two chunks that differ: first byte and pages."""
    n = min(len(a), len(b))
    if len(a) != len(b):
        head = "lengths differ (%s %d, %s %d); " % (names[0], len(a),
                                                     names[1], len(b))
    else:
        head = ""
    pages = [p for p in range(0, n, page) if a[p:p + page] != b[p:p + page]]
    if not pages:
        return head.rstrip("; ")
    j = next(i for i in range(pages[0], pages[0] + page) if a[i] != b[i])
    return ("%sfirst difference at block offset 0x%x: %s %s, %s %s; %d "
            "page(s) of this chunk differ, first at 0x%x" % (
                head, base + j, names[0], a[j:j + 16].hex(), names[1],
                b[j:j + 16].hex(), len(pages), base + pages[0]))


def _run(argv, timeout=TOOL_TIMEOUT):
    return mountlib.run_tool(argv, timeout)


def _rmdir_quiet(path):
    with contextlib.suppress(OSError):
        os.rmdir(path)


# --------------------------------------------------------------------------
# One mount


class Mount:
    def __init__(self, mnt, label):
        self.mnt = mnt
        self.label = label
        self.paths = {}     # idstr -> absolute path of its file
        self.nonzero = {}   # idstr -> byte runs of its non-zero pages


def mount(checks, stack, path, options, workdir, label):
    """Mounts path on a new directory of workdir; the unmount is on stack.
    Returns a Mount, or None after reporting the failure."""
    mnt = tempfile.mkdtemp(prefix="mnt-", dir=workdir)
    stack.callback(_rmdir_quiet, mnt)
    t = time.monotonic()
    try:
        stack.enter_context(mountlib.mounted(path, options, mnt=mnt))
    except (AssertionError, subprocess.TimeoutExpired) as e:
        checks.fail("%s: mount.mramfs %s mounts it" % (label, " ".join(
            options)), str(e))
        return None
    checks.ok(True, "%s: mount.mramfs %s mounts it (%.2f s)" % (
        label, " ".join(options) or "(no options)", time.monotonic() - t))
    return Mount(mnt, label)


def check_tree(checks, m, snap, ref, doc, doc_what):
    """The files and what stat/getxattr say about them; snapshot.json."""
    L = m.label
    want = expected_paths([b.name for b in snap.ramblocks])
    checks.equal(sorted(os.listdir(m.mnt)),
                 [".mramfs", "devices", "guest", "libvirt", "ram", "restore",
                  "snapshot.json", "superio"],
                 "%s: the root holds .mramfs/, devices/, guest/, libvirt/, ram/, "
                 "restore/, snapshot.json and superio/" % L)
    lv = (doc or {}).get("libvirt")
    checks.equal(sorted(os.listdir(os.path.join(m.mnt, "libvirt"))),
                 ["domain.xml", "header.json"] if lv else [],
                 "%s: libvirt/ %s" % (L, "has domain.xml and header.json" if lv
                                      else "is empty (no libvirt header)"))
    if lv:
        with open(os.path.join(m.mnt, "libvirt", "header.json")) as f:
            checks.equal(json.load(f), lv, "%s: libvirt/header.json == %s's "
                         "libvirt" % (L, doc_what))
    got, errs, dirs = {}, [], []
    for root, ds, fs in os.walk(os.path.join(m.mnt, "ram")):
        dirs += [os.path.relpath(os.path.join(root, d), m.mnt) for d in ds]
        for f in fs:
            p = os.path.join(root, f)
            rel = os.path.relpath(p, m.mnt)
            try:
                idstr = os.getxattr(p, "user.mramfs.idstr").decode(
                    "utf-8", "replace")
            except OSError as e:
                errs.append("%s: getxattr user.mramfs.idstr: %s" % (rel, e))
                continue
            if idstr in got:
                errs.append("%s and %s both have idstr %r" % (
                    got[idstr], rel, idstr))
            got[idstr] = rel
    checks.ok(not errs, "%s: every file under ram/ has its own "
              "user.mramfs.idstr (%d files)" % (L, len(got)), "\n".join(errs))
    if not checks.equal(got, want, "%s: files under ram/ <-> QEMU info "
                        "ramblock names, 1:1, at the paths of the path rule"
                        % L):
        checks.note("missing: %s; unexpected: %s" % (
            sorted(set(want) - set(got)), sorted(set(got) - set(want))))
    file_dirs = {os.path.dirname(p) for p in got.values()}
    parents = {d for p in file_dirs for d in _ancestors(p)}
    checks.ok(set(dirs) <= parents, "%s: every directory under ram/ leads to "
              "a block file" % L, "extra: %s" % sorted(set(dirs) - parents))
    m.paths = {n: os.path.join(m.mnt, p) for n, p in got.items()}

    refs = {b.name: b for b in ref.blocks}
    bad_size, bad_blocks = [], []
    for b in snap.ramblocks:
        p = m.paths.get(b.name)
        if p is None:
            continue
        st = os.stat(p)
        if not stat.S_ISREG(st.st_mode) or st.st_size != b.used_length:
            bad_size.append("%s: mode 0%o, size %d, used_length %d" % (
                b.name, st.st_mode, st.st_size, b.used_length))
        rb = refs.get(b.name)
        if rb and st.st_blocks * 512 != rb.present_pages * rb.page_size:
            bad_blocks.append("%s: st_blocks*512 = %d, %d present pages * %d"
                              " = %d" % (b.name, st.st_blocks * 512,
                                         rb.present_pages, rb.page_size,
                                         rb.present_pages * rb.page_size))
    checks.ok(not bad_size, "%s: every block file is a regular file of "
              "used_length bytes (QEMU info ramblock)" % L,
              "\n".join(bad_size))
    checks.ok(not bad_blocks, "%s: every block file has st_blocks*512 == "
              "present pages * page size (reference reader)" % L,
              "\n".join(bad_blocks))
    if doc is None:
        checks.note("%s: no mramfs-info document to compare snapshot.json "
                    "with" % L)
        return
    try:
        with open(os.path.join(m.mnt, "snapshot.json")) as f:
            js = json.load(f)
    except (OSError, ValueError) as e:
        checks.fail("%s: snapshot.json is JSON" % L, str(e))
        return
    checks.equal(js, doc, "%s: snapshot.json == %s" % (L, doc_what))


def _ancestors(path):
    out = []
    while path and path != "ram":
        out.append(path)
        path = os.path.dirname(path)
    return out


def check_seek(checks, m, ref):
    L = m.label
    errs = []
    nruns = 0
    for rb in ref.blocks:
        p = m.paths.get(rb.name)
        if p is None:
            continue
        want = present_runs(rb)
        nruns += len(want)
        fd = os.open(p, os.O_RDONLY)
        try:
            got = mountlib.seek_runs(fd, rb.used_length)
            if got != want:
                errs.append("%s: SEEK_DATA/SEEK_HOLE runs %s; bitmap runs %s"
                            % (rb.name, fmt_runs(got), fmt_runs(want)))
            for whence, wname in ((os.SEEK_DATA, "SEEK_DATA"),
                                  (os.SEEK_HOLE, "SEEK_HOLE")):
                try:
                    r = os.lseek(fd, rb.used_length, whence)
                    errs.append("%s: %s at EOF returned 0x%x, not ENXIO" % (
                        rb.name, wname, r))
                except OSError as e:
                    if e.errno != errno.ENXIO:
                        errs.append("%s: %s at EOF: %s, not ENXIO" % (
                            rb.name, wname, e))
        except (OSError, AssertionError) as e:
            errs.append("%s: %s" % (rb.name, e))
        finally:
            os.close(fd)
    checks.ok(not errs, "%s: SEEK_DATA/SEEK_HOLE walk of every block file "
              "== runs of its bitmap (%d runs, reference reader); ENXIO at "
              "EOF" % (L, nruns), "\n".join(errs[:10]))


# --------------------------------------------------------------------------
# Whole-block content


def _read_block_argv(tools, path, name, off, length, offset):
    argv = [tools.read]
    if offset is not None:
        argv += ["--offset", "0x%x" % offset]
    return argv + [path, name, "0x%x" % off, "0x%x" % length]


def stream_block(rb, path, snap, tools, offset, copy_path, bufs):
    """Reads block file `path` once, whole, and compares each chunk with
    mr-read-block's output for the whole block (one process, read as a
    stream by a second thread while this one reads the mount), with the
    reference reader and with copy_path. Returns ({what: [error lines]},
    byte runs of the non-zero pages of the mount file)."""
    bm, bt0, bt1, br, bc = bufs
    ps = rb.page_size
    errs = {"mount": [], "tool": [], "ref": [], "copy": []}
    nonzero = []
    runs = present_runs(rb)
    big = rb.used_length > BIG_BLOCK
    try:
        fd = os.open(path, os.O_RDONLY | (os.O_DIRECT if big else 0))
    except OSError as e:
        if not big or e.errno != errno.EINVAL:
            errs["mount"].append("open: %s" % e)
            return errs, nonzero
        fd = os.open(path, os.O_RDONLY)
    snap_fd = os.open(snap.path, os.O_RDONLY)
    copy_fd = os.open(copy_path, os.O_RDONLY) if copy_path else None
    stderr = tempfile.TemporaryFile()
    proc = subprocess.Popen(_read_block_argv(tools, snap.path, rb.name, 0,
                                             rb.used_length, offset),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=stderr)
    pipe = proc.stdout.fileno()
    with contextlib.suppress(OSError):
        fcntl.fcntl(pipe, F_SETPIPE_SZ, MiB)   # 64 KiB: 3x slower
    offs = list(range(0, rb.used_length, STREAM_CHUNK))

    def size(off):
        return min(STREAM_CHUNK, rb.used_length - off)

    completed = False
    pool = ThreadPoolExecutor(max_workers=1)
    try:
        ahead = pool.submit(fill_pipe, bt0, pipe, size(0)) if offs else None
        for i, off in enumerate(offs):
            n = size(off)
            try:
                fill_fd(bm, fd, off, n)
            except OSError as e:
                errs["mount"].append("read at 0x%x: %s" % (off, e))
                break
            if bm.n != n:
                errs["mount"].append("read at 0x%x: %d bytes of %d" % (
                    off, bm.n, n))
                break
            zero = bm.zero_at(0, n)
            if ahead is not None:
                ahead.result()
                bt = bt0 if i % 2 == 0 else bt1
                ahead = None
                if i + 1 < len(offs):
                    ahead = pool.submit(fill_pipe, bt1 if i % 2 == 0 else bt0,
                                        pipe, size(offs[i + 1]))
                if not bm.same(bt):
                    errs["tool"].append(first_diff(
                        bm.data(), bt.data(), off, ("mount", "tool"), ps))
                    if ahead is not None:
                        proc.kill()     # unblocks the read ahead
                        ahead.result()
                        ahead = None
            # A chunk without present pages is all zeros for the reference
            # reader: then `zero` answers without building the chunk.
            if big and not any(a < off + n and off < z for a, z in runs):
                same = zero
            else:
                fill_ref(br, rb, runs, snap.path, snap_fd, off, n)
                same = bm.same(br)
            if not same:
                fill_ref(br, rb, runs, snap.path, snap_fd, off, n)
                errs["ref"].append(first_diff(bm.data(), br.data(), off,
                                              ("mount", "reference"), ps))
            if copy_fd is not None and len(errs["copy"]) < 3:
                if fill_sparse(bc, copy_fd, off, n):
                    same = bm.same(bc)
                else:
                    same = zero and bc.n == n
                if not same:
                    fill_fd(bc, copy_fd, off, n)
                    errs["copy"].append(first_diff(bm.data(), bc.data(), off,
                                                   ("mount", "copy"), ps))
            if not zero:
                for p in range(0, n, ps):
                    if not bm.zero_at(p, ps):
                        add_run(nonzero, off + p, off + p + ps)
        completed = not errs["mount"]
    finally:
        if errs["tool"] or not completed:
            proc.kill()
        if ahead is not None:
            with contextlib.suppress(OSError):
                ahead.result()
        pool.shutdown()
        os.close(fd)
        os.close(snap_fd)
        if copy_fd is not None:
            os.close(copy_fd)
        if completed and not errs["tool"]:
            fill_pipe(bt0, pipe, 1)
            if bt0.n:
                errs["tool"].append("mr-read-block wrote more than 0x%x "
                                    "bytes" % rb.used_length)
        proc.stdout.close()
        try:
            rc = proc.wait(timeout=TOOL_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait()
        stderr.seek(0)
        msg = stderr.read().decode("utf-8", "replace").strip()
        stderr.close()
    if rc != 0 and not errs["tool"] and completed:
        errs["tool"].append("mr-read-block exit %d: %s" % (rc, msg[-500:]))
    return errs, nonzero


def check_content(checks, m, snap, ref, tools, offset, copies=None):
    """Every block file, whole: == mr-read-block == the reference reader
    (== the cp copy for the blocks in `copies`)."""
    copies = copies or {}
    bufs = [Buf() for _ in range(5)]
    for rb in ref.blocks:
        p = m.paths.get(rb.name)
        if p is None:
            continue
        t = time.monotonic()
        errs, nonzero = stream_block(rb, p, snap, tools, offset,
                                     copies.get(rb.name), bufs)
        m.nonzero[rb.name] = nonzero
        what = "%s: %s (0x%x bytes, %d present pages), whole" % (
            m.label, os.path.relpath(p, m.mnt), rb.used_length,
            rb.present_pages)
        detail = "\n".join("%s: %s" % (k, e) for k in ("mount", "tool", "ref")
                           for e in errs[k][:5])
        checks.ok(not (errs["mount"] or errs["tool"] or errs["ref"]),
                  "%s == mr-read-block == reference reader (%.2f s)" % (
                      what, time.monotonic() - t), detail)
        if rb.name in copies:
            checks.ok(not errs["copy"] and not errs["mount"],
                      "%s: cp --sparse=always copy of %s == mount file, "
                      "compared chunk by chunk" % (m.label, rb.name),
                      "\n".join(errs["copy"]))


def check_pmemsave(checks, m, vm, spans):
    """Block files == QEMU's guest memory after it loaded the same file,
    over spans {block: ([(gpa, block_offset, length)], scope text)}."""
    for block, (sp, scope) in spans.items():
        p = m.paths.get(block)
        if p is None:
            continue
        errs = []
        with open(p, "rb", buffering=0) as f:
            for gpa, boff, length in sp:
                for c in range(0, length, STREAM_CHUNK):
                    k = min(STREAM_CHUNK, length - c)
                    qemu = vm.pmemsave(gpa + c, k)
                    data = os.pread(f.fileno(), k, boff + c)
                    if data != qemu:
                        errs.append("%s+0x%x (GPA 0x%x) 0x%x bytes: %s" % (
                            block, boff + c, gpa + c, k, first_diff(
                                data, qemu, boff + c, ("mount", "qemu"),
                                4096)))
        checks.ok(not errs, "%s: %s == pmemsave of restored QEMU (%s)" % (
            m.label, os.path.relpath(p, m.mnt), scope), "\n".join(errs[:5]))


# --------------------------------------------------------------------------
# cp --sparse=always


def make_copies(checks, m, blocks, workdir):
    """cp --sparse=always of the main RAM block files into workdir (the
    disk TMPDIR is on). Returns {block: copy path}."""
    out = {}
    for b in blocks:
        src = m.paths.get(b)
        if src is None:
            continue
        dst = os.path.join(tempfile.mkdtemp(prefix="cp-", dir=workdir),
                           os.path.basename(src))
        t = time.monotonic()
        r = _run(["cp", "--sparse=always", src, dst])
        if not checks.ok(r.returncode == 0, "%s: cp --sparse=always %s exits "
                         "0 (%.2f s)" % (m.label, os.path.relpath(src, m.mnt),
                                         time.monotonic() - t),
                         r.stderr.decode("utf-8", "replace")):
            continue
        fd = os.open(dst, os.O_RDONLY)
        try:
            os.fsync(fd)    # allocation is final only after writeback
        finally:
            os.close(fd)
        out[b] = dst
    return out


def check_copies(checks, case, m, ref, copies):
    """After check_content: where the copies hold data, and how much."""
    refs = {b.name: b for b in ref.blocks}
    detect = case.parameters.get("zero-page-detection") != "none"
    for b, path in copies.items():
        rb = refs[b]
        nz = m.nonzero.get(b, [])
        fd = os.open(path, os.O_RDONLY)
        try:
            st = os.fstat(fd)
            data = mountlib.seek_runs(fd, st.st_size)
        finally:
            os.close(fd)
        checks.equal(st.st_size, rb.used_length, "%s: cp copy of %s has "
                     "used_length bytes" % (m.label, b))
        checks.ok(data == nz, "%s: cp copy of %s holds data exactly at the "
                  "non-zero pages of the mount file (%d runs), holes "
                  "elsewhere" % (m.label, b, len(nz)),
                  "copy data: %s\nnon-zero pages: %s" % (fmt_runs(data),
                                                         fmt_runs(nz)))
        data_bytes = sum(z - a for a, z in data)
        present = rb.present_pages * rb.page_size
        if detect:
            # QEMU writes only non-zero pages (docs/FORMAT.md 9.9): a page is
            # present iff non-zero, so the copy allocates exactly them.
            checks.ok(data_bytes == present and nz == present_runs(rb),
                      "%s: cp copy of %s: allocated data %d == present pages"
                      " * page size %d" % (m.label, b, data_bytes, present),
                      "bitmap runs: %s" % fmt_runs(present_runs(rb)))
        else:
            checks.note("%s: %s: zero-page-detection none: %d present pages,"
                        " %d non-zero" % (m.label, b, rb.present_pages,
                                          data_bytes // rb.page_size))
        # st_blocks also counts the filesystem's own mapping blocks: ext4
        # adds one extent-tree block per 340 extents once a file has more
        # than 4 extents, XFS a bmbt block per ~250; btrfs and tmpfs none.
        alloc = st.st_blocks * 512
        meta = alloc - data_bytes
        limit = st.st_blksize * -(-len(data) // 64)
        checks.ok(0 <= meta <= limit, "%s: cp copy of %s: st_blocks*512 %d "
                  "== %d data + %d filesystem mapping blocks (<= %d for %d "
                  "extents)" % (m.label, b, alloc, data_bytes, meta, limit,
                                len(data)))


# --------------------------------------------------------------------------
# grep


def check_grep(checks, case, m, snap, vm, mm):
    """Each marker is found by grep as often as it was placed (once, or
    zero times if the guest overwrote it), in its block only, at its
    offset."""
    markers = [b for b in snap.blobs if b.name.startswith(MARKER_PREFIX)]
    ram_dir = os.path.join(m.mnt, "ram")
    sizes = {b.name: b.used_length for b in snap.ramblocks}
    for bl in markers:
        s = bl.data.decode("ascii")
        hit = mm.gpa_to_block(bl.gpa)
        if hit is None:
            checks.fail("%s: GPA 0x%x is RAM" % (bl.name, bl.gpa))
            continue
        block, boff, avail = hit
        path = m.paths.get(block)
        if path is None:
            continue
        rel = os.path.relpath(path, m.mnt)
        intact = vm.pmemsave(bl.gpa, len(bl.data)) == bl.data
        if case.stopped:
            checks.ok(intact, "%s %r is in restored QEMU memory at GPA 0x%x"
                      % (bl.name, s, bl.gpa))
        elif not intact:
            checks.note("%s was overwritten by the running guest" % bl.name)
        want = 1 if intact else 0
        big = sizes[block] > BIG_BLOCK
        label = "%s: %s (%s+0x%x%s)" % (
            m.label, bl.name, block, boff,
            ", crosses a page boundary" if boff // 4096 !=
            (boff + len(bl.data) - 1) // 4096 else "")
        if not big:
            r = _run(["grep", "-c", "-a", "-F", "-e", s, path])
            checks.ok(r.returncode in (0, 1) and r.stdout.strip() ==
                      str(want).encode(), "%s: grep -c -a -F counts %d in %s"
                      % (label, want, rel), "exit %d, stdout %r, stderr %r" % (
                          r.returncode, r.stdout[:200], r.stderr[:300]))
        # Every block file at once; -z makes NUL the line end, so lines stay
        # short and grep skips holes through SEEK_DATA.
        r = _run(["grep", "-r", "-c", "-a", "-z", "-F", "-e", s, ram_dir])
        counts = {}
        for line in r.stdout.decode("utf-8", "replace").splitlines():
            f, _, c = line.rpartition(":")
            counts[os.path.relpath(f, m.mnt)] = int(c) if c.isdigit() else c
        expect = {os.path.relpath(p, m.mnt): 0 for p in m.paths.values()}
        expect[rel] = want
        checks.ok(r.returncode in (0, 1) and counts == expect,
                  "%s: grep -r -c -a -z -F over ram/ counts %d in %s, 0 "
                  "elsewhere" % (label, want, rel),
                  "exit %d, counts %s, stderr %r" % (
                      r.returncode, {k: v for k, v in counts.items() if v},
                      r.stderr[:300]))
        if avail < len(bl.data):
            continue
        if not big:
            r = _run(["grep", "-boa", "-F", "-e", s, path])
            how, base = "grep -boa -F", 0
        else:
            # grep -z skips holes but then leaves them out of -b offsets
            # (GNU grep 3.8, also on ext4 files), and without -z it holds
            # the 5 GiB line: grep the MiB around the marker, read with dd.
            base = boff // MiB * MiB
            r = _run(["sh", "-c", "dd if=\"$0\" bs=1M skip=%d count=2 "
                      "status=none | grep -boa -F -e \"$1\"" % (base // MiB),
                      path, s])
            how = "dd bs=1M skip=%d | grep -boa -F" % (base // MiB)
        offs = [base + int(x.split(b":", 1)[0])
                for x in r.stdout.split(b"\n") if x]
        checks.equal(offs, [boff] * want, "%s: %s gives offset 0x%x" % (
            label, how, boff))


# --------------------------------------------------------------------------
# Per case


def check_mounts(checks, case, snap, ref, tools, vm, mm, main_blocks, spans,
                 workdir):
    """Mounts the case's file (with -o offset=N for a stream at an offset,
    and again without it: the magic is found) and runs the checks."""
    t0 = time.monotonic()
    spent = {}

    def timed(what, fn, *args):
        t = time.monotonic()
        try:
            return fn(*args)
        finally:
            spent[what] = spent.get(what, 0) + time.monotonic() - t

    path = os.path.abspath(snap.path)
    variants = [case.offset, None] if case.offset else [None]
    for offset in variants:
        opts = ["-o", "offset=0x%x" % offset] if offset else []
        label = "mount" + (" -o offset=0x%x" % offset if offset else "")
        full = offset == variants[0]
        info_argv = "mramfs-info --json%s" % (
            " --offset 0x%x" % offset if offset else "")
        doc = tools.info_json(path, offset=offset,
                              what=" (for snapshot.json, %s)" % label)
        with contextlib.ExitStack() as stack:
            m = mount(checks, stack, path, opts, workdir, label)
            if m is None:
                continue
            timed("tree", check_tree, checks, m, snap, ref, doc, info_argv)
            timed("seek", check_seek, checks, m, ref)
            copies = timed("cp", make_copies, checks, m, main_blocks,
                           workdir) if full else {}
            timed("content", check_content, checks, m, snap, ref, tools,
                  offset, copies)
            if full:
                timed("cp", check_copies, checks, case, m, ref, copies)
                timed("pmemsave", check_pmemsave, checks, m, vm, spans)
                timed("grep", check_grep, checks, case, m, snap, vm, mm)
            for c in copies.values():
                os.unlink(c)
                _rmdir_quiet(os.path.dirname(c))
    checks.note("mount checks took %.1f s (%s)" % (
        time.monotonic() - t0, ", ".join("%s %.1f" % kv
                                          for kv in spent.items())))


def check_stale_slot(checks, snap, ref, tools, main_block, workdir):
    """Garbage in the slot of an absent page is not content (docs/FORMAT.md
    9.9, 9.10): the mount reads zeros there, and so does QEMU after
    loading the same file."""
    t0 = time.monotonic()
    rb = next(b for b in ref.blocks if b.name == main_block)
    ps = rb.page_size
    mm = snap.memory_map()
    near = [(bl.gpa - 16 * ps, bl.gpa + len(bl.data) + 16 * ps)
            for bl in snap.blobs]
    g, o, n = max(mm.ranges_of_block(main_block), key=lambda r: r[2])
    page = gpa = None
    for off in range(o + n // 2 // ps * ps, o + n, ps):
        cand = g + (off - o)
        if not rb.present(off // ps) and \
                not any(a <= cand < z for a, z in near):
            page, gpa = off // ps, cand
            break
    if not checks.ok(page is not None, "stale slot: an absent page of %s "
                     "inside guest RAM" % main_block):
        return
    copy = os.path.join(workdir, "stale.mig")
    r = _run(["cp", "--sparse=always", snap.path, copy])
    if not checks.ok(r.returncode == 0, "stale slot: cp of the snapshot",
                     r.stderr.decode("utf-8", "replace")):
        return
    slot = rb.pages_offset + page * ps
    garbage = b"\xa5" * ps
    with open(copy, "r+b") as f:
        f.seek(slot)
        f.write(garbage)
    with open(copy, "rb") as f:
        f.seek(slot)
        raw = f.read(ps)
    what = "stale slot (%s page 0x%x, GPA 0x%x, file offset 0x%x)" % (
        main_block, page, gpa, slot)
    checks.ok(raw == garbage, "%s: the copy holds 0xa5 there, its bit is "
              "clear" % what)
    rb2 = next(b for b in qh.read_ram_layout(copy, snap.offset).blocks
               if b.name == main_block)
    checks.ok(not rb2.present(page) and rb2.read(copy, page * ps, ps) ==
              bytes(ps), "%s: the reference reader reads zeros" % what)
    r = _run(_read_block_argv(tools, copy, main_block, page * ps, ps,
                              snap.offset or None))
    checks.ok(r.returncode == 0 and r.stdout == bytes(ps), "%s: mr-read-block "
              "reads zeros" % what, "exit %d, stdout %s..., stderr %r" % (
                  r.returncode, r.stdout[:32].hex(), r.stderr[-300:]))
    opts = ["-o", "offset=0x%x" % snap.offset] if snap.offset else []
    with contextlib.ExitStack() as stack:
        m = mount(checks, stack, os.path.abspath(copy), opts, workdir,
                  "stale copy")
        if m is None:
            return
        p = os.path.join(m.mnt, expected_paths([main_block])[main_block])
        m.paths[main_block] = p
        with open(p, "rb", buffering=0) as f:
            got = os.pread(f.fileno(), 3 * ps, (page - 1) * ps)
        checks.ok(got[ps:2 * ps] == bytes(ps), "%s: the mount reads zeros "
                  "there" % what, "got %s..." % got[ps:ps + 32].hex())
        checks.ok(got[:ps] + got[2 * ps:] == rb2.read(copy, (page - 1) * ps,
                                                      ps) +
                  rb2.read(copy, (page + 1) * ps, ps),
                  "%s: the pages around it read as before" % what)
        with qh.restore(snap.binary, snap.machine_args, copy, workdir,
                        offset=snap.offset, capabilities=snap.capabilities,
                        parameters=snap.parameters,
                        nodefaults=snap.nodefaults,
                        name="restore-stale") as vm:
            checks.ok(vm.pmemsave(gpa, ps) == bytes(ps), "%s: QEMU loads the "
                      "copy and has zeros there too" % what)
            vmm = vm.memory_map()
            sp = vmm.ranges_of_block(main_block)
            check_pmemsave(checks, m, vm, {main_block: (
                sp, "every mapped byte, %d KiB" % (
                    sum(k for _, _, k in sp) // KiB))})
    os.unlink(copy)
    checks.note("stale slot checks took %.1f s" % (time.monotonic() - t0))


def _section_at(doc, pos):
    for d in doc.get("devices") or []:
        if d["offset"] <= pos < d["offset"] + d["size"]:
            return "%s (id %d)" % (d["name"], d["section_id"])
    return "?"


def check_truncated(checks, snap, tools, workdir, doc):
    """Copies truncated in the middle of the device sections are refused
    at mount time (exit 1, one line on stderr naming the file and the
    offset, nothing mounted), as QEMU refuses to load them. A cut that
    leaves a non-zero last byte and one that leaves 0x00 (what an EOF
    record looks like) are both tried."""
    t0 = time.monotonic()
    devs = (doc or {}).get("devices") or []
    if not checks.ok(devs and doc.get("eof_offset"), "truncated copies: "
                     "mramfs-info located the device sections"):
        return
    mid = (devs[0]["offset"] + doc["eof_offset"]) // 2
    with open(snap.path, "rb") as f:
        f.seek(mid)
        tail = f.read(4096)
    cuts = {}
    for i in range(1, len(tail)):
        kind = "0x00" if tail[i - 1] == 0 else "non-zero"
        cuts.setdefault(kind, mid + i)
    copy = os.path.abspath(os.path.join(workdir, "truncated.mig"))
    for kind, cut in sorted(cuts.items(), key=lambda kv: kv[1]):
        r = _run(["cp", "--sparse=always", snap.path, copy])
        if r.returncode != 0:
            checks.fail("truncated copies: cp", r.stderr.decode())
            return
        os.truncate(copy, cut)
        what = ("copy truncated at 0x%x, inside section %s, last byte %s" %
                (cut, _section_at(doc, cut - 1), kind))
        mnt = tempfile.mkdtemp(prefix="mnt-", dir=workdir)
        try:
            r = _run([tools.mount, copy, mnt])
            mounted = mountlib.is_mounted(mnt)
            daemon = mountlib.daemon_pid(mnt)
            lines = r.stderr.decode("utf-8", "replace").strip().splitlines()
        finally:
            if mountlib.is_mounted(mnt):
                mountlib.unmount(mnt)
            _rmdir_quiet(mnt)
        checks.ok(r.returncode == 1 and len(lines) == 1 and copy in lines[0]
                  and "offset 0x" in lines[0] and not mounted and
                  daemon is None, "%s: mount.mramfs exits 1 with one line "
                  "on stderr naming the file and \"offset 0x\", nothing "
                  "mounted" % what, "exit %d, mounted %s, daemon %s, stderr:"
                  "\n%s" % (r.returncode, mounted, daemon, "\n".join(lines)))
        if kind == "0x00":
            try:
                with qh.restore(snap.binary, snap.machine_args, copy,
                                workdir, offset=snap.offset,
                                capabilities=snap.capabilities,
                                parameters=snap.parameters,
                                nodefaults=snap.nodefaults,
                                name="restore-truncated", timeout=30):
                    refused = None
            except qh.HarnessError as e:
                # QEMU exits when an incoming migration fails; its last
                # words are at the end of the log quoted in the error.
                refused = str(e).strip().splitlines()[-1].strip()
            checks.ok(refused, "%s: QEMU refuses to load it too" % what,
                      "QEMU loaded it")
            if refused:
                checks.note("QEMU: %s" % refused[:300])
        os.unlink(copy)
    checks.note("truncation checks took %.1f s" % (time.monotonic() - t0))
