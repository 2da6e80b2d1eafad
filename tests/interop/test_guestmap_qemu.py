#!/usr/bin/env python3
"""QEMU 10 as the oracle of the guest-physical map (issue 14).

Each case saves a mapped-ram snapshot with QEMU (some after writing
chipset and VGA registers with the HMP `o` command while the guest is
stopped, to reach states firmware would), restores it with -incoming into
a fresh QEMU, and checks `mramfs-info --map --json` and the physmem file
built from it against the restored VM:

  loads     the ranges, joined where QEMU joins them (same RAM block,
            contiguous in both address spaces: system/memory_mapping.c
            guest_phys_block_add_section), equal the PT_LOAD list of QEMU's
            own dump-guest-memory (paging off; only its headers are read);
  mtree     every range's RAM block, block offset and kind (ram, rom)
            equal the restored VM's `info mtree -f` all along it;
  split     (pc, q35) what decided the RAM split: the default rule, or the
            CMOS for a machine started with max-ram-below-4g;
  missing   nothing is missing (these boards are all mapped), every RAM
            block is either in a range or has a note saying why not;
  pmemsave  physmem equals QMP pmemsave over every mapped range, byte for
            byte (streamed through a FIFO, so nothing goes to disk); a
            range over 256 MiB (GiBs of a sparse guest) is compared over
            every present page and a page either side, its first and last
            MiB and four random MiBs;
  extents   physmem's SEEK_DATA/SEEK_HOLE walk equals the present pages of
            the ranges' blocks (the file's bitmaps, read by the harness's
            own reader) and its stored bytes count exactly those pages;
  blobs     random blobs QEMU loaded at both ends of every RAM range (and
            across the PCI hole) read back from physmem at their address.

fuloong2e has no dump (QEMU cannot dump MIPS): pmemsave only.

    test_guestmap_qemu.py --info BUILD/tools/mramfs-info \\
        --physmem BUILD/tests/gm-physmem --case pc-firmware
    test_guestmap_qemu.py --list
"""

import argparse
import dataclasses
import json
import os
import random
import subprocess
import sys
import time

sys.dont_write_bytecode = True
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)
import qemu_harness as qh  # noqa: E402
import test_interop as ti  # noqa: E402

X86 = "qemu-system-x86_64"
PPC = "qemu-system-ppc"
MIPS = "qemu-system-mips64el"
PAGE = 4096
CHUNK = 16 << 20
TOOL_TIMEOUT = 120


def cfg_write(dev, reg, value, width):
    """HMP commands writing PCI config register `reg` of bus 0 device
    `dev` (slot << 3 | fn) through ports 0xcf8/0xcfc."""
    port = 0xcfc + (reg & 3)
    fmt = {1: "/b", 2: "/h", 4: "/w"}[width]
    return ["o /w 0xcf8 0x%x" % (0x80000000 | dev << 8 | (reg & ~3)),
            "o %s 0x%x 0x%x" % (fmt, port, value)]


def vga_regs(pairs):
    """HMP commands writing VGA sequencer ("sr") / graphics ("gr") /
    Bochs VBE ("vbe") registers."""
    out = []
    ports = {"sr": (0x3c4, 0x3c5, "/b"), "gr": (0x3ce, 0x3cf, "/b"),
             "vbe": (0x1ce, 0x1cf, "/h")}
    for kind, idx, val in pairs:
        ip, dp, fmt = ports[kind]
        out += ["o %s 0x%x 0x%x" % (fmt, ip, idx),
                "o %s 0x%x 0x%x" % (fmt, dp, val)]
    return out


@dataclasses.dataclass
class Case:
    name: str
    doc: str
    binary: str
    machine_args: list
    nodefaults: bool = True
    stopped: bool = True
    run_seconds: float = 0.0
    hmp: list = dataclasses.field(default_factory=list)
    blobs: bool = True
    dump: bool = True
    split: str = None   # pc/q35: machine.split.source expected


