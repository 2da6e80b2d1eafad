#!/usr/bin/env python3
"""QEMU interoperability test for mramfs-info, mr-read-block and mount.mramfs.

Each case makes real mapped-ram snapshots with QEMU 10.x, loads them back
into a fresh QEMU, and compares what QEMU says (info ramblock, query-migrate
counters, guest memory via pmemsave) with what the tools read from the file.

    test_interop.py --info BUILD/tools/mramfs-info \\
                    --read BUILD/tests/mr-read-block \\
                    --mount BUILD/tools/mount.mramfs --case pc-stopped
    test_interop.py --list
    test_interop.py --case pc-stopped            # QEMU side only (no tools)

Without --info/--read only the QEMU side and the file (read by the small
reference reader in qemu_harness) are checked; with them, a missing tool is a
failure. --mount (needs --info and --read, root and /dev/fuse) also mounts
each file and checks the tree, the bytes, SEEK_DATA/SEEK_HOLE, cp and grep
through the mount (mount_checks.py). --keep DIR keeps snapshots, blobs and
QEMU logs in DIR.

Prints one line per check and ends with "N passed, N failed"; exits 1 if
anything failed.
"""

import argparse
import contextlib
import dataclasses
import json
import os
import random
import shutil
import sys
import tempfile
import time
import traceback

# No __pycache__ in the source tree when run from meson.
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qemu_harness as qh  # noqa: E402
import mount_checks  # noqa: E402

KiB = 1 << 10
MiB = 1 << 20
GiB = 1 << 30
PAGE = 4096  # target page size of every machine here (docs/FORMAT.md 9.3)

# Guests with at most this much main RAM get a whole-block comparison
# (pmemsave vs mr-read-block over every mapped byte).
SMALL_RAM = 256 * MiB
# Chunk for whole-block comparisons: bounds memory use of this process.
CHUNK = 32 * MiB
TOOL_TIMEOUT = 60


# --------------------------------------------------------------------------
# Results


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def ok(self, cond, what, detail=""):
        if cond:
            self.passed += 1
            print("ok    %s" % what)
        else:
            self.failed += 1
            print("FAIL  %s%s" % (what, ("\n      " + detail.replace(
                "\n", "\n      ")) if detail else ""))
        sys.stdout.flush()
        return bool(cond)

    def equal(self, got, want, what):
        return self.ok(got == want, what,
                       "got:  %s\nwant: %s" % (_short(got), _short(want)))

    def fail(self, what, detail=""):
        return self.ok(False, what, detail)

    def note(self, text):
        print("      %s" % text)
        sys.stdout.flush()


def _short(v, limit=600):
    s = repr(v)
    return s if len(s) <= limit else s[:limit] + "...(%d chars)" % len(s)


def first_difference(a, b):
    n = min(len(a), len(b))
    for i in range(0, n, 4096):
        if a[i:i + 4096] != b[i:i + 4096]:
            for j in range(i, min(i + 4096, n)):
                if a[j] != b[j]:
                    return j
    return n if len(a) != len(b) else None


def describe_difference(a, b, names=("a", "b"), base=0):
    j = first_difference(a, b)
    if j is None:
        return ""
    if j >= min(len(a), len(b)):
        return "lengths differ: %s %d, %s %d" % (names[0], len(a), names[1],
                                                 len(b))
    diff = sum(1 for x, y in zip(a, b) if x != y)
    return ("first difference at +0x%x (0x%x): %s %s, %s %s; %d bytes differ"
            % (j, base + j, names[0], a[j:j + 16].hex(), names[1],
               b[j:j + 16].hex(), diff))


# --------------------------------------------------------------------------
# The tools under test


