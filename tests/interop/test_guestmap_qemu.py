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
  missing   nothing is missing but pflash (ROM devices, not RAM: QEMU's
            dump leaves them out too), every RAM block is either in a
            range or has a note saying why not;
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

With --mount, each case also mounts the snapshot read-only and checks
guest/: memmap.json equals `mramfs-info --map --json`; physmem's st_size,
st_blocks and SEEK_DATA/SEEK_HOLE walk equal the map and the bitmaps, and
its bytes equal pmemsave as above; on fuloong2e (whose physmem is 510 MiB)
`yara -s` run over physmem reports every marker string at its
guest-physical address; on 40p and q35-big a read-write mount of a copy
takes a write through physmem at an address whose block offset differs
(simm.1, RAM above 4 GiB), it lands at that offset in the file and QEMU
restores it, and a write to an unmapped address fails with ENXIO and
leaves the file as it was.

    test_guestmap_qemu.py --info BUILD/tools/mramfs-info \\
        --physmem BUILD/tests/gm-physmem [--mount BUILD/tools/mount.mramfs] \\
        --case pc-firmware
    test_guestmap_qemu.py --list
"""

import argparse
import contextlib
import dataclasses
import errno
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)
sys.path.insert(0, os.path.join(_HERE, "..", "fs"))
import mountlib  # noqa: E402
import qemu_harness as qh  # noqa: E402
import test_interop as ti  # noqa: E402

X86 = "qemu-system-x86_64"
PPC = "qemu-system-ppc"
MIPS = "qemu-system-mips64el"
PAGE = 4096
SEABIOS = "/usr/share/seabios/bios-256k.bin"
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
    missing: tuple = () # the "what" of each missing entry, in order
    pflash: bool = False
    yara: bool = False  # --mount: yara -s over guest/physmem finds markers
    write: bool = False # --mount: write through physmem on a copy


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
    Case("pc-virtio-rom", "pc with a virtio-net-pci whose ROM BAR is "
         "enabled: its PCI state is inside the virtio section", X86,
         ["-M", "pc", "-m", "128", "-device",
          "virtio-net-pci,netdev=n1,addr=05.0", "-netdev", "user,id=n1"],
         hmp=(cfg_write(5 << 3, 0x30, 0xe2000001, 4) +
              cfg_write(5 << 3, 0x04, 0x0002, 2))),
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
         ["-M", "q35", "-m", "5G"], write=True),
    Case("q35-amd-1tib", "q35 with an AMD CPU model and a 1 TiB 64-bit PCI "
         "hole: QEMU moves the RAM above 4 GiB to 1 TiB, which only the "
         "ACPI tables record", X86,
         ["-M", "q35", "-m", "3G", "-cpu", "qemu64,phys-bits=42", "-global",
          "q35-pcihost.pci-hole64-size=1024G"]),
    Case("q35-intel-big-hole", "the same hole with an Intel CPU model: the "
         "RAM stays at 4 GiB", X86,
         ["-M", "q35", "-m", "3G", "-cpu", "Skylake-Client,phys-bits=42",
          "-global", "q35-pcihost.pci-hole64-size=1024G"]),
    Case("q35-2815M", "q35 just below the 2.75 GiB rule", X86,
         ["-M", "q35", "-m", "2815"]),
    Case("q35-2816M", "q35 at the 2.75 GiB rule: 2 GiB below", X86,
         ["-M", "q35", "-m", "2816"]),
    Case("q35-pflash", "q35 with the firmware in a pflash device (9.1 and "
         "later alias the flash below 1 MiB)", X86, ["-M", "q35", "-m", "256"],
         pflash=True, blobs=False,
         missing=("isa-bios (pflash alias)", "system.flash0 (pflash)")),
    Case("pc-9.0-pflash", "pc-i440fx-9.0 with pflash: isa-bios is a RAM "
         "copy", X86, ["-M", "pc-i440fx-9.0", "-m", "256"], pflash=True,
         blobs=False, missing=("system.flash0 (pflash)",)),
    Case("q35-firmware", "q35, 512 MiB, after SeaBIOS", X86,
         ["-M", "q35", "-m", "512"], nodefaults=False, stopped=False,
         run_seconds=2.5, blobs=False),
    Case("q35-root-port", "q35 after SeaBIOS with an e1000e behind a PCIe "
         "root port: its ROM BAR, off, needs no bridge window", X86,
         ["-M", "q35", "-m", "512", "-device",
          "pcie-root-port,id=rp1,bus=pcie.0,chassis=1", "-device",
          "e1000e,bus=rp1,netdev=n1", "-netdev", "user,id=n1"],
         nodefaults=False, stopped=False, run_seconds=2.5, blobs=False),
    Case("q35-registers", "q35, PAM, SMRAM open with H_SMRAME (RAM at "
         "0xfeda0000), TSEG 1 MiB", X86, ["-M", "q35", "-m", "512"],
         nodefaults=False, hmp=Q35_REGS),
    Case("ppc-40p", "PReP 40p, 128 MiB: four SIMMs", PPC,
         ["-M", "40p", "-m", "128"], nodefaults=False, write=True),
    Case("ppc-40p-firmware", "40p after OpenBIOS (VGA in VBE mode, ROM "
         "BARs)", PPC, ["-M", "40p", "-m", "128"], nodefaults=False,
         stopped=False, run_seconds=2.5, blobs=False),
    Case("ppc-pegasos2", "pegasos2, 256 MiB", PPC,
         ["-M", "pegasos2", "-m", "256"], nodefaults=False),
    Case("mips-fuloong2e", "fuloong2e (no dump on MIPS)", MIPS,
         ["-M", "fuloong2e"], nodefaults=False, dump=False, yara=True),
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


def seek_walk(fd, size):
    """Data extents by SEEK_DATA/SEEK_HOLE, as cp --sparse does."""
    out = []
    pos = 0
    while pos < size:
        try:
            d = os.lseek(fd, pos, os.SEEK_DATA)
        except OSError as e:
            if e.errno == errno.ENXIO:
                break
            raise
        h = os.lseek(fd, d, os.SEEK_HOLE)
        out.append((d, h))
        pos = h
    return out


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
        got = seek_walk(fd, st.st_size)
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
        fd = os.open(physmem, os.O_WRONLY)
        try:
            before = hashlib.sha256(open(copy, "rb").read()).hexdigest() \
                if os.path.getsize(copy) < (1 << 30) else None
            try:
                os.pwrite(fd, b"x" * 100, hole)
                e = 0
            except OSError as ex:
                e = ex.errno
            checks.equal(errno.errorcode.get(e, e), "ENXIO",
                         "a write at unmapped 0x%x fails with ENXIO" % hole)
            if before:
                checks.equal(hashlib.sha256(open(copy, "rb").read()).hexdigest(),
                             before, "... and leaves the snapshot unchanged")
            checks.equal(os.pwrite(fd, data, gpa), len(data),
                         "a write of %d bytes at 0x%x (%s+0x%x)" % (
                             len(data), gpa, r["block"], offset))
        finally:
            os.close(fd)
        with open(physmem, "rb") as f:
            f.seek(gpa)
            checks.ok(f.read(len(data)) == data, "guest/physmem reads it back")
    ref = qh.read_ram_layout(copy)
    rb = next(b for b in ref.blocks if b.name == r["block"])
    checks.ok(rb.read(copy, offset, len(data)) == data,
              "the bytes are at %s+0x%x in the file" % (r["block"], offset))
    s2 = dataclasses.replace(snap, path=copy)
    with qh.restore_snapshot(s2, workdir, name="restore-copy") as vm:
        checks.ok(vm.pmemsave(gpa, len(data)) == data,
                  "QEMU restores them at 0x%x (pmemsave after -incoming)" % gpa)


def run_case(case, args, checks, workdir):
    t0 = time.monotonic()
    rng = random.Random("guestmap-" + case.name)
    path = os.path.join(workdir, "snap.mig")
    blobs = []
    machine_args = list(case.machine_args)
    if case.pflash:
        # SeaBIOS runs from a pflash device as well as from pc.bios.
        flash = os.path.join(workdir, "flash0.bin")
        with open(SEABIOS, "rb") as src, open(flash, "wb") as dst:
            dst.write(src.read())
        machine_args += ["-drive", "if=pflash,format=raw,readonly=on,file="
                         + flash]
        case = dataclasses.replace(case, machine_args=machine_args)
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
    checks.equal([m["what"] for m in doc["missing"]], list(case.missing),
                 "what is missing from the map")
    if case.pflash:
        checks.ok(all(m.get("dumped") is False for m in doc["missing"]),
                  "pflash is missing as memory QEMU's dump leaves out too "
                  "(\"dumped\": false)", json.dumps(doc["missing"]))
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

    want_ext, stored = expected_extents(ranges, ref)
    with qh.restore_snapshot(snap, workdir) as vm:
        if case.dump:
            hdr = vm.dump_headers()
            got = [(r["gpa"], r["length"]) for r in joined(ranges)]
            checks.equal(fmt(got), fmt(hdr["loads"]),
                         "ranges = dump-guest-memory PT_LOADs")
        check_mtree(checks, vm.memory_map(), ranges)
        check_pmemsave(checks, vm, HelperReader(args.physmem, path), ranges,
                       want_ext, rng)
        if args.mount:
            with mountlib.mounted(path, ["-o", "ro"]) as mnt:
                check_mount(checks, case, mnt, doc, ranges, want_ext, stored,
                            blobs, vm, rng)

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
    if args.mount and case.write:
        check_write(checks, case, snap, ranges, workdir, rng)
    checks.note("case %s took %.1f s" % (case.name, time.monotonic() - t0))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--info", help="path to mramfs-info")
    ap.add_argument("--physmem", help="path to tests/gm-physmem")
    ap.add_argument("--mount", help="path to mount.mramfs: check guest/ too")
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
    if args.mount:
        mountlib.Tools.mount = args.mount
    qh.install_signal_cleanup()
    checks = ti.Checks()
    return ti.run_cases([by_name[n] for n in names], checks, args.keep,
                        "mramfs-guestmap-",
                        lambda case, wd: run_case(case, args, checks, wd))


if __name__ == "__main__":
    sys.exit(main())
