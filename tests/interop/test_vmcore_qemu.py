#!/usr/bin/env python3
"""QEMU 10 interoperability of guest/vmcore: mramfs's ELF core of a snapshot
against the core QEMU's dump-guest-memory (paging off, plain ELF) writes for
the VM restored from the same snapshot.

Each case saves a mapped-ram snapshot with QEMU (a marker string placed in
guest RAM with -device loader), writes mramfs's core of it, restores the
snapshot into a fresh QEMU (-incoming, never run) and streams QEMU's dump
through a pipe into a sparse file. Then:

  header    ELF class, byte order, e_type, e_machine, e_version equal, and
            equal to the values typed in for the case (the issue's list);
  loads     the PT_LOAD list (p_paddr, p_vaddr, p_filesz, p_memsz), in order;
  notes     one PT_NOTE each, byte-identical;
  bytes     every segment's bytes (holes skipped where both files have them);
  sparse    mramfs's core stores no more than the pages present in the
            snapshot plus its header;
  readers   readelf -lnW reads mramfs's core without a warning; gdb (for
            PowerPC gdb-multiarch) reads the marker at its guest-physical
            address and prints the same $pc and $sp as for QEMU's core.

The core comes from tests/vmcore-write, twice: with the guest-physical map
of ds_guest_map_new() ("guest map", what the mount shows) and with the map
read from QEMU's `info mtree -f` of the saving VM ("mtree map"), which tells
a map problem from a core problem. With --mount, also from a read-only mount
("mount"): `cp --sparse=always guest/vmcore` is compared as above and must
stay sparse, readelf and gdb read guest/vmcore in the mount itself, and a
case without a core has no guest/vmcore and guest/memmap.json's "vmcore"
says why.

    test_vmcore_qemu.py --info BUILD/tools/mramfs-info \\
        --vmcore-write BUILD/tests/vmcore-write \\
        [--mount BUILD/tools/mount.mramfs] --case pc-stopped
    test_vmcore_qemu.py --list

Prints one line per check and ends with "N passed, N failed".
"""

import dataclasses
import errno
import json
import os
import shutil
import struct
import sys
import time

sys.dont_write_bytecode = True
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)
sys.path.insert(0, os.path.join(_HERE, "..", "fs"))
import elfcore  # noqa: E402
import mountlib  # noqa: E402
import qemu_harness as qh  # noqa: E402
import test_interop as ti  # noqa: E402

X86 = "qemu-system-x86_64"
I386 = "qemu-system-i386"
PPC = "qemu-system-ppc"
MIPS = "qemu-system-mips64el"
TOOL_TIMEOUT = 120
SEABIOS = "/usr/share/seabios/bios-256k.bin"
MARKER = b"mramfs-vmcore-marker: the guest's own bytes\0"

EM_386, EM_PPC, EM_X86_64 = 3, 20, 62


@dataclasses.dataclass
class Case:
    name: str
    doc: str
    binary: str
    machine_args: list
    want: tuple = None         # (ELF class, EI_DATA, e_machine), typed in
    marker_gpa: int = 0x800000
    nodefaults: bool = True
    run: bool = False          # run the firmware a moment, then stop
    patch: str = ""            # "long-mode-vmcoreinfo"
    refused: str = ""          # no core: this text in the reason
    pflash: bool = False       # the firmware in a pflash device
    gdb: tuple = ("gdb",)