class Tools:
    """mramfs-info / mr-read-block / mount.mramfs, or None when running
    QEMU-side only."""

    def __init__(self, info, read, checks, mount=None):
        self.info = info
        self.read = read
        self.mount = mount
        self.checks = checks
        self.enabled = bool(info or read)

    def _run(self, argv):
        return mount_checks.mountlib.run_tool(argv, TOOL_TIMEOUT)

    def info_json(self, path, offset=None, what=""):
        argv = [self.info, "--json"]
        if offset is not None:
            argv += ["--offset", "0x%x" % offset]
        argv.append(path)
        r = self._run(argv)
        cmd = " ".join(argv)
        if not self.checks.ok(r.returncode == 0,
                              "mramfs-info exits 0%s" % what,
                              "command: %s\nexit %d\nstderr: %s" % (
                                  cmd, r.returncode,
                                  r.stderr.decode("utf-8", "replace")[-2000:])):
            return None
        try:
            doc = json.loads(r.stdout)
        except ValueError as e:
            self.checks.fail("mramfs-info prints JSON%s" % what,
                             "command: %s\n%s\nstdout: %s" % (
                                 cmd, e, r.stdout[:2000]))
            return None
        if r.stderr.strip():
            self.checks.note("mramfs-info stderr: %s" %
                             r.stderr.decode("utf-8", "replace")[-1000:])
        return doc

    def read_block(self, path, block, off, length, offset=None):
        """Bytes, or raises ToolError."""
        argv = [self.read]
        if offset is not None:
            argv += ["--offset", "0x%x" % offset]
        argv += [path, block, "0x%x" % off, "0x%x" % length]
        r = self._run(argv)
        if r.returncode != 0:
            raise ToolError("%s: exit %d: %s" % (
                " ".join(argv), r.returncode,
                r.stderr.decode("utf-8", "replace")[-2000:]))
        if len(r.stdout) != length:
            raise ToolError("%s: wrote %d bytes, expected %d" % (
                " ".join(argv), len(r.stdout), length))
        return r.stdout


class ToolError(Exception):
    pass


# --------------------------------------------------------------------------
# Cases


@dataclasses.dataclass
class Case:
    name: str
    doc: str
    binary: str
    machine_args: list
    nodefaults: bool = True
    stopped: bool = True
    capabilities: dict = dataclasses.field(default_factory=dict)
    parameters: dict = dataclasses.field(default_factory=dict)
    offset: int = 0
    check_sparse: bool = False
    all_present: bool = False
    tool_error_paths: bool = False   # also check mr-read-block's errors
    damage_checks: bool = False      # mount: a stale slot, truncated copies
    prefix: bytes = None             # the bytes before an offset= stream
                                     # (None: another program's header)


X86 = "qemu-system-x86_64"
PPC = "qemu-system-ppc"
MIPS = "qemu-system-mips64el"

CASES = [
    Case("pc-stopped", "x86 pc, 128 MiB, never ran (-S)",
         X86, ["-M", "pc", "-m", "128"], tool_error_paths=True,
         damage_checks=True),
    Case("pc-running", "x86 pc, 128 MiB, SeaBIOS ran for a while",
         X86, ["-M", "pc", "-m", "128"], stopped=False),
    Case("pc-multifd", "x86 pc, 128 MiB, stopped, multifd with 4 channels",
         X86, ["-M", "pc", "-m", "128"],
         capabilities={"multifd": True},
         parameters={"multifd-channels": 4}),
    Case("q35-big", "x86 q35, 5 GiB (RAM above 4 GiB), stopped, sparse file",
         X86, ["-M", "q35", "-m", "5G"], check_sparse=True),
    # The ppc/mips boards are run with their default devices (no
    # -nodefaults) so that the files hold device RAM blocks with '/' and
    # ':' in their names (vga.vram, NIC option ROMs), like the files of
    # docs/FORMAT.md section 10. With -nodefaults, fuloong2e and pegasos2 do not
    # even start ("no default audio driver available": their on-board AC97
    # needs an audiodev; -audio none would fix that).
    Case("ppc-40p", "PReP 40p, 64 MiB (two SIMM blocks), OpenBIOS, stopped",
         PPC, ["-M", "40p", "-m", "64"], nodefaults=False),
    Case("mips-fuloong2e", "Fuloong 2E, 256 MiB, no PMON firmware, stopped",
         MIPS, ["-M", "fuloong2e"], nodefaults=False),
    # pegasos2 defaults to 512 MiB on 10.0.2; 256 MiB as in docs/FORMAT.md's
    # pegasos2.mig keeps it a "small" machine (whole-block comparison).
    Case("ppc-pegasos2", "Pegasos II, 256 MiB, VOF firmware, stopped",
         PPC, ["-M", "pegasos2", "-m", "256"], nodefaults=False),
    Case("pc-offset", "x86 pc, stream at file offset 0x3000 after a "
         "foreign header", X86, ["-M", "pc", "-m", "128"], offset=0x3000),
    Case("pc-zero-page-none", "x86 pc, zero-page-detection=none (every page "
         "written)", X86, ["-M", "pc", "-m", "128"],
         parameters={"zero-page-detection": "none"}, all_present=True),
]
CASES_BY_NAME = {c.name: c for c in CASES}


