#!/usr/bin/env python3
"""QEMU round trips of writes made through a read-write mramfs mount.

Each case saves a mapped-ram snapshot with QEMU 10.x (random blobs in guest
RAM, so that some pages are present), keeps a sparse copy as the original,
mounts the snapshot read-write and writes random bytes through the mount at
offsets chosen from the machine's real memory map, keeping a model of what
every main RAM block must now hold. Then:

  file      after the unmount mramfs-info accepts the file, and the main
            blocks read by mr-read-block and by qemu_harness's reference
            reader equal the model, whole;
  only §12  compared with the original, the file changed only inside page
            areas and bitmaps (layout from mramfs-info --json), and only
            bits of written pages went 0 -> 1 (docs/FORMAT.md §12, mr-update.h);
  QEMU      QEMU loads the file; guest memory (pmemsave) equals the model
            for every written page and every mapped byte of main RAM;
  QEMU again the restored (paused) VM saves a second mapped-ram file, whose
            main blocks equal the model: QEMU agrees after a full cycle.

The pages: a present page written whole and partly, an absent page written
partly (the rest must read as zeros), an absent page whose slot held 0xA5
garbage before the mount (docs/FORMAT.md §9.9: the garbage must not come back),
a write from a present into an absent page, the last page of each main
block, 1 MiB at an odd offset, and zeros over present and absent pages
(whole zero pages stay sparse, mr-update.h). Writes that would make a file
QEMU cannot load (past the end of a block, truncation, snapshot.json, new
files) are tried too and must fail.

    test_write_qemu.py --info BUILD/tools/mramfs-info \\
                       --read BUILD/tests/mr-read-block \\
                       --mount BUILD/tools/mount.mramfs --case pc-write
    test_write_qemu.py --list

Needs root and /dev/fuse. Prints one line per check and ends with
"N passed, N failed"; exits 1 if anything failed.
"""

import dataclasses
import os
import random
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qemu_harness as qh  # noqa: E402
import mount_checks  # noqa: E402
import test_interop as ti  # noqa: E402

mountlib = mount_checks.mountlib

KiB = ti.KiB
MiB = ti.MiB
PAGE = ti.PAGE
CHUNK = ti.CHUNK
X86 = ti.X86
PPC = ti.PPC
# x86: VGA window and option ROM / BIOS shadow area. pc.ram is there in the
# flat view of a -S machine, but what pmemsave reads depends on SMRAM and
# the PAM registers, which firmware changes: no target there, and the
# QEMU comparisons leave it out (mr-read-block still covers it).
X86_LEGACY_HOLE = (0xa0000, 0x100000)


@dataclasses.dataclass
class Case:
    name: str
    doc: str
    binary: str
    machine_args: list
    nodefaults: bool = True
    stopped: bool = True

    @property
    def holes(self):
        return [X86_LEGACY_HOLE] if self.binary == X86 else []


CASES = [
    Case("pc-write", "x86 pc, 128 MiB, saved stopped (-S)",
         X86, ["-M", "pc", "-m", "128"]),
    # Default devices, as ppc-40p of test_interop.py: the file also holds
    # vga.vram and option ROM blocks, which must not change.
    Case("ppc-40p-write", "PReP 40p, 64 MiB (simm.0 + simm.1), default "
         "devices, saved stopped", PPC, ["-M", "40p", "-m", "64"],
         nodefaults=False),
    Case("pc-write-running", "x86 pc, 128 MiB, saved live from a running "
         "guest (SeaBIOS ran)", X86, ["-M", "pc", "-m", "128"],
         stopped=False),
]
CASES_BY_NAME = {c.name: c for c in CASES}


# --------------------------------------------------------------------------
# What is written, and what the blocks must hold