PPC_GDB = ("gdb-multiarch", "-ex", "set architecture powerpc:common")
CASES = [
    Case("pc-stopped", "pc, 128 MiB, saved before the firmware ran: real "
         "mode, so EM_386 in an ELF64 (the BIOS ends at 4 GiB)", X86,
         ["-M", "pc", "-m", "128"], want=(2, 1, EM_386)),
    Case("pc-firmware", "pc, 256 MiB with its default VGA, saved after "
         "SeaBIOS ran (PAM maps RAM at 0xc0000, the VGA BAR is set)", X86,
         ["-M", "pc", "-m", "256"], want=(2, 1, EM_386), nodefaults=False,
         run=True),
    Case("pc-smp2", "pc, 128 MiB, 2 vCPUs, after the firmware ran", X86,
         ["-M", "pc", "-m", "128", "-smp", "2"], want=(2, 1, EM_386),
         run=True),
    Case("q35-high", "q35, 2.75 GiB: 2 GiB below 4 GiB and 768 MiB above, "
         "stopped, nearly every page absent", X86,
         ["-M", "q35", "-m", "2816M"], want=(2, 1, EM_386)),
    Case("q35-pflash", "q35, 256 MiB, SeaBIOS in a pflash device, which "
         "QEMU's dump leaves out (not RAM): nothing above 4 GiB, so ELF32",
         X86, ["-M", "q35", "-m", "256"], want=(1, 1, EM_386), pflash=True),
    Case("pc-long-mode", "pc, 128 MiB, hflags.LMA, distinct GPRs, FS/GS "
         "and swapgs bases, real-mode DPLs that the load clears and a "
         "filled-in vmcoreinfo device patched into the file: EM_X86_64 "
         "notes and the guest's VMCOREINFO note", X86,
         ["-M", "pc", "-m", "128", "-device", "vmcoreinfo"],
         want=(2, 1, EM_X86_64), patch="long-mode-vmcoreinfo"),
    Case("i386-pc", "qemu-system-i386 pc, 128 MiB, after the firmware "
         "ran: 8 GPRs of 4 bytes, no r8-r15 or kernel_gs_base in the notes",
         I386, ["-M", "pc", "-m", "128"], want=(2, 1, EM_386), run=True),
    Case("ppc-40p", "PReP 40p, 64 MiB, OpenBIOS ran: ELF32 big-endian, "
         "PowerPC notes", PPC, ["-M", "40p", "-m", "64"],
         want=(1, 2, EM_PPC), marker_gpa=0x1800000, nodefaults=False,
         run=True, gdb=PPC_GDB),
    Case("ppc-pegasos2", "Pegasos II, 256 MiB, VOF ran: ELF32 big-endian, "
         "AltiVec in the notes", PPC, ["-M", "pegasos2", "-m", "256"],
         want=(1, 2, EM_PPC), marker_gpa=0x4000000, nodefaults=False,
         run=True, gdb=PPC_GDB),
    Case("ppc-regs-be", "Pegasos II with AltiVec registers, FPRs, an FPSCR "
         "that the load corrects, XER's OV32/CA32 and CR fields patched into "
         "the file", PPC, ["-M", "pegasos2", "-m", "256"],
         want=(1, 2, EM_PPC), marker_gpa=0x4000000, nodefaults=False,
         patch="ppc-regs", gdb=PPC_GDB),
    Case("ppc-regs-le", "the same with MSR[ILE] set: a little-endian core",
         PPC, ["-M", "pegasos2", "-m", "256"], want=(1, 1, EM_PPC),
         marker_gpa=0x4000000, nodefaults=False, patch="ppc-regs-le",
         gdb=PPC_GDB),
    Case("mips-fuloong2e", "Fuloong 2E: QEMU cannot dump MIPS, so there is "
         "no core, with the reason", MIPS, ["-M", "fuloong2e"],
         marker_gpa=0x1000000, nodefaults=False, refused="MIPS"),
]

# A VMCOREINFO note as Linux writes it; the text's length is not a multiple
# of 4, and the padding after it holds junk, as guest memory may.
VMCI_TEXT = b"OSRELEASE=6.1.0-mramfs\nPAGESIZE=4096\nNUMBER(phys_base)=0x0\n"
VMCI_GPA = 0x300000