# --------------------------------------------------------------------------
# Blob placement


def main_ram_blocks(ramblocks, mm):
    """Writable blocks mapped in system memory before the guest runs: the
    board RAM (pc.ram, simm.0 + simm.1, ...). Device RAM such as vga.vram
    is writable but only appears once firmware programs a BAR."""
    return [b for b in ramblocks if not b.readonly and mm.ranges_of_block(b.name)]


def make_blobs(mm, blocks, roms, rng):
    """Random blobs at interesting places of the RAM that backs `blocks`:
    the first and last bytes of every mapped range (so the top of RAM, and
    on q35 both sides of the PCI hole), a small run across a page boundary,
    an odd-sized unaligned run, a multi-page run, and a 256 KiB run.

    Positions are derived from the machine's real memory map, never
    hard-coded (q35's low-memory size depends on -m). Pages holding ROM
    images copied into RAM (`info roms` mem=ram, e.g. pegasos2's vof.bin at
    0) are avoided: -device loader refuses overlapping images.
    """
    avoid = []
    for r in roms:
        if r.addr is not None and r.mem == "ram":
            lo = r.addr // PAGE * PAGE
            hi = (r.addr + r.size + PAGE - 1) // PAGE * PAGE
            avoid.append((lo, hi))
    ranges = sorted((g, n) for b in blocks
                    for g, _, n in mm.ranges_of_block(b))
    blobs = []

    def clear(lo, hi):
        for a, b in avoid + [(bl.gpa, bl.gpa + len(bl.data)) for bl in blobs]:
            if lo < b and a < hi:
                return False
        return True

    def add(name, gpa, length, rstart, rend, step=PAGE, data=None):
        # Slide away from ROM images and other blobs, inside the range.
        while rstart <= gpa and gpa + length <= rend:
            if clear(gpa, gpa + length):
                blobs.append(qh.Blob(gpa, data if data is not None
                                     else rng.randbytes(length), name))
                return
            gpa += step
        raise qh.HarnessError("no room for blob %s in 0x%x-0x%x" % (
            name, rstart, rend))

    # Where two mappings touch (40p: simm.0 ends where simm.1 starts), one
    # blob straddles them: a single guest range that is two file ranges.
    for (g1, n1), (g2, n2) in zip(ranges, ranges[1:]):
        if g1 + n1 == g2 and n1 >= 2 * PAGE and n2 >= 2 * PAGE:
            add("across mappings", g2 - 0x1000 + 0x10, 0x2000, g1, g2 + n2)
    for g, n in ranges:
        if n < 256 * KiB:
            continue
        end = g + n
        add("start of range", g, PAGE + 0x10, g, end)
        # Ends exactly at the end of the range (the top of RAM, the top of
        # q35's low memory); slides down only if something is in the way.
        add("end of range", end - 0x1800, 0x1800, g, end, step=-PAGE)
    g, n = max(ranges, key=lambda r: r[1])
    end = g + n
    q = n // 8 // PAGE * PAGE
    add("page-crossing", g + q - 0x40, 0x80, g, end)
    add("unaligned odd", g + 2 * q + 0x123, 777, g, end)
    add("multi-page", g + 3 * q + 0x800, 5 * PAGE, g, end)
    add("256 KiB", g + 5 * q, 256 * KiB, g, end)
    # Unique ASCII markers for grep through the mount: one inside a page,
    # one whose middle is a page boundary (stepping by pages keeps it so).
    tag = rng.randbytes(6).hex()
    for name, text, gpa in (
            ("marker inside a page", "MRAMFS-MARKER-A-%s-inside-a-page",
             g + 4 * q + 0x321),
            ("marker across pages", "MRAMFS-MARKER-B-%s-across-a-page-"
             "boundary", None)):
        data = (text % tag).encode("ascii")
        if gpa is None:
            gpa = g + 6 * q - len(data) // 2
        assert name.startswith(mount_checks.MARKER_PREFIX)
        add(name, gpa, len(data), g, end, data=data)
    return blobs


