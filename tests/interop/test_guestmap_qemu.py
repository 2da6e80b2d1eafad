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
            range over 32 MiB (RAM, GiBs of a sparse guest) is compared
            over every present page and a page either side, its first and
            last MiB and four random MiBs (absent pages are zeros in both:
            the rest of the range is only more zeros); with --mount the
            mount's guest/physmem is compared, else tests/gm-physmem;
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

import contextlib
import dataclasses
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
from guestmap_checks import (  # noqa: E402
    HelperReader, check_mount, check_mtree, check_pmemsave, check_write,
    expected_extents, fmt, joined, run)

X86 = "qemu-system-x86_64"
PPC = "qemu-system-ppc"
MIPS = "qemu-system-mips64el"
SEABIOS = "/usr/share/seabios/bios-256k.bin"


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
    tpm: bool = False   # a tpm-crb on an swtpm (a fresh one to restore)
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
    Case("pc-vbe-4bpp", "pc, Bochs VBE at 4 bits per pixel: no chain-4 "
         "window on a restore", X86, ["-M", "pc", "-m", "128"],
         nodefaults=False, hmp=vga_regs([("vbe", 1, 640), ("vbe", 2, 480),
                                         ("vbe", 3, 4), ("vbe", 4, 1)])),
    Case("pc-virtio-vga", "pc with virtio-vga after SeaBIOS: BAR 0 from the "
         "virtio-gpu's PCI state", X86,
         ["-M", "pc", "-m", "256", "-device", "virtio-vga"],
         stopped=False, run_seconds=2.5, blobs=False),
    Case("pc-virtio-vga-vbe", "virtio-vga in VBE mode: its VGA state is the "
         "virtio-vga section's", X86,
         ["-M", "pc", "-m", "128", "-device", "virtio-vga"],
         hmp=vga_regs([("vbe", 1, 640), ("vbe", 2, 480), ("vbe", 3, 8),
                       ("vbe", 4, 1), ("vbe", 5, 2)])),
    Case("pc-bochs-display", "pc with bochs-display after SeaBIOS (no "
         "legacy window)", X86,
         ["-M", "pc", "-m", "256", "-device", "bochs-display"],
         stopped=False, run_seconds=2.5, blobs=False),
    Case("pc-secondary-vga", "pc with secondary-vga after SeaBIOS: class "
         "0x0380, no legacy window", X86,
         ["-M", "pc", "-m", "256", "-device", "secondary-vga"],
         stopped=False, run_seconds=2.5, blobs=False),
    Case("pc-cirrus", "pc with cirrus-vga after SeaBIOS: its framebuffer "
         "and legacy window are not modelled, so they are missing (and the "
         "dump has them: not compared)", X86,
         ["-M", "pc", "-m", "256", "-device", "cirrus-vga"],
         stopped=False, run_seconds=2.5, blobs=False, dump=False,
         missing=("0000:00:02.0/vga.vram", "the legacy VGA window "
                  "0xa0000-0xbffff of bus 0000:00")),
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
    Case("q35-vga-behind-root-port", "q35 after SeaBIOS with the VGA behind "
         "a PCIe root port, then chain-4: the bridge's windows and VGA "
         "forwarding", X86,
         ["-M", "q35", "-m", "512", "-device",
          "pcie-root-port,id=rp1,bus=pcie.0,chassis=1", "-device",
          "VGA,bus=rp1"], stopped=False, run_seconds=2.5, blobs=False,
         hmp=vga_regs([("sr", 2, 0x0f), ("sr", 4, 0x08), ("gr", 6, 0x04)])),
    Case("pc-pci-bridge", "pc after SeaBIOS with a VGA and an e1000 behind "
         "a pci-bridge", X86,
         ["-M", "pc", "-m", "256", "-device", "pci-bridge,id=br1,chassis_nr=1",
          "-device", "VGA,bus=br1,addr=3", "-device",
          "e1000,bus=br1,addr=4,netdev=n1", "-netdev", "user,id=n1"],
         stopped=False, run_seconds=2.5, blobs=False),
    Case("q35-tpm", "q35 after SeaBIOS with a TPM 2 (tpm-crb on swtpm): "
         "the command buffer is RAM, the PPI page RAM device memory", X86,
         ["-M", "q35", "-m", "256"], stopped=False, run_seconds=2.5,
         blobs=False, tpm=True, missing=("tpm-ppi",)),
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


@contextlib.contextmanager
def swtpm():
    """A TPM 2 emulator with fresh state for one QEMU: yields the QEMU
    arguments that attach it as a tpm-crb.  The socket lives in a short
    directory of its own (sun_path is 108 bytes)."""
    state = tempfile.mkdtemp(prefix="mrtpm")
    sock = os.path.join(state, "ctrl.sock")
    p = subprocess.Popen(["swtpm", "socket", "--tpmstate", "dir=" + state,
                          "--ctrl", "type=unixio,path=" + sock, "--tpm2",
                          "--terminate"], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL,
                         preexec_fn=qh._pdeathsig)
    try:
        mountlib.wait_until(lambda: os.path.exists(sock), what="swtpm socket")
        yield ["-chardev", "socket,id=chrtpm,path=" + sock, "-tpmdev",
               "emulator,id=tpm0,chardev=chrtpm", "-device",
               "tpm-crb,tpmdev=tpm0"]
    finally:
        p.kill()
        p.wait()
        subprocess.run(["rm", "-rf", state])


def run_case(case, args, checks, workdir):
    t0 = time.monotonic()
    if case.tpm and shutil.which("swtpm") is None:
        checks.note("case %s skipped: no swtpm (scripts/install-deps)" % case.name)
        return
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

    with swtpm() if case.tpm else contextlib.nullcontext([]) as tpm_args:
        snap = qh.save_snapshot(case.binary, case.machine_args + tpm_args,
                                path, workdir, stopped=case.stopped,
                                run_seconds=case.run_seconds,
                                stop_after_run=not case.stopped, blobs=blobs,
                                nodefaults=case.nodefaults,
                                before_migrate=poke)
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
    with contextlib.ExitStack() as stack:
        if case.tpm:
            snap = dataclasses.replace(snap, machine_args=case.machine_args +
                                       stack.enter_context(swtpm()))
        vm = stack.enter_context(qh.restore_snapshot(snap, workdir))
        if case.dump:
            hdr = vm.dump_headers()
            got = [(r["gpa"], r["length"]) for r in joined(ranges)]
            checks.equal(fmt(got), fmt(hdr["loads"]),
                         "ranges = dump-guest-memory PT_LOADs")
        check_mtree(checks, vm.memory_map(), ranges)
        if not args.mount:
            check_pmemsave(checks, vm, HelperReader(args.physmem, path),
                           ranges, want_ext, rng)
        else:
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
    # With --mount, guest/ is checked too.
    ap, args, cases = ti.case_arguments(
        __doc__, CASES, argv,
        [("--physmem", "path to tests/gm-physmem")])
    if cases is None:
        return 0
    if not (args.info and args.physmem):
        ap.error("--info and --physmem are required")
    if args.mount:
        mountlib.Tools.mount = args.mount
    qh.install_signal_cleanup()
    checks = ti.Checks()
    return ti.run_cases(cases, checks, args.keep,
                        "mramfs-guestmap-",
                        lambda case, wd: run_case(case, args, checks, wd))


if __name__ == "__main__":
    sys.exit(main())