def vmcoreinfo_blob():
    name = b"VMCOREINFO\0"
    pad = lambda b: (4 - len(b) % 4) % 4  # noqa: E731
    note = struct.pack("<III", len(name), len(VMCI_TEXT), 0)
    note += name + b"\0" * pad(name) + VMCI_TEXT + b"\xaa" * pad(VMCI_TEXT)
    return note, note + b"\x55" * 16  # QEMU is told 16 bytes more


def run(argv, timeout=TOOL_TIMEOUT):
    return mountlib.run_tool(argv, timeout)


def guest_ranges(snap):
    """[(gpa, block, offset, length)] that QEMU dumps: RAM and ROM ranges of
    the system address space (memory_region_is_ram), from `info mtree -f`."""
    mm = snap.memory_map()
    names = [b.name for b in snap.ramblocks]
    # A ROM device (pflash) is never RAM, also where an alias shows it as
    # "rom" (isa-bios below 1 MiB on 9.1 and later).
    romd = {r.region for r in mm.view.ranges if r.kind == "romd"}
    out = []
    for r in mm.view.ranges:
        if r.kind not in ("ram", "rom") or r.region in romd:
            continue
        block = qh.resolve_block_name(r.region, names)
        if block is not None:
            out.append((r.start, block, r.region_offset, r.size))
    return out


class SparseWriter:
    """Writes a stream to a file, leaving 64 KiB runs of zeros as holes."""
    STEP = 64 << 10

    def __init__(self, path):
        self.f = open(path, "wb")
        self.pos = 0
        self.zero = bytes(self.STEP)
        self.chunk_zero = bytes(1 << 20)  # dump_guest_memory's chunk

    def __call__(self, data):
        if len(data) == len(self.chunk_zero) and data == self.chunk_zero:
            self.pos += len(data)
            return
        for i in range(0, len(data), self.STEP):
            piece = data[i:i + self.STEP]
            if piece != self.zero[:len(piece)]:
                self.f.seek(self.pos)
                self.f.write(piece)
            self.pos += len(piece)

    def close(self):
        self.f.truncate(self.pos)
        self.f.close()


def _next_data(fd, off, end):
    try:
        return min(os.lseek(fd, off, os.SEEK_DATA), end)
    except OSError as e:
        if e.errno == errno.ENXIO:
            return end
        raise


def segment_difference(fa, oa, fb, ob, length):
    """First offset where [oa, oa+length) of fa and [ob, ...) of fb differ,
    or None. Ranges that are holes in both are equal without reading."""
    pos = 0
    while pos < length:
        nxt = min(_next_data(fa, oa + pos, oa + length) - oa,
                  _next_data(fb, ob + pos, ob + length) - ob)
        if nxt >= length:
            return None
        pos = max(pos, nxt - nxt % 4096)
        n = min(1 << 20, length - pos)
        a = os.pread(fa, n, oa + pos)
        b = os.pread(fb, n, ob + pos)
        if a != b:
            return pos + (ti.first_difference(a, b) or 0)
        pos += n
    return None


def _device(info, path, idstr):
    r = run([info, "--device", idstr, path])
    if r.returncode != 0:
        raise qh.HarnessError("mramfs-info --device %s: %s" % (
            idstr, r.stderr.decode()))
    return json.loads(r.stdout)