# --------------------------------------------------------------------------
# Checks


def gpa_span_to_block(mm, gpa, length):
    """[(block, offset, length)] covering guest range [gpa, gpa+length)."""
    out = []
    pos = gpa
    while pos < gpa + length:
        hit = mm.gpa_to_block(pos)
        if hit is None:
            raise qh.HarnessError("GPA 0x%x is not RAM in the memory map" % pos)
        block, off, avail = hit
        n = min(avail, gpa + length - pos)
        out.append((block, off, n))
        pos += n
    return out


def check_info(checks, case, snap, doc, ref, label=""):
    """Check a: mramfs-info vs QEMU's info ramblock (and the file)."""
    if doc is None:
        return
    blocks = doc.get("ram_blocks") or []
    want = [(b.name, b.used_length) for b in snap.ramblocks]
    got = [(b.get("name"), b.get("used_length")) for b in blocks]
    if not checks.equal(got, want, "%sram_blocks (name, used_length) == "
                        "QEMU info ramblock, in order" % label):
        if sorted(got, key=str) == sorted(want, key=str):
            checks.note("same blocks, different order")
    qps = {b.name: b.page_size for b in snap.ramblocks}
    checks.equal({b.get("name"): b.get("page_size") for b in blocks}, qps,
                 "%severy block's page_size == QEMU's PSize" % label)
    checks.equal(doc.get("page_size"), snap.ram_stats.get("page-size"),
                 "%spage_size == query-migrate ram.page-size" % label)
    checks.equal(doc.get("file_size"), os.path.getsize(snap.path),
                 "%sfile_size == size of the file" % label)
    checks.equal(doc.get("stream_offset"), snap.offset,
                 "%sstream_offset == 0x%x" % (label, snap.offset))
    checks.equal(doc.get("machine"), ref.machine,
                 "%smachine == configuration record" % label)
    checks.equal(sorted(doc.get("capabilities") or []),
                 sorted(ref.capabilities),
                 "%scapabilities == configuration record" % label)
    # Cross-check with the reference reader of qemu_harness: same offsets,
    # same bitmap population.
    diffs = []
    by_name = {b.get("name"): b for b in blocks}
    for rb in ref.blocks:
        tb = by_name.get(rb.name)
        if tb is None:
            continue  # already reported above
        want_f = dict(header_offset=rb.header_offset,
                      bitmap_offset=rb.bitmap_offset,
                      bitmap_size=rb.bitmap_size,
                      pages_offset=rb.pages_offset, num_pages=rb.num_pages,
                      present_pages=rb.present_pages, stored=True)
        for k, v in want_f.items():
            if tb.get(k) != v:
                diffs.append("%s: %s: tool %r, file %r" % (
                    rb.name, k, tb.get(k), v))
    checks.ok(not diffs, "%sblock layout (header/bitmap/pages offsets, "
              "bitmap_size, num/present pages, stored) == reference reader"
              % label, "\n".join(diffs[:30]))
    bad = [b.get("name") for b in blocks
           if not isinstance(b.get("stored_bytes"), int)
           or not 0 <= b["stored_bytes"] <= (b.get("used_length") or 0)]
    checks.ok(not bad, "%sstored_bytes is an integer within used_length"
              % label, "blocks: %s" % bad)
    checks.ok(isinstance(doc.get("vmdesc"), dict)
              and doc["vmdesc"].get("offset", 0) > snap.offset
              and doc["vmdesc"]["offset"] + doc["vmdesc"].get("size", 0)
              <= os.path.getsize(snap.path),
              "%svmdesc located inside the file" % label,
              "vmdesc: %r" % (doc.get("vmdesc"),))
    devs = doc.get("devices") or []
    checks.ok(len(devs) > 0 and all(isinstance(d.get("name"), str)
                                    for d in devs),
              "%sdevice sections listed (%d)" % (label, len(devs)))
    if doc.get("warnings"):
        checks.note("warnings: %s" % doc["warnings"])