# i440fx: PAM0-6 at 0x59-0x5f, SMRAM at 0x72; q35 MCH: PAM at 0x90-0x96,
# SMRAM 0x9d, ESMRAMC 0x9e.  VGA is 00:02.0 with the board's defaults.
PC_REGS = (cfg_write(0, 0x59, 0x30, 1) +     # 0xf0000 RAM
           cfg_write(0, 0x5a, 0x31, 1) +     # 0xc0000 RAM ro, 0xc4000 RAM
           cfg_write(0, 0x5b, 0x12, 1) +     # write-only, read-only
           cfg_write(0, 0x5d, 0x03, 1) +     # 0xd8000 RAM, 0xdc000 PCI
           cfg_write(0, 0x72, 0x4a, 1) +     # SMRAM open: RAM at 0xa0000
           cfg_write(2 << 3, 0x10, 0xe0000008, 4) +  # VGA BAR 0
           cfg_write(2 << 3, 0x30, 0xe1000001, 4) +  # VGA ROM BAR, enabled
           cfg_write(2 << 3, 0x04, 0x0003, 2))       # I/O + memory decoding
Q35_REGS = (cfg_write(0, 0x90, 0x10, 1) +
            cfg_write(0, 0x91, 0x33, 1) +
            cfg_write(0, 0x9d, 0x4a, 1) +    # D_OPEN | G_SMRAME
            cfg_write(0, 0x9e, 0xb9, 1))     # H_SMRAME, TSEG 1 MiB, T_EN
CHAIN4 = vga_regs([("sr", 2, 0x0f), ("sr", 4, 0x08), ("gr", 6, 0x0c)])
# Bochs VBE: 8 bpp, enabled, bank 3 (bank_offset 0x30000).
VBE = vga_regs([("vbe", 1, 640), ("vbe", 2, 480), ("vbe", 3, 8),
                ("vbe", 4, 1), ("vbe", 5, 3)])

CASES = [
    Case("pc-stopped", "pc, 128 MiB, saved before the firmware ran", X86,
         ["-M", "pc", "-m", "128"], nodefaults=False),
    Case("pc-firmware", "pc, 256 MiB, saved after SeaBIOS ran (PAM, VGA "
         "BAR, kvmvapic ROM)", X86, ["-M", "pc", "-m", "256"],
         nodefaults=False, stopped=False, run_seconds=2.5, blobs=False),
    Case("pc-2cpu", "pc with 2 vCPUs after SeaBIOS", X86,
         ["-M", "pc", "-smp", "2", "-m", "256"], nodefaults=False,
         stopped=False, run_seconds=2.5, blobs=False),
    Case("pc-registers", "pc, PAM in all four modes, SMRAM open, VGA BAR "
         "and ROM BAR programmed", X86, ["-M", "pc", "-m", "128"],
         nodefaults=False, hmp=PC_REGS),
    Case("pc-chain4", "pc, VGA in chain-4 mode, memory map 3 (0xb8000)",
         X86, ["-M", "pc", "-m", "128"], nodefaults=False, hmp=CHAIN4),
    Case("pc-vbe", "pc, Bochs VBE 8 bpp with bank 3 (vga.vram 0x30000 at "
         "0xa0000)", X86, ["-M", "pc", "-m", "128"], nodefaults=False,
         hmp=VBE),
    Case("pc-3583M", "pc just below the 3.5 GiB rule: all RAM below 4 GiB",
         X86, ["-M", "pc", "-m", "3583"]),
    Case("pc-3584M", "pc at the 3.5 GiB rule: 3 GiB below, 512 MiB above",
         X86, ["-M", "pc", "-m", "3584"]),
    Case("pc-max-ram-below-4g", "pc,max-ram-below-4g=2G -m 3G: a split "
         "only the CMOS records", X86,
         ["-M", "pc,max-ram-below-4g=2G", "-m", "3G"], split="cmos"),
    Case("q35-big", "q35, 5 GiB: 3 GiB above 4 GiB", X86,
         ["-M", "q35", "-m", "5G"]),
    Case("q35-2815M", "q35 just below the 2.75 GiB rule", X86,
         ["-M", "q35", "-m", "2815"]),
    Case("q35-2816M", "q35 at the 2.75 GiB rule: 2 GiB below", X86,
         ["-M", "q35", "-m", "2816"]),
    Case("q35-firmware", "q35, 512 MiB, after SeaBIOS", X86,
         ["-M", "q35", "-m", "512"], nodefaults=False, stopped=False,
         run_seconds=2.5, blobs=False),
    Case("q35-registers", "q35, PAM, SMRAM open with H_SMRAME (RAM at "
         "0xfeda0000), TSEG 1 MiB", X86, ["-M", "q35", "-m", "512"],
         nodefaults=False, hmp=Q35_REGS),
    Case("ppc-40p", "PReP 40p, 128 MiB: four SIMMs", PPC,
         ["-M", "40p", "-m", "128"], nodefaults=False),
    Case("ppc-40p-firmware", "40p after OpenBIOS (VGA in VBE mode, ROM "
         "BARs)", PPC, ["-M", "40p", "-m", "128"], nodefaults=False,
         stopped=False, run_seconds=2.5, blobs=False),
    Case("ppc-pegasos2", "pegasos2, 256 MiB", PPC,
         ["-M", "pegasos2", "-m", "256"], nodefaults=False),
    Case("mips-fuloong2e", "fuloong2e (no dump on MIPS)", MIPS,
         ["-M", "fuloong2e"], nodefaults=False, dump=False),
]