@dataclasses.dataclass
class Target:
    name: str
    block: str
    offset: int
    data: bytes

    @property
    def end(self):
        return self.offset + len(self.data)

    def pages(self, ps=PAGE):
        return range(self.offset // ps, (self.end + ps - 1) // ps)

    def check_range(self, ps=PAGE):
        """The whole pages the write touches: the bytes around the written
        ones are checked too (zeros in a page that was absent)."""
        lo = self.offset // ps * ps
        return lo, (self.end + ps - 1) // ps * ps - lo

    def __str__(self):
        return "%s (%s+0x%x, 0x%x bytes)" % (self.name, self.block,
                                             self.offset, len(self.data))


class Model:
    """Expected bytes of the main blocks: the original file as mr-read-block
    reads it, with the targets written over it in order. Only the targets
    are held in memory; the original is read chunk by chunk."""

    def __init__(self, tools, original, sizes):
        self.tools = tools
        self.original = original
        self.sizes = sizes          # {block: used_length}
        self.targets = []

    def write(self, t):
        self.targets.append(t)

    def expected(self, block, off, n):
        out = bytearray(self.tools.read_block(self.original, block, off, n))
        for t in self.targets:
            if t.block != block:
                continue
            a, z = max(off, t.offset), min(off + n, t.end)
            if a < z:
                out[a - off:z - off] = t.data[a - t.offset:z - t.offset]
        return bytes(out)

    def written_pages(self, block, ps=PAGE):
        return {p for t in self.targets if t.block == block
                for p in t.pages(ps)}

    def at(self, block, off):
        """What was written at block offset off (for failure messages)."""
        hit = [t.name for t in self.targets
               if t.block == block and t.offset <= off < t.end]
        if hit:
            return ", ".join(hit)
        near = [t.name for t in self.targets if t.block == block and
                0 <= off - t.check_range()[0] < t.check_range()[1]]
        if near:
            return "nothing, but it is in the page(s) of " + ", ".join(near)
        return "nothing (untouched)"


def mismatch(got, want, block, base, model, names=("got", "expected"),
             gpa=None):
    """'' if equal, else one line: where, expected vs got, what was written
    there."""
    j = ti.first_difference(got, want)
    if j is None:
        return ""
    if j >= min(len(got), len(want)):
        return "%s+0x%x: lengths differ: %s %d, %s %d" % (
            block, base, names[0], len(got), names[1], len(want))
    pages = [p for p in range(0, len(got), PAGE)
             if got[p:p + PAGE] != want[p:p + PAGE]]
    off = base + j
    where = model.at(block, off)
    return ("%s offset 0x%x%s: %s %s, %s %s; %d page(s) differ in "
            "0x%x+0x%x, first at 0x%x; written there: %s" % (
                block, off, " (GPA 0x%x)" % (gpa + j) if gpa is not None
                else "", names[1], want[j:j + 16].hex(), names[0],
                got[j:j + 16].hex(), len(pages), base, len(got),
                base + pages[0], where))


# --------------------------------------------------------------------------
# Choosing the targets


def allowed_pages(mm, block, rb, holes, roms):
    """Pages of block that are plain RAM in the flat view: mapped, outside
    the legacy hole, not under a ROM image copied into RAM (info roms
    mem=ram, e.g. 40p's cmdline)."""
    avoid = list(holes) + [(r.addr, r.addr + r.size) for r in roms
                           if r.addr is not None and r.mem == "ram"]
    ps = rb.page_size
    out = set()
    for gpa, boff, n in mm.ranges_of_block(block):
        for p in range(-(-boff // ps), (boff + n) // ps):
            g = gpa + p * ps - boff
            if not any(a < g + ps and g < z for a, z in avoid):
                out.add(p)
    return out


def plan_targets(case, pmm, roms, refs, blocks, rng):
    """Targets in the main blocks, from the saved file's bitmaps: most in
    the first (largest) main block, the last page of every one. Targets
    never touch or neighbour each other."""
    primary = blocks[0]
    rb = refs[primary]
    ps = rb.page_size
    allowed = {b: allowed_pages(pmm, b, refs[b], case.holes, roms)
               for b in blocks}
    ok = allowed[primary]
    present = sorted(p for p in ok if rb.present(p))
    absent = sorted(p for p in ok if not rb.present(p))
    taken = set()

    def free(p, span=1):
        return all(q in ok for q in range(p, p + span)) and \
            not any(q in taken for q in range(p - 1, p + span + 1))

    def pick(cands, what, span=1):
        cands = [p for p in cands if free(p, span)]
        if not cands:
            raise qh.HarnessError("%s: no free page for %s" % (primary, what))
        p = rng.choice(cands)
        taken.update(range(p - 1, p + span + 1))
        return p

    targets = []

    def add(name, block, offset, data):
        targets.append(Target(name, block, offset, data))

    # The last page of each main block (pc.ram's is the top of RAM).
    for b in blocks:
        last = refs[b].num_pages - 1
        if last not in allowed[b]:
            raise qh.HarnessError("last page of %s is not plain RAM" % b)
        if b == primary:
            taken.update((last - 1, last))
            add("last page of %s, whole (%s)" % (b, state(rb, last)), b,
                last * ps, rng.randbytes(ps))
        else:
            add("last 0x321 bytes of %s (%s)" % (b, state(refs[b], last)),
                b, refs[b].used_length - 0x321, rng.randbytes(0x321))

    # 1 MiB at an odd offset (258 pages), first, while there is room
    # around the blobs: a window with a few present pages among absent
    # ones, so that the write is split into both kinds.
    span = MiB // ps + 2
    pre = [0]
    for p in range(rb.num_pages):
        pre.append(pre[-1] + rb.present(p))
    wins = [s for s in range(0, rb.num_pages - span, 8) if free(s, span)]
    mixed = [s for s in wins if 0 < pre[s + span] - pre[s] <= 64]
    s = pick(mixed or wins, "1 MiB", span)
    npres = pre[s + span] - pre[s]
    add("1 MiB at an odd offset (%d of %d pages present)" % (npres, span),
        primary, s * ps + 0x1235, rng.randbytes(MiB))

    p = pick(present, "present page, whole")
    add("present page, whole", primary, p * ps, rng.randbytes(ps))
    p = pick(present, "present page, partly")
    add("present page, 0x1c8 bytes inside", primary, p * ps + 0x123,
        rng.randbytes(0x1c8))
    p = pick([q for q in present if q + 1 in ok and not rb.present(q + 1)],
             "present -> absent", span=2)
    add("present page into the absent next one (0x120 bytes across)",
        primary, (p + 1) * ps - 0x90, rng.randbytes(0x120))
    p = pick(present, "zero page")
    add("whole zero page over a present page", primary, p * ps, bytes(ps))
    p = pick(present, "zeros inside a present page")
    add("0x100 zero bytes inside a present page", primary, p * ps + 0x200,
        bytes(0x100))
    p = pick(absent, "absent page, partly")
    add("absent page, 0x2a5 bytes inside", primary, p * ps + 0x456,
        rng.randbytes(0x2a5))
    p = pick(absent, "stale slot")
    add("absent page with 0xA5 garbage in its slot, 12 bytes inside",
        primary, p * ps + 0x7f0, rng.randbytes(12))
    stale = (primary, p)
    p = pick(absent, "zero page over an absent page")
    add("whole zero page over an absent page", primary, p * ps, bytes(ps))
    return targets, stale


def state(rb, page):
    return "present" if rb.present(page) else "absent"


# --------------------------------------------------------------------------
# Through the mount


def write_through_mount(checks, mnt, paths, targets, model):
    """pwrite every target; read each back through the mount. Returns the
    seconds spent writing."""
    fds = {}
    t0 = time.monotonic()
    try:
        for t in targets:
            if t.block not in fds:
                fds[t.block] = os.open(paths[t.block], os.O_WRONLY)
            try:
                n = os.pwrite(fds[t.block], t.data, t.offset)
            except OSError as e:
                checks.fail("mount: write %s" % t, str(e))
                continue
            # A short write would also be a bug: only what landed is known.
            if checks.equal(n, len(t.data), "mount: write %s" % t):
                model.write(t)
            else:
                model.write(Target(t.name + " (short)", t.block, t.offset,
                                   t.data[:n]))
    finally:
        for fd in fds.values():
            os.close(fd)
    spent = time.monotonic() - t0
    errs = []
    for t in model.targets:
        lo, n = t.check_range()
        with open(paths[t.block], "rb", buffering=0) as f:
            got = os.pread(f.fileno(), n, lo)
        d = mismatch(got, model.expected(t.block, lo, n), t.block, lo, model,
                     ("mount", "model"))
        if d:
            errs.append("%s: %s" % (t.name, d))
    checks.ok(not errs, "mount: every written page reads back == model "
              "(%d targets)" % len(model.targets), "\n".join(errs))
    return spent


def try_forbidden(checks, mnt, paths, primary, size):
    """What would make a file QEMU cannot load must fail; the byte
    comparison with the original later shows that nothing of it landed."""
    p = paths[primary]
    fd = os.open(p, os.O_WRONLY)
    try:
        attempts = [
            # A write across the end writes its part inside the block, as
            # at a file-size limit (tests/fs/test_write.py pins that); here
            # the last page is a target, so only writes at the end.
            ("write of 0x10 bytes at the end of %s" % primary,
             lambda: os.pwrite(fd, b"\x5a" * 0x10, size)),
            ("truncate %s to used_length + 4 KiB" % primary,
             lambda: os.ftruncate(fd, size + PAGE)),
            ("truncate %s to used_length - 4 KiB" % primary,
             lambda: os.ftruncate(fd, size - PAGE)),
            ("open snapshot.json for writing",
             lambda: os.close(os.open(os.path.join(mnt, "snapshot.json"),
                                      os.O_WRONLY))),
            ("create ram/new-block",
             lambda: os.close(os.open(os.path.join(mnt, "ram", "new-block"),
                                      os.O_WRONLY | os.O_CREAT, 0o644))),
        ]
        for what, fn in attempts:
            try:
                r = fn()
            except OSError as e:
                checks.ok(True, "mount: %s fails (%s)" % (
                    what, os.strerror(e.errno)))
            else:
                checks.fail("mount: %s fails" % what, "it returned %r" % (r,))
    finally:
        os.close(fd)
    checks.equal(os.stat(p).st_size, size, "mount: %s still has used_length "
                 "bytes" % primary)


# --------------------------------------------------------------------------
# The file after the unmount


LAYOUT_KEYS = ("name", "used_length", "page_size", "num_pages", "stored",
               "desc_offset", "header_offset", "bitmap_offset", "bitmap_size",
               "pages_offset")


def layout(doc):
    return [{k: b.get(k) for k in LAYOUT_KEYS}
            for b in (doc or {}).get("ram_blocks") or []]


def check_blocks_vs_model(checks, what, path, blocks, model, tools):
    """Main blocks of path, whole, chunk by chunk: mr-read-block (and the
    reference reader, with path's own bitmaps) == model."""
    refs = {b.name: b for b in qh.read_ram_layout(path).blocks}
    for b in blocks:
        rb = refs[b]
        errs = []
        for off in range(0, rb.used_length, CHUNK):
            n = min(CHUNK, rb.used_length - off)
            want = model.expected(b, off, n)
            try:
                got = tools.read_block(path, b, off, n)
            except ti.ToolError as e:
                errs.append(str(e))
                break
            d = mismatch(got, want, b, off, model, ("mr-read-block", "model"))
            if d:
                errs.append(d)
            d = mismatch(rb.read(path, off, n), want, b, off, model,
                         ("reference reader", "model"))
            if d:
                errs.append(d)
        checks.ok(not errs, "%s: %s (0x%x bytes), whole: mr-read-block and "
                  "reference reader == model" % (what, b, rb.used_length),
                  "\n".join(errs[:8]))


def check_only_pages_and_bitmaps(checks, original, path, doc, model,
                                 blocks):
    """docs/FORMAT.md §12: outside page areas and bitmaps every byte is the
    original's; inside the bitmaps, only bits of written pages went
    0 -> 1."""
    size = os.path.getsize(original)
    checks.equal(os.path.getsize(path), size, "file size unchanged")
    skip = []
    for b in doc["ram_blocks"]:
        if not b.get("stored"):
            continue
        bm = b["bitmap_offset"]
        skip.append((bm, bm + b["bitmap_size"]))
        skip.append((b["pages_offset"], b["pages_offset"] + b["used_length"]))
    skip.sort()
    keep, pos = [], 0
    for a, z in skip:
        if a > pos:
            keep.append((pos, a))
        pos = max(pos, z)
    if pos < size:
        keep.append((pos, size))
    errs, compared = [], 0
    with open(original, "rb") as fo, open(path, "rb") as fw:
        for a, z in keep:
            for off in range(a, z, CHUNK):
                n = min(CHUNK, z - off)
                x = os.pread(fo.fileno(), n, off)
                y = os.pread(fw.fileno(), n, off)
                compared += n
                j = ti.first_difference(y, x)
                if j is not None:
                    errs.append("file offset 0x%x: original %s, now %s" % (
                        off + j, x[j:j + 16].hex(), y[j:j + 16].hex()))
                    break
    checks.ok(not errs, "every byte outside page areas and bitmaps is the "
              "original's (%d ranges, %d KiB compared)" % (
                  len(keep), compared // KiB), "\n".join(errs[:10]))

    bad, dropped, changed = [], [], {}
    with open(original, "rb") as fo, open(path, "rb") as fw:
        for b in doc["ram_blocks"]:
            if not b.get("stored"):
                continue
            x = os.pread(fo.fileno(), b["bitmap_size"], b["bitmap_offset"])
            y = os.pread(fw.fileno(), b["bitmap_size"], b["bitmap_offset"])
            mine = model.written_pages(b["name"], b["page_size"])
            for i, (u, v) in enumerate(zip(x, y)):
                if u == v:
                    continue
                for k in range(8):
                    m = 1 << k
                    if u & m == v & m:
                        continue
                    page = i * 8 + k
                    if u & m:
                        dropped.append("%s page 0x%x" % (b["name"], page))
                    elif page not in mine:
                        bad.append("%s page 0x%x" % (b["name"], page))
                    else:
                        changed.setdefault(b["name"], set()).add(page)
    checks.ok(not dropped and not bad, "bitmaps: only bits of written pages "
              "changed, and only 0 -> 1 (%d set)" % sum(
                  len(v) for v in changed.values()),
              "cleared: %s\nset on pages not written: %s" % (
                  ", ".join(dropped[:20]) or "none",
                  ", ".join(bad[:20]) or "none"))
    return changed


def check_bits(checks, path, offset, refs0, model, blocks):
    """As mr-update.h documents: a written page is present afterwards iff
    it was present, or it now holds a non-zero byte (whole zero pages stay
    sparse). A non-zero page without its bit would be lost by QEMU."""
    refs1 = {b.name: b for b in qh.read_ram_layout(path, offset).blocks}
    errs = []
    for b in blocks:
        r0, r1 = refs0[b], refs1[b]
        for p in sorted(model.written_pages(b, r0.page_size)):
            data = model.expected(b, p * r0.page_size, r0.page_size) \
                if not r0.present(p) else None
            want = r0.present(p) or data != bytes(r0.page_size)
            if r1.present(p) != want:
                errs.append("%s page 0x%x: bit %d, expected %d (was %d%s)" % (
                    b, p, r1.present(p), want, r0.present(p),
                    ", model non-zero" if want and not r0.present(p) else ""))
    checks.ok(not errs, "bitmaps: a written page is present iff it was or "
              "now holds non-zero bytes (reference reader)",
              "\n".join(errs[:20]))


# --------------------------------------------------------------------------
# QEMU


def qemu_spans(mm, block, holes):
    """[(gpa, block_offset, length)] of block in the flat view, minus the
    legacy hole."""
    out = []
    for g, o, n in mm.ranges_of_block(block):
        pieces = [(g, g + n)]
        for a, z in holes:
            pieces = [q for lo, hi in pieces for q in
                      ((lo, min(hi, a)), (max(lo, z), hi)) if q[0] < q[1]]
        out += [(lo, o + lo - g, hi - lo) for lo, hi in pieces]
    return out


def check_restored(checks, case, vm, blocks, model):
    mm = vm.memory_map()
    errs = []
    for t in model.targets:
        lo, n = t.check_range()
        try:
            got = vm.read_block(mm, t.block, lo, n)
        except qh.HarnessError as e:
            errs.append("%s: %s" % (t.name, e))
            continue
        d = mismatch(got, model.expected(t.block, lo, n), t.block, lo, model,
                     ("qemu", "model"), gpa=mm.block_to_gpa(t.block, lo)[0])
        if d:
            errs.append("%s: %s" % (t.name, d))
    checks.ok(not errs, "restored QEMU: every written page (pmemsave) == "
              "model (%d targets)" % len(model.targets), "\n".join(errs))
    for b in blocks:
        spans = qemu_spans(mm, b, case.holes)
        errs, total = [], 0
        for gpa, boff, length in spans:
            for c in range(0, length, CHUNK):
                k = min(CHUNK, length - c)
                got = vm.pmemsave(gpa + c, k)
                total += k
                d = mismatch(got, model.expected(b, boff + c, k), b, boff + c,
                             model, ("qemu", "model"), gpa=gpa + c)
                if d:
                    errs.append(d)
        checks.ok(not errs and total, "restored QEMU: %s, every mapped byte "
                  "(%d KiB in %d ranges%s) == model" % (
                      b, total // KiB, len(spans), ", legacy hole left out"
                      if case.holes else ""), "\n".join(errs[:8]))


def save_again(checks, vm, path):
    """migrate the restored VM to a second mapped-ram file. restore() set
    the mapped-ram capability; the VM is paused (or prelaunch) and must
    stay so."""
    before = vm.status()
    checks.ok(before in ("paused", "prelaunch"), "restored VM is not running "
              "before the second save (%s)" % before)
    t = time.monotonic()
    vm.cmd("migrate", {"uri": qh.file_uri(path)})
    res = vm.wait_migration(what="second save (migrate of the restored VM)")
    after = vm.status()
    checks.ok(after != "running", "second save: migrate from %s completed "
              "in %.1f s, runstate now %s" % (before, time.monotonic() - t,
                                              after))
    return res


# --------------------------------------------------------------------------


def run_case(case, tools, checks, workdir, mounts):
    t0 = time.monotonic()
    times = {}

    def lap(what, since):
        times[what] = time.monotonic() - since
        return time.monotonic()

    rng = random.Random("mramfs-write-qemu/" + case.name)
    print("# case %s: %s" % (case.name, case.doc))
    pr = qh.probe(case.binary, case.machine_args, workdir,
                  nodefaults=case.nodefaults)
    pmm = pr.memory_map()
    blocks = [b.name for b in ti.main_ram_blocks(pr.ramblocks, pmm)]
    blocks.sort(key=lambda n: -next(b.used_length for b in pr.ramblocks
                                    if b.name == n))
    if not checks.ok(blocks, "main RAM blocks: %s" % ", ".join(blocks)):
        return
    blobs = ti.make_blobs(pmm, blocks, pr.roms, rng)

    # 1. the snapshot and the original
    path = os.path.join(workdir, case.name + ".mig")
    original = os.path.join(workdir, case.name + ".orig.mig")
    snap = qh.save_snapshot(case.binary, case.machine_args, path, workdir,
                            stopped=case.stopped, blobs=blobs,
                            nodefaults=case.nodefaults)
    r = subprocess.run(["cp", "--sparse=always", path, original],
                       capture_output=True, text=True)
    if not checks.ok(r.returncode == 0, "cp --sparse=always of the snapshot",
                     r.stderr):
        return
    ref0 = qh.read_ram_layout(original, snap.offset)
    refs0 = {b.name: b for b in ref0.blocks}
    checks.note("saved in %.1f s (%s -> %s); main blocks' present pages: %s"
                % (snap.seconds, snap.status_before, snap.status_after,
                   ", ".join("%s %d" % (b, refs0[b].present_pages)
                             for b in blocks)))
    doc0 = tools.info_json(original, what=" (original)")
    if doc0 is None:
        return
    ref_keys = ("name", "used_length", "page_size", "header_offset",
                "bitmap_offset", "bitmap_size", "pages_offset")
    checks.equal([{k: b.get(k) for k in ref_keys} for b in doc0["ram_blocks"]],
                 [{k: getattr(b, k) for k in ref_keys} for b in ref0.blocks],
                 "original: mramfs-info block layout == reference reader")
    model = Model(tools, original, {b: refs0[b].used_length for b in blocks})
    # The model starts from mr-read-block: check it against the reference
    # reader once.
    errs = []
    for b in blocks:
        for off in range(0, refs0[b].used_length, CHUNK):
            n = min(CHUNK, refs0[b].used_length - off)
            d = mismatch(model.expected(b, off, n), refs0[b].read(original,
                                                                   off, n),
                         b, off, model, ("mr-read-block", "reference reader"))
            if d:
                errs.append(d)
    checks.ok(not errs, "original: mr-read-block == reference reader over "
              "the main blocks (the model's base)", "\n".join(errs[:5]))
    t = lap("save", t0)

    # 2. targets; garbage in one absent slot; the writes
    targets, (sb, sp) = plan_targets(case, pmm, pr.roms, refs0, blocks, rng)
    for tg in targets:
        g = pmm.block_to_gpa(tg.block, tg.offset)
        checks.note("target %-62s GPA 0x%x" % (tg, g[0] if g else -1))
    slot = refs0[sb].pages_offset + sp * refs0[sb].page_size
    with open(path, "r+b") as f:
        f.seek(slot)
        f.write(b"\xa5" * PAGE)
    checks.ok(not refs0[sb].present(sp), "0xA5 written into the slot of "
              "absent page 0x%x of %s (file offset 0x%x) before mounting"
              % (sp, sb, slot))
    names = [b.name for b in snap.ramblocks]
    rel = mount_checks.expected_paths(names)
    mnt = tempfile.mkdtemp(prefix="mnt-", dir=workdir)
    mounts.append(mnt)
    spent = 0.0
    with mountlib.mounted(os.path.abspath(path), (), mnt=mnt):
        paths = {b: os.path.join(mnt, rel[b]) for b in blocks}
        checks.ok(not os.statvfs(mnt).f_flag & os.ST_RDONLY,
                  "mount.mramfs without options mounts a writable file "
                  "read-write")
        for b in blocks:
            checks.equal(os.getxattr(paths[b], "user.mramfs.idstr").decode(),
                         b, "mount: %s is block %s" % (rel[b], b))
        spent = write_through_mount(checks, mnt, paths, targets, model)
        try_forbidden(checks, mnt, paths, blocks[0],
                      refs0[blocks[0]].used_length)
    os.rmdir(mnt)
    mounts.remove(mnt)
    checks.note("%d targets, %d KiB written through the mount in %.2f s" % (
        len(model.targets), sum(len(x.data) for x in model.targets) // KiB,
        spent))
    t = lap("mount+write", t)

    # 3. the file
    doc1 = tools.info_json(path, what=" (after the writes)")
    if doc1 is not None:
        checks.equal(layout(doc1), layout(doc0), "after the writes: same "
                     "block layout as the original")
    check_blocks_vs_model(checks, "file after the writes", path, blocks,
                          model, tools)
    # 6. nothing but pages and bitmaps changed
    check_only_pages_and_bitmaps(checks, original, path, doc0, model, blocks)
    check_bits(checks, path, snap.offset, refs0, model, blocks)
    t = lap("file checks", t)

    # 4. QEMU loads it; 5. and saves it again
    second = os.path.join(workdir, case.name + ".second.mig")
    with qh.restore_snapshot(snap, workdir) as vm:
        checks.note("restored in %.1f s, runstate %s" % (
            time.monotonic() - t, vm.status_after_load))
        check_restored(checks, case, vm, blocks, model)
        t = lap("restore+compare", t)
        res = save_again(checks, vm, second)
    st = res.get("ram", {})
    checks.note("second save: ram.normal %s, ram.duplicate %s" % (
        st.get("normal"), st.get("duplicate")))
    doc2 = tools.info_json(second, what=" (second save, by QEMU)")
    if doc2 is not None:
        checks.equal([b["name"] for b in doc2["ram_blocks"]],
                     [b["name"] for b in doc0["ram_blocks"]],
                     "second save: the same blocks")
    check_blocks_vs_model(checks, "second save by QEMU", second, blocks,
                          model, tools)
    t = lap("second save", t)
    checks.note("case %s took %.1f s (%s)" % (
        case.name, time.monotonic() - t0,
        ", ".join("%s %.1f" % kv for kv in times.items())))


def main(argv=None):
    ap, args, cases = ti.case_arguments(__doc__, CASES, argv)
    if cases is None:
        return 0
    if not (args.info and args.read and args.mount):
        ap.error("--info, --read and --mount are all required")

    qh.install_signal_cleanup()
    checks = ti.Checks()
    tools = ti.Tools(args.info, args.read, checks, mount=args.mount)
    mountlib.Tools.mount = args.mount
    for tool in (args.info, args.read, args.mount):
        checks.ok(os.access(tool, os.X_OK), "tool %s is executable" % tool)
    return ti.run_cases(cases, checks, args.keep, "mramfs-write-",
                        lambda case, workdir: run_case(case, tools, checks,
                                                       workdir, []))


if __name__ == "__main__":
    sys.exit(main())