def check_counters(checks, case, snap, ref):
    """Check b: bitmap population vs query-migrate counters.

    On 10.0.2 ram.normal counts pages *written* to the file (each write of a
    page, with or without multifd) and ram.duplicate the pages found zero
    and skipped; a stopped guest visits every page exactly once, so
    normal + duplicate == total pages and normal == bits set. A running
    guest can write a page in several rounds, and a page that became zero
    keeps a stale slot with a cleared bit (docs/FORMAT.md 9.9): bits <= normal.
    """
    st = snap.ram_stats
    present = sum(b.present_pages for b in ref.blocks)
    total_pages = st.get("total", 0) // st.get("page-size", PAGE)
    checks.equal(sum(b.used_length for b in ref.blocks), st.get("total"),
                 "file: sum(used_length) == query-migrate ram.total")
    if case.stopped:
        checks.equal(present, st.get("normal"),
                     "file: bits set (%d) == ram.normal" % present)
        checks.equal(st.get("normal", 0) + st.get("duplicate", 0),
                     total_pages, "QEMU: ram.normal + ram.duplicate == "
                     "total pages (every page visited once)")
    else:
        checks.ok(present <= st.get("normal", 0),
                  "file: bits set (%d) <= ram.normal (%d)" % (
                      present, st.get("normal", 0)))
    if case.all_present:
        for b in ref.blocks:
            checks.equal(b.present_pages, b.num_pages,
                         "file: every page of %s present" % b.name)


def check_blobs(checks, case, snap, vm, mm, tools):
    """Check c: pmemsave == mr-read-block (== blob when the guest never
    ran) for every blob region."""
    for blob in snap.blobs:
        n = len(blob.data)
        what = "blob %s (0x%x+0x%x)" % (blob.name, blob.gpa, n)
        qemu = vm.pmemsave(blob.gpa, n)
        if case.stopped:
            checks.ok(qemu == blob.data, "%s: restored QEMU memory == blob"
                      % what, describe_difference(qemu, blob.data,
                                                  ("qemu", "blob"), blob.gpa))
        if not tools.enabled:
            continue
        try:
            parts = gpa_span_to_block(mm, blob.gpa, n)
            data = b"".join(tools.read_block(snap.path, b, o, k)
                            for b, o, k in parts)
            if case.offset:
                data2 = b"".join(tools.read_block(snap.path, b, o, k,
                                                  offset=case.offset)
                                 for b, o, k in parts)
                checks.ok(data2 == data, "%s: mr-read-block --offset 0x%x "
                          "reads the same" % (what, case.offset))
        except (ToolError, qh.HarnessError) as e:
            checks.fail("%s: mr-read-block" % what, str(e))
            continue
        where = ", ".join("%s+0x%x" % (b, o) for b, o, _ in parts)
        checks.ok(data == qemu, "%s: mr-read-block %s == restored QEMU memory"
                  % (what, where), describe_difference(data, qemu,
                                                       ("tool", "qemu"),
                                                       blob.gpa))


