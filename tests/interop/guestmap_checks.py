"""The checks of test_guestmap_qemu.py: the guest-physical map and the
physmem file against QEMU (dump headers, info mtree, pmemsave), through
tests/gm-physmem or the mounted guest/ view, and what yara and a write
through guest/physmem do.  `checks` is a test_interop.Checks."""

import dataclasses
import errno
import json
import os
import subprocess

import mount_checks
import mountlib
import qemu_harness as qh

PAGE = 4096
CHUNK = 16 << 20
TOOL_TIMEOUT = 120


def run(argv, timeout=TOOL_TIMEOUT):
    return mountlib.run_tool(argv, timeout)


def joined(ranges):
    """The ranges joined as QEMU's dump joins guest-physical blocks."""
    out = []
    for r in ranges:
        if (out and out[-1]["gpa"] + out[-1]["length"] == r["gpa"] and
                out[-1]["block"] == r["block"] and
                out[-1]["block_offset"] + out[-1]["length"] ==
                r["block_offset"]):
            out[-1] = dict(out[-1], length=out[-1]["length"] + r["length"])
        else:
            out.append(dict(r))
    return out


def fmt(pairs):
    return ", ".join("0x%x+0x%x" % p for p in pairs)


def present_runs(rb, first, count):
    """[(page, n)] runs of present pages of block rb in [first,
    first+count), from its bitmap (skipping zero bytes quickly)."""
    bm = rb.bitmap
    runs = []
    page = first
    end = first + count
    while page < end:
        byte = page >> 3
        if bm[byte] == 0 and page & 7 == 0:
            # Jump over a run of zero bytes.
            nxt = len(bm)
            for i in range(byte, min(len(bm), (end + 7) >> 3)):
                if bm[i]:
                    nxt = i
                    break
            else:
                nxt = (end + 7) >> 3
            page = max(page, nxt * 8)
            continue
        if rb.present(page):
            if runs and runs[-1][0] + runs[-1][1] == page:
                runs[-1] = (runs[-1][0], runs[-1][1] + 1)
            else:
                runs.append((page, 1))
        page += 1
    return runs


def expected_extents(ranges, ref):
    """The data extents physmem must report: the present pages of each
    range's block, clipped to the range (a range may start or end inside
    a page, as the TPM's command buffer does), and the bytes it stores:
    every present page a range touches, whole."""
    blocks = {b.name: b for b in ref.blocks}
    ext = []
    stored = 0
    for r in ranges:
        rb = blocks[r["block"]]
        lo, hi = r["block_offset"], r["block_offset"] + r["length"]
        first, last = lo // PAGE, (hi + PAGE - 1) // PAGE
        for page, n in present_runs(rb, first, last - first):
            a = max(lo, page * PAGE)
            z = min(hi, (page + n) * PAGE)
            start = r["gpa"] + (a - lo)
            stored += n * PAGE
            if ext and ext[-1][1] == start:
                ext[-1] = (ext[-1][0], start + z - a)
            else:
                ext.append((start, start + z - a))
    return ext, stored


WHOLE = 32 << 20  # ranges up to this size are compared whole
MiB = 1 << 20


def compared_spans(r, extents, rng):
    """[(gpa, length)] of range r to compare with pmemsave: all of it when
    it is small; in a larger one (RAM) every present page with a page on
    either side, the first and last MiB and four random MiBs of it, so the
    test stays in seconds."""
    gpa, end = r["gpa"], r["gpa"] + r["length"]
    if r["length"] <= WHOLE:
        return [(gpa, r["length"])]
    want = [(gpa, gpa + MiB), (end - MiB, end)]
    for a, b in extents:
        if a < end and gpa < b:
            want.append((max(gpa, a - PAGE), min(end, b + PAGE)))
    for _ in range(4):
        at = gpa + rng.randrange(0, (r["length"] - MiB) // PAGE) * PAGE
        want.append((at, at + MiB))
    spans = []
    for a, b in sorted(want):
        if spans and a <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], b))
        else:
            spans.append((a, b))
    return [(a, b - a) for a, b in spans]