def patch_ppc_registers(info, path, ile):
    """Register values a guest could have, written over the saved ones at
    the offsets mramfs-info gives: AltiVec registers with distinct bytes,
    FPRs, an FPSCR whose VX/FEX/bit 11 the load recomputes, XER with SO, CA,
    OV32 and CA32, all eight CR fields, and MSR[ILE] when ile."""
    cpu = _device(info, path, "cpu")
    top, subs = cpu["fields"], cpu["subsections"]
    vmx = subs["cpu/altivec"]["fields"]["env.vsr"]
    fpu = subs["cpu/fpu"]["fields"]
    with open(path, "r+b") as f:
        f.seek(vmx["offset"])
        f.write(bytes((i * 7 + 1) & 0xff for i in range(16 * 32)))
        f.seek(fpu["env.vsr"]["offset"])
        f.write(b"".join(struct.pack(">Q", 0x4000000000000000 + i * 0x1111)
                         for i in range(32)))
        f.seek(fpu["env.fpscr"]["offset"])
        f.write(struct.pack(">I", 0x03000808))
        f.seek(top["env.spr"]["offset"] + 4 * 1)  # SPR 1: XER
        f.write(struct.pack(">I", 0xa00c0000 | 0x7f))
        f.seek(top["env.crf"]["offset"])
        f.write(struct.pack(">8I", *[(i * 5 + 3) & 15 for i in range(8)]))
        if ile:
            f.seek(top["env.msr"]["offset"])
            f.write(struct.pack(">I", top["env.msr"]["value"] | 1 << 16))


def patch_file(info, path):
    """Sets hflags.LMA in every CPU and fills in the vmcoreinfo device as a
    guest would (the note itself is in RAM from -device loader)."""
    def device(idstr):
        return _device(info, path, idstr)

    cpu = device("cpu")["fields"]
    vmci = device("vmcoreinfo")["fields"]
    note, told = vmcoreinfo_blob()
    with open(path, "r+b") as f:
        f.seek(cpu["env.hflags"]["offset"])
        f.write(struct.pack(">I", cpu["env.hflags"]["value"] | 1 << 14))
        # Every GPR distinct (r8-r15 too), swapgs and FS/GS bases, and DPL 3
        # in CS, SS and the LDT of a real-mode CPU: QEMU's post_load clears
        # it in the six segment registers only.
        f.seek(cpu["env.regs"]["offset"])
        f.write(b"".join(struct.pack(">Q", 0x0101010101010101 * (i + 1))
                         for i in range(16)))
        f.seek(cpu["env.kernelgsbase"]["offset"])
        f.write(struct.pack(">Q", 0xffff888012345678))
        segs = cpu["env.segs"]
        for i in (1, 2, 4, 5):  # CS SS FS GS
            flags = segs[i]["fields"]["flags"]
            f.seek(flags["offset"])
            f.write(struct.pack(">I", flags["value"] | 3 << 13))
        for i in (4, 5):
            base = segs[i]["fields"]["base"]
            f.seek(base["offset"])
            f.write(struct.pack(">Q", 0x7f0000001000 * (i - 3)))
        flags = cpu["env.ldt"]["fields"]["flags"]
        f.seek(flags["offset"])
        f.write(struct.pack(">I", flags["value"] | 3 << 13))
        for name, fmt, value in (("has_vmcoreinfo", ">B", 1),
                                 ("vmcoreinfo.guest_format", ">H", 1),
                                 ("vmcoreinfo.size", ">I", len(told)),
                                 ("vmcoreinfo.paddr", ">Q", VMCI_GPA)):
            f.seek(vmci[name]["offset"])
            f.write(struct.pack(fmt, value))


def check_readers(c, case, ours, theirs, label):
    c = Labelled(c, label)
    r = run(["readelf", "-lnW", ours])
    text = (r.stdout + r.stderr).decode(errors="replace")
    c.ok(r.returncode == 0 and "arning" not in text and "rror" not in text,
         "readelf -lnW reads mramfs's core without a warning", text[-800:])
    gdb = shutil.which(case.gdb[0])
    if gdb is None:
        c.note("%s is not installed: gdb checks skipped" % case.gdb[0])
        return

    def ask(core, *cmds):
        argv = [gdb, "-nx", "-batch"] + list(case.gdb[1:]) + ["-c", core]
        for cmd in cmds:
            argv += ["-ex", cmd]
        r = run(argv)
        return r.stdout.decode(errors="replace").splitlines()

    regs = ("p/x $pc", "p/x $sp")
    got = ask(ours, "x/s 0x%x" % case.marker_gpa, *regs)
    want = MARKER.rstrip(b"\0").decode()
    c.ok(any(want in line for line in got),
         "gdb reads the marker at guest address 0x%x in mramfs's core"
         % case.marker_gpa, "\n".join(got[-6:]))
    c.equal(got[-2:], ask(theirs, *regs)[-2:],
            "gdb prints the same $pc and $sp for both cores")