def check_pages(checks, case, snap, vm, mm, ref, tools, blocks, whole):
    """Checks d and e over blocks mapped in guest-physical memory.

    d: every mapped byte (whole[block]) or a window around each blob (big
       guests): pmemsave == mr-read-block.
    e: every page that is non-zero in restored memory has its bit set in
       the file. The loader only writes pages whose bit is set and an
       incoming VM starts from zeroed RAM (ROM images are not copied into
       RAM while the runstate is "inmigrate", docs/FORMAT.md 9.10). The converse
       is not required: a present page may be all zeros (zero-page-detection
       none writes every page).
    """
    refs = {b.name: b for b in ref.blocks}
    for block in blocks:
        rb = refs.get(block)
        if rb is None:
            checks.fail("block %s is in the file" % block)
            continue
        spans = compared_spans(mm, snap, block, whole[block])
        covered = 0
        nonzero_pages = set()
        missing = []
        tool_errors = []
        mismatches = []
        for gpa, boff, length in spans:
            for c in range(0, length, CHUNK):
                k = min(CHUNK, length - c)
                qemu = vm.pmemsave(gpa + c, k)
                covered += k
                # e: page-level presence (spans are page aligned here)
                zero = bytes(PAGE)
                for p in range(0, k, PAGE):
                    if qemu[p:p + PAGE] != zero:
                        idx = (boff + c + p) // PAGE
                        nonzero_pages.add(idx)
                        if not rb.present(idx):
                            missing.append(boff + c + p)
                if not tools.enabled or tool_errors:
                    continue  # one tool error is enough; keep checking e.
                try:
                    data = tools.read_block(snap.path, block, boff + c, k)
                except ToolError as e:
                    tool_errors.append(str(e))
                    continue
                if data != qemu:
                    mismatches.append("%s+0x%x (GPA 0x%x), 0x%x bytes: %s" % (
                        block, boff + c, gpa + c, k,
                        describe_difference(data, qemu, ("tool", "qemu"),
                                            boff + c)))
        scope = "%d KiB mapped, all" % (covered // KiB) if whole[block] \
            else "%d KiB around blobs" % (covered // KiB)
        checks.ok(not missing, "%s (%s): every page non-zero in restored "
                  "memory (%d) has its bit set in the file" % (
                      block, scope, len(nonzero_pages)),
                  "pages missing at block offsets: %s" % (
                      ", ".join("0x%x" % m for m in missing[:20])))
        if tools.enabled:
            checks.ok(not tool_errors and not mismatches,
                      "%s (%s): mr-read-block == pmemsave of restored QEMU"
                      % (block, scope),
                      "\n".join(tool_errors + mismatches[:10]))


def compared_spans(mm, snap, block, whole):
    """[(gpa, block_offset, length)] of block compared with pmemsave: every
    mapping (whole), or a few pages on each side of every blob plus the
    first MiB of each mapping (big guests)."""
    if whole:
        return mm.ranges_of_block(block)
    spans = []
    for g, o, n in mm.ranges_of_block(block):
        lo_r, hi_r = g, g + n
        wins = [(g, min(g + MiB, hi_r))]
        for bl in snap.blobs:
            a = max(lo_r, (bl.gpa // PAGE - 16) * PAGE)
            z = min(hi_r, (bl.gpa + len(bl.data)) // PAGE * PAGE
                    + 17 * PAGE)
            if a < z:
                wins.append((a, z))
        merged = []
        for a, z in sorted(wins):
            if merged and a <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], z)
            else:
                merged.append([a, z])
        for a, z in merged:
            spans.append((a, o + (a - g), z - a))
    return spans


def check_all_blocks(checks, snap, ref, tools):
    """Every block, mapped or not (device RAM, option ROMs, the ACPI blobs
    whose names start with '/'): mr-read-block == the reference reader, for
    the whole block up to 16 MiB, else its first and last MiB."""
    for rb in ref.blocks:
        if rb.used_length <= 16 * MiB:
            spans = [(0, rb.used_length)]
        else:
            spans = [(0, MiB), (rb.used_length - MiB, MiB)]
        errs = []
        for off, n in spans:
            try:
                got = tools.read_block(snap.path, rb.name, off, n)
            except ToolError as e:
                errs.append(str(e))
                continue
            want = rb.read(snap.path, off, n)
            if got != want:
                errs.append("0x%x+0x%x: %s" % (off, n, describe_difference(
                    got, want, ("tool", "file"), off)))
        checks.ok(not errs, "%s (%d present pages): mr-read-block == "
                  "reference reader" % (rb.name, rb.present_pages),
                  "\n".join(errs))


def check_tool_errors(checks, snap, tools):
    r = tools._run([tools.read, snap.path, "no-such-block", "0", "0x1000"])
    checks.ok(r.returncode != 0 and r.stderr.strip(),
              "mr-read-block on an unknown block fails with a message",
              "exit %d, stderr %r" % (r.returncode, r.stderr[:300]))


# --------------------------------------------------------------------------


def run_case(case, tools, checks, workdir):
    t0 = time.monotonic()
    rng = random.Random("mramfs-interop/" + case.name)
    print("# case %s: %s" % (case.name, case.doc))
    pr = qh.probe(case.binary, case.machine_args, workdir,
                  nodefaults=case.nodefaults)
    pmm = pr.memory_map()
    blocks = [b.name for b in main_ram_blocks(pr.ramblocks, pmm)]
    checks.ok(blocks, "main RAM blocks found in the memory map: %s"
              % ", ".join(blocks))
    blobs = make_blobs(pmm, blocks, pr.roms, rng)
    for b in blobs:
        hit = pmm.gpa_to_block(b.gpa)
        checks.note("blob %-22s GPA 0x%09x len 0x%05x -> %s+0x%x" % (
            b.name, b.gpa, len(b.data), hit[0], hit[1]))

    path = os.path.join(workdir, case.name + ".mig")
    if case.offset:
        # Another program's header first, QEMU's stream after it (libvirt's
        # own header is read, not searched past: test_libvirt_qemu.py).
        # QEMU truncates the file to `offset` and keeps these bytes.
        prefix = case.prefix
        if prefix is None:
            prefix = b"OtherToolHeader\n" + rng.randbytes(case.offset - 16)
        assert len(prefix) == case.offset and qh.MAGIC[:4] not in prefix
        with open(path, "wb") as f:
            f.write(prefix)
    snap = qh.save_snapshot(case.binary, case.machine_args, path, workdir,
                            stopped=case.stopped, blobs=blobs,
                            capabilities=case.capabilities,
                            parameters=case.parameters, offset=case.offset,
                            nodefaults=case.nodefaults)
    st = snap.ram_stats
    checks.note("saved in %.1f s: %s, runstate %s -> %s; ram.normal %s, "
                "ram.duplicate %s, dirty-sync-count %s" % (
                    snap.seconds, path, snap.status_before, snap.status_after,
                    st.get("normal"), st.get("duplicate"),
                    st.get("dirty-sync-count")))
    size = os.path.getsize(path)
    alloc = qh.allocated_bytes(path)
    checks.note("file: %d bytes, %d allocated" % (size, alloc))
    if case.offset:
        with open(path, "rb") as f:
            checks.ok(f.read(case.offset) == prefix,
                      "QEMU kept the %d bytes before the stream" % case.offset)
        checks.equal(qh.find_stream_offset(path), case.offset,
                     "QEVM magic first found at 0x%x" % case.offset)
    ref = qh.read_ram_layout(path, case.offset)
    checks.equal([(b.name, b.used_length, b.page_size) for b in ref.blocks],
                 [(b.name, b.used_length, b.page_size)
                  for b in snap.ramblocks],
                 "file (reference reader) blocks == QEMU info ramblock")
    if case.check_sparse:
        checks.ok(alloc * 64 < size, "file is sparse: %d bytes allocated of "
                  "%d" % (alloc, size))

    # a. the info tool
    if tools.enabled:
        doc = tools.info_json(path, what=" (no --offset)")
        check_info(checks, case, snap, doc, ref)
        if case.offset:
            doc2 = tools.info_json(path, offset=case.offset,
                                   what=" (--offset 0x%x)" % case.offset)
            check_info(checks, case, snap, doc2, ref, label="--offset: ")
            if doc is not None and doc2 is not None:
                checks.equal(doc2.get("ram_blocks"), doc.get("ram_blocks"),
                             "same ram_blocks with and without --offset")
        if case.tool_error_paths:
            check_tool_errors(checks, snap, tools)
    # b. counters
    check_counters(checks, case, snap, ref)

    # c, d, e against a QEMU that loaded the file
    t1 = time.monotonic()
    with qh.restore_snapshot(snap, workdir) as vm:
        checks.note("restored in %.1f s, runstate %s" % (
            time.monotonic() - t1, vm.status_after_load))
        mm = vm.memory_map()
        check_blobs(checks, case, snap, vm, mm, tools)
        # Main RAM plus whatever else the restored VM maps (BIOS/ROM
        # blocks, and pc.ram under the PAM windows once SeaBIOS ran).
        mapped = [b.name for b in snap.ramblocks
                  if mm.ranges_of_block(b.name)]
        ram = sum(b.used_length for b in snap.ramblocks if b.name in blocks)
        whole = {b: (b not in blocks or ram <= SMALL_RAM) for b in mapped}
        check_pages(checks, case, snap, vm, mm, ref, tools, mapped, whole)
        if tools.mount:
            spans = {}
            for b in mapped:
                sp = compared_spans(mm, snap, b, whole[b])
                kib = sum(n for _, _, n in sp) // KiB
                spans[b] = (sp, "every mapped byte, %d KiB" % kib
                            if whole[b] else "%d KiB around blobs" % kib)
            mount_checks.check_mounts(checks, case, snap, ref, tools, vm, mm,
                                      blocks, spans, workdir)
    if tools.enabled:
        check_all_blocks(checks, snap, ref, tools)
    if tools.mount and case.damage_checks:
        mount_checks.check_stale_slot(checks, snap, ref, tools, blocks[0],
                                      workdir)
        mount_checks.check_truncated(checks, snap, tools, workdir, doc)
    checks.note("case %s took %.1f s" % (case.name, time.monotonic() - t0))


def case_arguments(doc, cases, argv, tools=()):
    """The command line of every interop script: --info, --read, --mount,
    --check, the script's own TOOLS ((option, help) pairs), --case
    (repeatable, 'all'), --list, --keep.  Returns (parser, args, cases to
    run); cases is None after --list."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("--info", help="path to mramfs-info")
    ap.add_argument("--read", help="path to mr-read-block")
    ap.add_argument("--mount", help="path to mount.mramfs")
    ap.add_argument("--check", help="path to mramfs-check")
    for option, what in tools:
        ap.add_argument(option, help=what)
    ap.add_argument("--case", action="append",
                    help="case to run (repeatable; 'all' for every case)")
    ap.add_argument("--list", action="store_true", help="print case names")
    ap.add_argument("--keep", metavar="DIR",
                    help="keep snapshots and QEMU logs in DIR")
    args = ap.parse_args(argv)
    if args.list:
        for c in cases:
            print(c.name)
        return ap, args, None
    # What mounts needs root and /dev/fuse: skipped (77) without them.
    if args.mount:
        skipped = mount_checks.mountlib.skip_without_mounts()
        if skipped is not None:
            sys.exit(skipped)
    if not args.case:
        ap.error("--case is required (see --list)")
    by_name = {c.name: c for c in cases}
    names = [c.name for c in cases] if "all" in args.case else args.case
    unknown = [n for n in names if n not in by_name]
    if unknown:
        ap.error("unknown case(s): %s (see --list)" % ", ".join(unknown))
    return ap, args, [by_name[n] for n in names]


def _mounts_below(path):
    prefix = os.path.realpath(path) + "/"
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f
                if line.split()[4].startswith(prefix)]


def run_cases(cases, checks, keep, prefix, run):
    """Runs run(case, workdir) for each case in a workdir of its own, counts
    an exception as a failed check, kills every QEMU and unmounts whatever
    the case left mounted below its workdir, removes the workdir unless
    kept, and prints the closing 'N passed, N failed' line.  Returns the
    exit status."""
    if keep:
        os.makedirs(keep, exist_ok=True)
    for case in cases:
        if keep:
            workdir = os.path.join(os.path.abspath(keep), case.name)
            os.makedirs(workdir, exist_ok=True)
        else:
            workdir = tempfile.mkdtemp(prefix="%s%s-" % (prefix, case.name))
        try:
            run(case, workdir)
        except Exception as e:
            traceback.print_exc(file=sys.stdout)
            checks.fail("case %s ran to the end" % case.name,
                        "%s: %s" % (type(e).__name__, e))
        finally:
            qh.kill_all()
            # Never let rmtree walk into a mount.
            for mnt in _mounts_below(workdir):
                with contextlib.suppress(Exception):
                    mount_checks.mountlib.unmount(mnt)
            if not keep and not _mounts_below(workdir):
                shutil.rmtree(workdir, ignore_errors=True)
    print("%d passed, %d failed" % (checks.passed, checks.failed))
    return 0 if checks.failed == 0 else 1


def main(argv=None):
    ap, args, cases = case_arguments(__doc__, CASES, argv)
    if cases is None:
        return 0
    if bool(args.info) != bool(args.read):
        ap.error("give both --info and --read, or neither (QEMU side only)")
    if args.mount and not args.info:
        ap.error("--mount needs --info and --read")

    qh.install_signal_cleanup()
    checks = Checks()
    tools = Tools(args.info, args.read, checks, mount=args.mount)
    if not tools.enabled:
        print("# no --info/--read: checking the QEMU side and the file only")
    if args.mount:
        mount_checks.mountlib.Tools.mount = args.mount
    for tool in filter(None, (args.info, args.read, args.mount)):
        checks.ok(os.access(tool, os.X_OK), "tool %s is executable" % tool)
    return run_cases(cases, checks, args.keep, "mramfs-interop-",
                     lambda case, workdir: run_case(case, tools, checks, workdir))


if __name__ == "__main__":
    sys.exit(main())