def run(argv, timeout=TOOL_TIMEOUT):
    return subprocess.run(argv, capture_output=True, timeout=timeout)


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
    blocks = {b.name: b for b in ref.blocks}
    ext = []
    stored = 0
    for r in ranges:
        rb = blocks[r["block"]]
        first = r["block_offset"] // PAGE
        for page, n in present_runs(rb, first, r["length"] // PAGE):
            start = r["gpa"] + (page - first) * PAGE
            stored += n * PAGE
            if ext and ext[-1][1] == start:
                ext[-1] = (ext[-1][0], start + n * PAGE)
            else:
                ext.append((start, start + n * PAGE))
    return ext, stored


def physmem_stream(physmem, path, gpa, length):
    p = subprocess.Popen([physmem, path, str(gpa), str(length)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return p


WHOLE = 256 << 20  # ranges up to this size are compared whole
MiB = 1 << 20


def compared_spans(r, extents, rng):
    """[(gpa, length)] of range r to compare with pmemsave: all of it when
    it is small; in a larger one (GiBs of a sparse guest) every present
    page with a page on either side, the first and last MiB and four
    random MiBs of it, so the test stays in seconds."""
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


def check_pmemsave(checks, vm, physmem, path, ranges, extents, rng):
    for r in ranges:
        spans = compared_spans(r, extents, rng)
        bad = None
        err = ""
        rc = 0
        for gpa, n in spans:
            p = subprocess.Popen([physmem, path, str(gpa), str(n)],
                                 stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE)
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
                err += p.stderr.read().decode(errors="replace")
                p.stderr.close()
                rc |= p.wait()
        what = "all of it" if len(spans) == 1 and spans[0][1] == r["length"] \
            else "%d spans, 0x%x bytes" % (len(spans), sum(n for _, n in spans))
        checks.ok(rc == 0 and bad is None,
                  "physmem = pmemsave over 0x%x+0x%x (%s; %s)" % (
                      r["gpa"], r["length"], r["block"], what), bad or err)


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


def run_case(case, args, checks, workdir):
    t0 = time.monotonic()
    rng = random.Random("guestmap-" + case.name)
    path = os.path.join(workdir, "snap.mig")
    blobs = []
    if case.blobs:
        pr = qh.probe(case.binary, case.machine_args, workdir,
                      nodefaults=case.nodefaults)
        mm = pr.memory_map()
        blobs = ti.make_blobs(mm, [b.name for b in ti.main_ram_blocks(
            pr.ramblocks, mm)], pr.roms, rng)

    def poke(vm):
        for c in case.hmp:
            out = vm.hmp(c)
            if out.strip():
                raise qh.HarnessError("HMP %r: %s" % (c, out.strip()))

    snap = qh.save_snapshot(case.binary, case.machine_args, path, workdir,
                            stopped=case.stopped, run_seconds=case.run_seconds,
                            stop_after_run=not case.stopped, blobs=blobs,
                            nodefaults=case.nodefaults, before_migrate=poke)
    res = run([args.info, "--map", "--json", path])
    if not checks.ok(res.returncode == 0, "mramfs-info --map --json exits 0",
                     res.stderr.decode(errors="replace")):
        return
    doc = json.loads(res.stdout)
    ranges = doc["ranges"]
    checks.equal(doc["missing"], [], "nothing is missing from the map")
    if case.binary == X86:
        checks.equal(doc["machine"]["split"].get("source"),
                     case.split or "default", "the RAM split comes from "
                     "the %s" % (case.split or "default"))
    notes = doc["machine"].get("blocks", {})
    ref = qh.read_ram_layout(path)
    in_map = {r["block"] for r in ranges}
    for b in ref.blocks:
        note = notes.get(b.name, {})
        checks.ok(b.name in in_map or (note.get("mapped") is False and
                                       note.get("note")),
                  "ram block %s is mapped or says why not" % b.name,
                  json.dumps(note))
    res = run([args.info, "--map", path])
    checks.ok(res.returncode == 0 and all(
        ("0x%016x" % r["gpa"]).encode() in res.stdout for r in ranges),
        "mramfs-info --map prints every range", res.stdout.decode()[:2000])

    with qh.restore_snapshot(snap, workdir) as vm:
        if case.dump:
            hdr = vm.dump_headers()
            got = [(r["gpa"], r["length"]) for r in joined(ranges)]
            checks.equal(fmt(got), fmt(hdr["loads"]),
                         "ranges = dump-guest-memory PT_LOADs")
        check_mtree(checks, vm.memory_map(), ranges)
        want_ext, stored = expected_extents(ranges, ref)
        check_pmemsave(checks, vm, args.physmem, path, ranges, want_ext, rng)

    res = run([args.physmem, "--extents", path])
    lines = res.stdout.decode().split("\n")
    got_ext = [tuple(int(x) for x in ln.split()[1:]) for ln in lines
               if ln.startswith("data ")]
    end = max((r["gpa"] + r["length"] for r in ranges), default=0)
    checks.equal(lines[:2], ["size %d" % end, "stored %d" % stored],
                 "physmem size = end of the last range, stored = present "
                 "pages of the ranges")
    checks.equal(fmt([(a, b - a) for a, b in got_ext]),
                 fmt([(a, b - a) for a, b in want_ext]),
                 "SEEK_DATA/SEEK_HOLE walk = present pages of the ranges")
    for bl in blobs:
        # A blob under a region that hides RAM (TSEG) is not visible: the
        # pmemsave comparison covers that place.
        if not any(r["gpa"] <= bl.gpa and bl.gpa + len(bl.data) <=
                   r["gpa"] + r["length"] for r in ranges):
            continue
        res = run([args.physmem, path, str(bl.gpa), str(len(bl.data))])
        checks.ok(res.stdout == bl.data, "blob %s reads back at 0x%x" % (
            bl.name, bl.gpa))
    checks.note("case %s took %.1f s" % (case.name, time.monotonic() - t0))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--info", help="path to mramfs-info")
    ap.add_argument("--physmem", help="path to tests/gm-physmem")
    ap.add_argument("--case", action="append")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--keep", metavar="DIR")
    args = ap.parse_args(argv)
    if args.list:
        for c in CASES:
            print(c.name)
        return 0
    if not (args.info and args.physmem and args.case):
        ap.error("--info, --physmem and --case are required")
    by_name = {c.name: c for c in CASES}
    names = [c.name for c in CASES] if "all" in args.case else args.case
    unknown = [n for n in names if n not in by_name]
    if unknown:
        ap.error("unknown case(s): %s" % ", ".join(unknown))
    qh.install_signal_cleanup()
    checks = ti.Checks()
    return ti.run_cases([by_name[n] for n in names], checks, args.keep,
                        "mramfs-guestmap-",
                        lambda case, wd: run_case(case, args, checks, wd))


if __name__ == "__main__":
    sys.exit(main())