def compare(c, case, ours, theirs, snap_path, info, label):
    a, b = elfcore.ElfCore(ours), elfcore.ElfCore(theirs)
    c = Labelled(c, label)
    try:
        head = lambda e: (e.elfclass, e.data, e.type, e.machine, e.version)  # noqa: E731
        c.equal(head(a), head(b), "ELF class, byte order, type, machine, "
                "version equal QEMU's %s" % (head(b),))
        c.equal(head(a)[:2] + head(a)[3:4], case.want,
                "class, byte order and machine are the case's %s" % (case.want,))
        key = lambda p: (p.paddr, p.vaddr, p.filesz, p.memsz)  # noqa: E731
        c.equal([key(p) for p in a.loads], [key(p) for p in b.loads],
                "PT_LOAD list (paddr, vaddr, filesz, memsz) equals QEMU's: "
                + ", ".join("0x%x+0x%x" % (p.paddr, p.memsz) for p in b.loads))
        notes = [p for p in a.phdrs if p.type == elfcore.PT_NOTE]
        c.equal(len(notes), 1, "one PT_NOTE")
        na, nb = a.note_bytes(), b.note_bytes()
        c.ok(na == nb, "PT_NOTE bytes equal QEMU's (%d bytes: %s)" % (
            len(nb), ", ".join("%s/0x%x" % (n.name.decode(), n.type)
                               for n in b.notes())),
             ti.describe_difference(na, nb, ("ours", "qemu")))
        if len(a.loads) == len(b.loads):
            bad = []
            for pa, pb in zip(a.loads, b.loads):
                d = segment_difference(a.f.fileno(), pa.offset, b.f.fileno(),
                                       pb.offset, min(pa.filesz, pb.filesz))
                if d is not None:
                    bad.append("0x%x: first difference at guest 0x%x" % (
                        pa.paddr, pa.paddr + d))
            c.ok(not bad, "every segment's bytes equal QEMU's", "\n".join(bad))
        st = os.stat(ours)
        stored = st.st_blocks * 512
        summary = json.loads(run([info, "--json", snap_path]).stdout)
        present = sum(bl["stored_bytes"] for bl in summary["ram_blocks"])
        c.ok(stored <= present + (1 << 20), "mramfs's core stores %d bytes for "
             "%d bytes of present pages (virtual size %d; QEMU wrote %d)" % (
                 stored, present, st.st_size, os.path.getsize(theirs)),
             "more than the present pages and 1 MiB of header")
        return a.loads
    finally:
        a.close()
        b.close()


class Labelled:
    """Checks whose descriptions end with "(label)"."""

    def __init__(self, checks, label):
        self.checks, self.label = checks, label

    def ok(self, cond, what, detail=""):
        return self.checks.ok(cond, "%s (%s)" % (what, self.label), detail)

    def equal(self, got, want, what):
        return self.checks.equal(got, want, "%s (%s)" % (what, self.label))

    def note(self, text):
        self.checks.note(text)


def write_core(c, tools, path, out, ranges, label):
    """vmcore-write's core of path (ranges None: the guest map); its exit
    status and stderr."""
    argv = [tools.vmcore_write, path, out]
    for gpa, block, off, length in ranges or ():
        argv += ["--range", "0x%x,0x%x,0x%x,%s" % (gpa, off, length, block)]
    t1 = time.monotonic()
    r = run(argv)
    c.note("mramfs core (%s) in %.2f s" % (label, time.monotonic() - t1))
    return r.returncode, r.stderr.decode(errors="replace")