class HelperReader:
    """physmem through tests/gm-physmem (ds_guest_physmem, no mount)."""

    def __init__(self, physmem, path):
        self.physmem, self.path = physmem, path

    def open(self, gpa, n):
        return subprocess.Popen([self.physmem, self.path, str(gpa), str(n)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    label = "physmem"


class _FileSpan:
    """A span of the mounted guest/physmem read like the helper's pipe."""

    def __init__(self, path, gpa):
        self.fd = os.open(path, os.O_RDONLY)
        self.pos = gpa
        self.stdout = self
        self.stderr = self

    def read(self, n=-1):
        if n < 0:
            return b""
        out = bytearray()
        while len(out) < n:
            b = os.pread(self.fd, n - len(out), self.pos)
            if not b:
                break
            out += b
            self.pos += len(b)
        return bytes(out)

    def close(self):
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def wait(self):
        return 0


class MountReader:
    """guest/physmem of a mount."""

    def __init__(self, path):
        self.path = path

    def open(self, gpa, n):
        return _FileSpan(self.path, gpa)

    label = "guest/physmem"


def check_pmemsave(checks, vm, reader, ranges, extents, rng):
    for r in ranges:
        spans = compared_spans(r, extents, rng)
        bad = None
        err = ""
        rc = 0
        for gpa, n in spans:
            p = reader.open(gpa, n)
            pos = gpa
            try:
                for chunk in vm.pmemsave_chunks(gpa, n, CHUNK):
                    mine = p.stdout.read(len(chunk))
                    if mine != chunk and bad is None:
                        i = next((k for k in range(min(len(mine), len(chunk)))
                                  if mine[k] != chunk[k]),
                                 min(len(mine), len(chunk)))
                        bad = "first difference at guest-physical 0x%x (%s)" % (
                            pos + i, "physmem ended" if i == len(mine) else
                            "physmem 0x%02x, QEMU 0x%02x" % (mine[i], chunk[i]))
                    pos += len(chunk)
            finally:
                p.stdout.close()
                e = p.stderr.read()
                err += e.decode(errors="replace") if e else ""
                p.stderr.close()
                rc |= p.wait()
        what = "all of it" if len(spans) == 1 and spans[0][1] == r["length"] \
            else "%d spans, 0x%x bytes" % (len(spans), sum(n for _, n in spans))
        checks.ok(rc == 0 and bad is None,
                  "%s = pmemsave over 0x%x+0x%x (%s; %s)" % (
                      reader.label, r["gpa"], r["length"], r["block"], what),
                  bad or err)


def check_mtree(checks, mm, ranges):
    """Every flat range of `info mtree -f` under a map range is the same
    RAM block at the same offset and of the same kind (ram, or rom for
    read-only RAM), and covers it without gaps."""
    for r in ranges:
        bad = []
        pos, end = r["gpa"], r["gpa"] + r["length"]
        for fr in mm.view.ranges:
            if fr.end < pos or fr.start >= end:
                continue
            block = qh.resolve_block_name(fr.region, mm.block_names)
            a = max(pos, fr.start)
            if a != pos:
                bad.append("nothing at 0x%x-0x%x" % (pos, a - 1))
            if block != r["block"] or fr.kind != r["kind"] or \
                    fr.region_offset + (a - fr.start) != \
                    r["block_offset"] + (a - r["gpa"]):
                bad.append("0x%x: map %s %s+0x%x, mtree %s %s+0x%x" % (
                    a, r["kind"], r["block"], r["block_offset"] + a - r["gpa"],
                    fr.kind, block or fr.region,
                    fr.region_offset + a - fr.start))
            pos = min(end, fr.end + 1)
        if pos != end:
            bad.append("nothing at 0x%x-0x%x" % (pos, end - 1))
        checks.ok(not bad, "info mtree -f: 0x%x+0x%x is %s %s+0x%x" % (
            r["gpa"], r["length"], r["kind"], r["block"], r["block_offset"]),
            "\n".join(bad[:8]))


def check_yara(checks, physmem, blobs, workdir):
    """yara -s reports each marker string at its guest-physical address."""
    marks = [b for b in blobs if b.name.startswith("marker")]
    rule = os.path.join(workdir, "markers.yar")
    with open(rule, "w") as f:
        f.write("rule markers {\n  strings:\n")
        for i, b in enumerate(marks):
            f.write('    $m%d = "%s"\n' % (i, b.data.decode("ascii")))
        f.write("  condition:\n    any of them\n}\n")
    res = run(["yara", "-s", rule, physmem])
    found = {}
    for line in res.stdout.decode(errors="replace").splitlines():
        if line.startswith("0x") and ":$m" in line:
            off, name = line.split(":")[:2]
            found.setdefault(int(name[2:]), []).append(int(off, 16))
    for i, b in enumerate(marks):
        checks.equal(found.get(i), [b.gpa], "yara -s finds %s at its "
                     "guest-physical address 0x%x" % (b.name, b.gpa))


def check_mount(checks, case, mnt, doc, ranges, want_ext, stored, blobs, vm,
                rng):
    """guest/ of a read-only mount against the map and QEMU."""
    guest = os.path.join(mnt, "guest")
    physmem = os.path.join(guest, "physmem")
    checks.equal(sorted(os.listdir(guest))[:2], ["memmap.json", "physmem"],
                 "guest/ holds memmap.json and physmem")
    with open(os.path.join(guest, "memmap.json")) as f:
        checks.equal(json.load(f), doc, "guest/memmap.json = mramfs-info "
                     "--map --json")
    st = os.stat(physmem)
    end = max((r["gpa"] + r["length"] for r in ranges), default=0)
    checks.equal((st.st_size, st.st_blocks), (end, (stored + 511) // 512),
                 "guest/physmem: st_size = end of the last range, st_blocks "
                 "= its present pages")
    fd = os.open(physmem, os.O_RDONLY)
    try:
        got = mountlib.seek_runs(fd, st.st_size)
    finally:
        os.close(fd)
    checks.equal(fmt([(a, b - a) for a, b in got]),
                 fmt([(a, b - a) for a, b in want_ext]),
                 "guest/physmem SEEK_DATA/SEEK_HOLE = present pages")
    check_pmemsave(checks, vm, MountReader(physmem), ranges, want_ext, rng)
    if case.yara:
        check_yara(checks, physmem, blobs, os.path.dirname(mnt))


def write_target(ranges):
    """A RAM range whose block offset differs from its address (so that a
    wrong mapping shows), and a hole between ranges."""
    ram = [r for r in ranges if r["kind"] == "ram" and r["length"] >= 3 * PAGE
           and r["gpa"] != r["block_offset"]]
    r = max(ram, key=lambda x: x["length"])
    hole = next(a["gpa"] + a["length"] for a, b in zip(ranges, ranges[1:])
                if a["gpa"] + a["length"] < b["gpa"])
    return r, hole


def check_write(checks, case, snap, ranges, workdir, rng):
    """Writes through guest/physmem of a read-write mount of a copy: the
    bytes land at the block offset, QEMU restores them, and a write to an
    unmapped address fails with ENXIO and changes nothing."""
    copy = os.path.join(workdir, "copy.mig")
    subprocess.run(["cp", "--sparse=always", snap.path, copy], check=True)
    r, hole = write_target(ranges)
    gpa = r["gpa"] + r["length"] // 2 - 0x321     # across a page boundary
    data = rng.randbytes(3 * PAGE - 0x10)
    offset = r["block_offset"] + (gpa - r["gpa"])
    with mountlib.mounted(copy, ["-o", "rw"]) as mnt:
        physmem = os.path.join(mnt, "guest", "physmem")
        block = os.path.join(mnt, "ram", *mount_checks.block_components(
            r["block"]))
        # The block file's pages now sit in the kernel's cache.
        with open(block, "rb") as f:
            f.seek(offset)
            cached = f.read(len(data))
        fd = os.open(physmem, os.O_WRONLY)
        try:
            before = mountlib.sha256(copy) if os.path.getsize(copy) < (1 << 30) else None
            try:
                os.pwrite(fd, b"x" * 100, hole)
                e = 0
            except OSError as ex:
                e = ex.errno
            checks.equal(errno.errorcode.get(e, e), "ENXIO",
                         "a write at unmapped 0x%x fails with ENXIO" % hole)
            if before:
                checks.equal(mountlib.sha256(copy), before,
                             "... and leaves the snapshot unchanged")
            checks.equal(os.pwrite(fd, data, gpa), len(data),
                         "a write of %d bytes at 0x%x (%s+0x%x)" % (
                             len(data), gpa, r["block"], offset))
        finally:
            os.close(fd)
        with open(physmem, "rb") as f:
            f.seek(gpa)
            checks.ok(f.read(len(data)) == data, "guest/physmem reads it back")
        with open(block, "rb") as f:
            f.seek(offset)
            now = f.read(len(data))
        checks.ok(now == data and cached != data, "ram/%s, read before, "
                  "shows the write at 0x%x (its cached pages were dropped)" % (
                      r["block"], offset))
        # And the other way: a write to the block file shows in physmem.
        other = bytes(b ^ 0xff for b in data)
        with open(block, "r+b") as f:
            f.seek(offset)
            f.write(other)
        with open(physmem, "rb") as f:
            f.seek(gpa)
            checks.ok(f.read(len(other)) == other, "a write to ram/%s shows "
                      "in guest/physmem at once" % r["block"])
        with open(physmem, "r+b", buffering=0) as f:
            f.seek(gpa)
            f.write(data)
    ref = qh.read_ram_layout(copy)
    rb = next(b for b in ref.blocks if b.name == r["block"])
    checks.ok(rb.read(copy, offset, len(data)) == data,
              "the bytes are at %s+0x%x in the file" % (r["block"], offset))
    s2 = dataclasses.replace(snap, path=copy)
    with qh.restore_snapshot(s2, workdir, name="restore-copy") as vm:
        checks.ok(vm.pmemsave(gpa, len(data)) == data,
                  "QEMU restores them at 0x%x (pmemsave after -incoming)" % gpa)