def run_case(case, c, tools, workdir):
    t0 = time.monotonic()
    print("# case %s: %s" % (case.name, case.doc))
    blobs = [qh.Blob(case.marker_gpa, MARKER, "marker")]
    if shutil.which(case.binary) is None:
        c.note("%s is not installed: case skipped" % case.binary)
        return
    if case.patch == "long-mode-vmcoreinfo":
        blobs.append(qh.Blob(VMCI_GPA, vmcoreinfo_blob()[1], "vmcoreinfo"))
    machine_args = list(case.machine_args)
    if case.pflash:
        flash = os.path.join(workdir, "flash0.bin")
        shutil.copyfile(SEABIOS, flash)
        machine_args += ["-drive", "if=pflash,format=raw,readonly=on,file="
                         + flash]
    path = os.path.join(workdir, case.name + ".mig")
    snap = qh.save_snapshot(case.binary, machine_args, path, workdir,
                            stopped=not case.run, stop_after_run=True,
                            run_seconds=1.0, blobs=blobs,
                            nodefaults=case.nodefaults)
    if case.patch == "long-mode-vmcoreinfo":
        patch_file(tools.info, path)
    elif case.patch.startswith("ppc-regs"):
        patch_ppc_registers(tools.info, path, case.patch.endswith("-le"))
    cores = {"guest map": (os.path.join(workdir, "mramfs.core"), None),
             "mtree map": (os.path.join(workdir, "mramfs-mtree.core"),
                           guest_ranges(snap))}
    made = {}
    for label, (out, ranges) in cores.items():
        rc, err = write_core(c, tools, path, out, ranges, label)
        if case.refused:
            c.ok(rc == 3 and case.refused in err, "no core, and the reason "
                 "says %s (%s)" % (case.refused, label),
                 "exit %d: %s" % (rc, err))
        elif c.ok(rc == 0, "vmcore-write wrote the core (%s)" % label, err):
            made[label] = out
    if case.refused:
        if tools.mount:
            check_mount(c, case, path, None, None, workdir, tools.info)
        with qh.restore_snapshot(snap, workdir) as vm:
            try:
                vm.cmd("dump-guest-memory", {"paging": False,
                                             "protocol": "file:/dev/null"})
                c.fail("QEMU refuses dump-guest-memory too")
            except qh.QMPError as e:
                c.ok("not supported" in str(e), "QEMU refuses "
                     "dump-guest-memory too: %s" % e.error.get("desc"))
        return
    if not made:
        return
    theirs = os.path.join(workdir, "qemu.core")
    w = SparseWriter(theirs)
    t1 = time.monotonic()
    try:
        with qh.restore_snapshot(snap, workdir) as vm:
            vm.dump_guest_memory(w)
    finally:
        w.close()
    c.note("QEMU restore + dump in %.2f s" % (time.monotonic() - t1))
    for label, ours in made.items():
        compare(c, case, ours, theirs, path, tools.info, label)
        check_readers(c, case, ours, theirs, label)
    if tools.mount:
        check_mount(c, case, path, theirs, made.get("guest map"), workdir,
                    tools.info)
    c.note("case %s took %.1f s" % (case.name, time.monotonic() - t0))


def check_mount(c, case, path, theirs, written, workdir, info):
    """guest/vmcore of a read-only mount: the same file vmcore-write made,
    copied sparse with cp and compared with QEMU's, read in place by
    readelf and gdb; or, for a case without a core, absent with its
    reason in guest/memmap.json."""
    m = Labelled(c, "mount")
    with mountlib.mounted(path, ["-o", "ro"]) as mnt:
        core = os.path.join(mnt, "guest", "vmcore")
        if case.refused:
            m.ok(not os.path.exists(core), "no guest/vmcore")
            with open(os.path.join(mnt, "guest", "memmap.json")) as f:
                doc = json.load(f)
            st = doc.get("vmcore", {})
            m.ok(st.get("offered") is False and case.refused in st.get("why", ""),
                 "guest/memmap.json says why there is no core (%s)"
                 % case.refused, json.dumps(st)[:600])
            return
        with open(os.path.join(mnt, "guest", "memmap.json")) as f:
            m.equal(json.load(f).get("vmcore"), {"offered": True},
                    "guest/memmap.json says the core is offered")
        if not m.ok(os.path.isfile(core), "guest/vmcore exists"):
            return
        st = os.stat(core)
        m.equal(st.st_size, os.path.getsize(written),
                "guest/vmcore is as long as vmcore-write's core")
        m.ok(st.st_mode & 0o222 == 0, "guest/vmcore is read-only "
             "(mode %o)" % (st.st_mode & 0o777))
        copy = os.path.join(workdir, "cp.core")
        t = time.monotonic()
        r = run(["cp", "--sparse=always", core, copy])
        m.note("cp --sparse=always guest/vmcore in %.2f s" % (
            time.monotonic() - t))
        if m.ok(r.returncode == 0, "cp --sparse=always guest/vmcore",
                r.stderr.decode(errors="replace")):
            compare(c, case, copy, theirs, path, info, "cp of the mount")
            m.ok(os.stat(copy).st_blocks <= os.stat(written).st_blocks + 256,
                 "the copy stays as sparse as vmcore-write's core (%d vs %d "
                 "blocks)" % (os.stat(copy).st_blocks,
                              os.stat(written).st_blocks))
        check_readers(c, case, core, theirs, "mount")
    if case.name == "pc-stopped":
        check_rw_mount(m, case, path, workdir)


def check_rw_mount(m, case, path, workdir):
    """On a read-write mount of a copy, guest/vmcore shows what a write
    through guest/physmem changed, also after it was read (and could have
    been cached) before the write."""
    copy = os.path.join(workdir, "rw.mig")
    if run(["cp", "--sparse=always", path, copy]).returncode != 0:
        m.fail("copy of the snapshot")
        return
    new = b"written through guest/physmem, seen in guest/vmcore"
    with mountlib.mounted(copy, ["-o", "rw"]) as mnt:
        core = os.path.join(mnt, "guest", "vmcore")
        e = elfcore.ElfCore(core)
        try:
            seg = next(p for p in e.loads
                       if p.paddr <= case.marker_gpa < p.paddr + p.memsz)
            at = seg.offset + case.marker_gpa - seg.paddr
            before = e.read_segment(seg, case.marker_gpa - seg.paddr, len(new))
        finally:
            e.close()
        fd = os.open(os.path.join(mnt, "guest", "physmem"), os.O_WRONLY)
        try:
            os.pwrite(fd, new, case.marker_gpa)
        finally:
            os.close(fd)
        with open(core, "rb") as f:
            f.seek(at)
            after = f.read(len(new))
        m.ok(before.startswith(MARKER[:16]) and after == new,
             "a write through guest/physmem shows in guest/vmcore at once "
             "(read-write mount)", "before %r, after %r" % (before, after))


class Tools:
    info = None
    vmcore_write = None
    mount = None


def main(argv=None):
    # With --mount, the mount's guest/vmcore is checked too.
    ap, args, cases = ti.case_arguments(
        __doc__, CASES, argv,
        [("--vmcore-write", "path to tests/vmcore-write")])
    if cases is None:
        return 0
    if not args.info or not args.vmcore_write:
        ap.error("--info and --vmcore-write are required")
    tools = Tools()
    tools.info = os.path.abspath(args.info)
    tools.vmcore_write = os.path.abspath(args.vmcore_write)
    if args.mount:
        tools.mount = mountlib.Tools.mount = os.path.abspath(args.mount)
    qh.install_signal_cleanup()
    checks = ti.Checks()
    return ti.run_cases(cases, checks, args.keep,
                        "mramfs-vmcore-",
                        lambda case, wd: run_case(case, checks, tools, wd))


if __name__ == "__main__":
    sys.exit(main())
