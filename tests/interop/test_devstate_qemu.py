#!/usr/bin/env python3
"""QEMU 10 interoperability of the device-state views of mount.mramfs:
devices/*.json and superio/*.json against mramfs-info and against QEMU.

Each case saves a mapped-ram snapshot of a board with a Super I/O chip
(40p: PC87312; fuloong2e: VIA VT82C686B; pegasos2: VIA VT8231), with the
board's default devices (no -nodefaults, as test_interop.py runs them), and
keeps what QEMU says about the running machine (`info qtree`, `info mtree`)
right before the save. Then:

  devices   devices/ has one JSON file per device section mramfs-info
            --json lists, named by the path rule of mramfs(5) plus
            ".INSTANCE.json"; each parses, is byte-identical to
            `mramfs-info --device IDSTR.INSTANCE`, equals its element of
            `mramfs-info --devices`, and a remount gives the same bytes and
            inode numbers;
  superio   the Super I/O node against the running machine: iobase and irq
            (and dma) of isa-parallel / isa-serial / isa-fdc in `info qtree`,
            enabled exactly when `info mtree` maps the function's ports, and
            for the PC87312 no isa-ide while IDE is disabled and the reset
            registers of the board's strap (docs/FORMAT.md §14.1.5). QEMU 10 does
            not migrate the VIA Super I/O registers (§14.2.5): there the
            node's "assumed" block is what is compared, and the gate bit and
            the PCI interrupt routing are checked against the via-isa config
            bytes read from the file and the values of §14.2.5;
  write     (40p) refused documents -- unknown key, an iobase the chip
            cannot express, malformed JSON -- make close() fail with EINVAL
            and leave the snapshot byte-identical (sha256); then the whole
            edited document (uart2 -> COM3 0x3e8/4, parallel -> 0x3bc/7, IDE
            on) written with open(O_WRONLY|O_TRUNC)/write/close changes only
            FER and FAR in the file; QEMU restores it (logging "pc87312:
            unsupported device reconfiguration", its devices stay where the
            strap put them) and saves it again, and the new file holds the
            new registers;
  damage    copies with the vmdesc JSON truncated (two ways), a vmdesc that
            lies about a struct's size, one nested too deep, and one whose
            section overruns its footer: mount.mramfs and mramfs-info
            --devices exit 1 with one stderr line naming the copy and
            "offset 0x", nothing mounted;
  undecodable  a copy whose vmdesc describes the chip's section in a shape
            its Super I/O decoder cannot read (the PC87312 regs as a 3-byte
            buffer; the via-isa config space as 64 + 192 bytes):
            mramfs-info and mramfs-check accept it, mount.mramfs mounts it
            (read-write) saying so on stderr, ram/ and devices/ are as in
            the original, and the chip's superio/ file is a read-only
            document with "decoded": false and the reason.

    test_devstate_qemu.py --info BUILD/tools/mramfs-info \\
                          --read BUILD/tests/mr-read-block \\
                          --mount BUILD/tools/mount.mramfs \\
                          --check BUILD/tools/mramfs-check --case ppc-40p
    test_devstate_qemu.py --list

--read is accepted for the same command line as test_interop.py and not
used. Needs root and /dev/fuse. Prints one line per check and ends with
"N passed, N failed"; exits 1 if anything failed.
"""

import contextlib
import dataclasses
import errno
import json
import os
import re
import struct
import sys
import time

sys.dont_write_bytecode = True
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)
sys.path.insert(0, os.path.join(_HERE, "..", "fs"))
import qemu_harness as qh  # noqa: E402
import mountlib  # noqa: E402
import test_interop as ti  # noqa: E402

TOOL_TIMEOUT = 60
PPC = "qemu-system-ppc"
MIPS = "qemu-system-mips64el"


@dataclasses.dataclass
class Case:
    name: str
    doc: str
    binary: str
    machine_args: list
    superio: str          # the file under superio/
    chip: str = ""        # VIA: "VT82C686B" / "VT8231"


CASES = [
    Case("ppc-40p", "PReP 40p, 64 MiB: PC87312 (strap 12)", PPC,
         ["-M", "40p", "-m", "64"], "pc87312.json"),
    Case("mips-fuloong2e", "Fuloong 2E: VIA VT82C686B", MIPS,
         ["-M", "fuloong2e"], "vt82c686b.json", "VT82C686B"),
    Case("ppc-pegasos2", "Pegasos II, 256 MiB, VOF: VIA VT8231", PPC,
         ["-M", "pegasos2", "-m", "256"], "vt8231.json", "VT8231"),
]
CASES_BY_NAME = {c.name: c for c in CASES}

# docs/FORMAT.md §14.1.5: the 40p sets strap 12.
PC87312_RESET = {12: (0x0f, 0x10, 0x00)}

# docs/FORMAT.md §14.2.1 / §14.2.2 / §14.2.5, typed in.
VIA = {
    "VT82C686B": {"device_id": 0x0686, "revision": 0x40, "gate": (0x85, 1),
                  "serials": 2},
    "VT8231": {"device_id": 0x8231, "revision": 0x10, "gate": (0x50, 2),
               "serials": 1},
}
# What the saved files hold (§14.2.5 [V]): gate register value and the
# routing of INTA-INTD (None: disabled).
VIA_SAVED = {
    "mips-fuloong2e": {"gate_value": 0x00, "pirq": [None] * 4},
    "ppc-pegasos2": {"gate_value": 0x02, "pirq": [9, 9, 9, 9]},
}


# --------------------------------------------------------------------------
# Helpers


def run(argv, timeout=TOOL_TIMEOUT):
    return mountlib.run_tool(argv, timeout)


def sparse_copy(src, dst):
    r = run(["cp", "--sparse=always", src, dst])
    if r.returncode != 0:
        raise AssertionError("cp %s %s: %s" % (src, dst, r.stderr.decode()))


def differing_offsets(a, b, limit=64):
    """Offsets where files a and b differ (both the same size)."""
    out = []
    with open(a, "rb") as fa, open(b, "rb") as fb:
        pos = 0
        while True:
            x = fa.read(8 << 20)
            y = fb.read(8 << 20)
            if not x and not y:
                return out
            if x != y:
                n = min(len(x), len(y))
                for k in range(0, n, 4096):
                    if x[k:k + 4096] == y[k:k + 4096]:
                        continue
                    for i in range(k, min(k + 4096, n)):
                        if x[i] != y[i]:
                            out.append(pos + i)
                            if len(out) >= limit:
                                return out
                if len(x) != len(y):
                    out.append(pos + min(len(x), len(y)))
                    return out
            pos += len(x)


def escape_component(c):
    """mramfs(5): '%' -> %25, a '.' or '..' component -> %2E / %2E%2E."""
    if c in (".", ".."):
        return "%2E" * len(c)
    return c.replace("%", "%25")


def device_path(idstr, instance):
    """devices/ path of a section (fs/mfs-view-devices.c: the block path
    rule of fs/mfs-tree.c, the last component + ".INSTANCE.json")."""
    parts = [escape_component(c) for c in idstr.split("/") if c]
    if not parts:
        parts = ["%2F" * len(idstr)]
    parts[-1] += ".%d.json" % instance
    return "/".join(parts)


def tree_files(root):
    """{relative path: (bytes, st_ino)} of every regular file below root,
    but .mramfs/: the daemon's log and counters, not the snapshot's.
    restore/qemu-args names the mount point, which is "MNT" here so that
    two mounts of the same snapshot compare equal."""
    out = {}
    for d, dirs, files in os.walk(root):
        if d == root:
            dirs[:] = [x for x in dirs if x != ".mramfs"]
        for name in files:
            p = os.path.join(d, name)
            rel = os.path.relpath(p, root)
            with open(p, "rb") as f:
                data = f.read()
            if rel == os.path.join("restore", "qemu-args"):
                data = data.replace(os.path.realpath(root).encode(), b"MNT")
            out[rel] = (data, os.stat(p).st_ino)
    return out


def parse_qtree(text):
    """Devices of `info qtree`: [{"type", "id", "props": {name: int|str}}].
    A device's properties come before its buses."""
    devs = []
    cur = None
    for line in text.splitlines():
        m = re.match(r'^(\s*)dev: ([^,]+), id "(.*)"', line)
        if m:
            cur = {"type": m.group(2), "id": m.group(3),
                   "indent": len(m.group(1)), "props": {}}
            devs.append(cur)
            continue
        if re.match(r"^\s*bus: ", line):
            cur = None
            continue
        if cur is None:
            continue
        m = re.match(r"^(\s*)([\w.-]+) = (-?\d+) \(0x[0-9a-f]+\)\s*$", line)
        if m and len(m.group(1)) > cur["indent"]:
            cur["props"][m.group(2)] = int(m.group(3))
            continue
        m = re.match(r'^(\s*)([\w.-]+) = "(.*)"\s*$', line)
        if m and len(m.group(1)) > cur["indent"]:
            cur["props"][m.group(2)] = m.group(3)
    return devs


def mtree_io_regions(text):
    """{(name, low 16 bits of the start)} of the I/O regions `info mtree`
    shows (it omits disabled regions)."""
    out = set()
    for m in re.finditer(r"^\s*([0-9a-f]+)-[0-9a-f]+ \(prio -?\d+, i/o\): "
                         r"([^\s\[]+)", text, re.M):
        out.add((m.group(2), int(m.group(1), 16) & 0xffff))
    return out


def port_region(fn):
    """The region QEMU maps for an ISA function at iobase b: serial and
    parallel at b, the FDC's first region at b + 1."""
    kind, base = fn
    return {"serial": ("serial", base), "parallel": ("parallel", base),
            "fdc": ("fdc", base + 1)}[kind]


def write_doc(path, text):
    """open(O_WRONLY|O_TRUNC), write, close: the errno of the first failing
    step (0 if none) and which step."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    except OSError as e:
        return e.errno, "open"
    try:
        data = text.encode()
        n = os.write(fd, data)
        if n != len(data):
            return errno.EIO, "write (short: %d of %d)" % (n, len(data))
    except OSError as e:
        with contextlib.suppress(OSError):
            os.close(fd)
        return e.errno, "write"
    try:
        os.close(fd)
    except OSError as e:
        return e.errno, "close"
    return 0, ""


class Env:
    """What every check needs: the tools, the checks, the work directory."""

    def __init__(self, checks, info, mount, workdir, check=None):
        self.checks = checks
        self.info = info
        self.mount = mount
        self.check = check
        self.workdir = workdir
        self._n = 0

    def mountpoint(self):
        self._n += 1
        p = os.path.join(self.workdir, "mnt%d" % self._n)
        os.mkdir(p)
        return p

    @contextlib.contextmanager
    def mounted(self, snapshot, options=()):
        mnt = self.mountpoint()
        try:
            with mountlib.mounted(snapshot, options, mnt=mnt):
                yield mnt
        finally:
            with contextlib.suppress(OSError):
                os.rmdir(mnt)

    def info_json(self, path):
        r = run([self.info, "--json", path])
        if not self.checks.ok(r.returncode == 0, "mramfs-info --json %s exits 0"
                              % os.path.basename(path), r.stderr.decode()):
            return None
        return json.loads(r.stdout)

    def device_text(self, path, name):
        r = run([self.info, "--device", name, path])
        if r.returncode != 0:
            return None, r.stderr.decode()
        return r.stdout, ""


# --------------------------------------------------------------------------
# devices/


def check_devices(env, case, snap_path, summary):
    c = env.checks
    devs = summary.get("devices") or []
    c.ok(devs and summary.get("devices_decodable"),
         "mramfs-info --json lists %d decodable device sections" % len(devs))
    want = {}
    for d in devs:
        want.setdefault(device_path(d["name"], d["instance_id"]), d)
    c.equal(len(want), len(devs), "every device section has a path of its "
            "own under devices/ (mramfs(5) escaping + .INSTANCE.json)")
    r = run([env.info, "--devices", snap_path])
    all_docs = json.loads(r.stdout) if r.returncode == 0 else []
    c.ok(r.returncode == 0 and len(all_docs) == len(devs),
         "mramfs-info --devices prints %d decoded sections" % len(devs),
         r.stderr.decode()[-1000:])
    by_key = {(d.get("name"), d.get("instance_id")): d for d in all_docs}
    before = mountlib.sha256(snap_path)
    t0 = time.monotonic()
    with env.mounted(snap_path, ["-o", "ro"]) as mnt:
        files = tree_files(os.path.join(mnt, "devices"))
        first = tree_files(mnt)
    c.note("mounted and read %d device files in %.2f s" % (
        len(files), time.monotonic() - t0))
    c.equal(sorted(files), sorted(want),
            "devices/ holds exactly one file per device section")
    bad_parse, bad_info, bad_devices, bad_header = [], [], [], []
    for p, d in sorted(want.items()):
        if p not in files:
            continue
        data = files[p][0]
        try:
            doc = json.loads(data)
        except ValueError as e:
            bad_parse.append("%s: %s" % (p, e))
            continue
        name = "%s.%d" % (d["name"], d["instance_id"])
        text, err = env.device_text(snap_path, name)
        if text != data:
            bad_info.append("%s: mramfs-info --device %s %s" % (
                p, name, err.strip() or "prints other bytes (%s)" % (
                    ti.describe_difference(text or b"", data,
                                           ("info", "mount")))))
        if by_key.get((d["name"], d["instance_id"])) != doc:
            bad_devices.append(p)
        for k in ("name", "instance_id", "version_id", "section_id", "offset",
                  "size", "body_offset", "body_size"):
            if doc.get(k) != d.get(k):
                bad_header.append("%s: %s %r, mramfs-info --json says %r" % (
                    p, k, doc.get(k), d.get(k)))
        if doc.get("decoded") is not True:
            bad_header.append("%s: not decoded" % p)
    c.ok(not bad_parse, "every devices/ file parses as JSON", "\n".join(bad_parse))
    c.ok(not bad_info, "every devices/X.json == `mramfs-info --device X`, "
         "byte for byte", "\n".join(bad_info[:10]))
    c.ok(not bad_devices, "every devices/ file == its element of "
         "`mramfs-info --devices`", "\n".join(bad_devices[:10]))
    c.ok(not bad_header, "every devices/ file's section header == mramfs-info "
         "--json (name, instance, version, id, offset, size, body)",
         "\n".join(bad_header[:10]))

    with env.mounted(snap_path, ["-o", "ro"]) as mnt:
        second = tree_files(mnt)
    c.equal(sorted(second), sorted(first), "remount: the same files")
    diff = [p for p in first if p in second and first[p][0] != second[p][0]]
    c.ok(not diff, "remount: every file byte-identical (%d files)" % len(first),
         "differ: %s" % ", ".join(diff[:10]))
    diff = [p for p in first if p in second and first[p][1] != second[p][1]]
    c.ok(not diff, "remount: the same inode numbers", ", ".join(diff[:10]))
    c.equal(mountlib.sha256(snap_path), before, "reading the mount left the snapshot "
            "byte-identical")
    return first


# --------------------------------------------------------------------------
# superio/ against the running machine


def qtree_isa(qtree, kind):
    """isa-serial by index, or the single isa-parallel/isa-fdc/isa-ide."""
    t = {"serial": "isa-serial", "parallel": "isa-parallel", "fdc": "isa-fdc",
         "ide": "isa-ide"}[kind]
    return [d for d in qtree if d["type"] == t]


def compare_function(c, label, node_fn, qdev, regions, kind):
    """A function of the node against QEMU: iobase/irq(/dma) of the qtree
    device, and enabled exactly when mtree maps its ports."""
    base = int(node_fn["iobase"], 16)
    if qdev is None:
        c.fail("%s: QEMU has the device" % label)
        return
    got = {"iobase": base, "irq": node_fn.get("irq")}
    want = {"iobase": qdev["props"].get("iobase"),
            "irq": qdev["props"].get("irq")}
    if kind == "fdc":
        got["dma"] = node_fn.get("dma")
        want["dma"] = qdev["props"].get("dma")
    c.equal(got, want, "%s: iobase 0x%x irq %s == QEMU info qtree %s" % (
        label, base, node_fn.get("irq"), qdev["type"]))
    mapped = port_region((kind, base)) in regions
    c.ok(mapped == node_fn["enabled"], "%s: enabled %s, and QEMU's info mtree "
         "%s its ports at 0x%x" % (label, node_fn["enabled"],
                                   "maps" if mapped else "does not map", base))


def check_pc87312(env, case, files, snap, qtree, regions):
    c = env.checks
    node = json.loads(files["superio/pc87312.json"][0])
    fns = node["functions"]
    regs = node["registers"]
    chip = [d for d in qtree if d["type"] == "pc87312"]
    if not c.ok(len(chip) == 1, "QEMU has one pc87312 (config %s, iobase %s)"
                % (chip[0]["props"].get("config") if chip else "-",
                   hex(chip[0]["props"].get("iobase", 0)) if chip else "-")):
        return node
    strap = chip[0]["props"].get("config")
    if strap in PC87312_RESET:
        fer, far, ptr = PC87312_RESET[strap]
        c.equal((regs["fer"], regs["far"], regs["ptr"]),
                ("0x%02x" % fer, "0x%02x" % far, "0x%02x" % ptr),
                "registers == reset row of strap %d (docs/FORMAT.md §14.1.5)" % strap)
    else:
        c.fail("strap %s is in the test's table" % strap)
    serials = {d["props"].get("index"): d for d in qtree_isa(qtree, "serial")}
    for key, kind, qdev in (
            ("parallel", "parallel", (qtree_isa(qtree, "parallel") or [None])[0]),
            ("uart1", "serial", serials.get(0)),
            ("uart2", "serial", serials.get(1)),
            ("fdc", "fdc", (qtree_isa(qtree, "fdc") or [None])[0])):
        fn = fns[key]
        if not fn["enabled"]:
            # A disabled PC87312 function has no device (§14.1.5).
            c.ok(qdev is None, "pc87312 %s disabled: QEMU has no such device"
                 % key)
            continue
        compare_function(c, "pc87312 %s" % key, fn, qdev, regions, kind)
    ide = qtree_isa(qtree, "ide")
    if fns["ide"]["enabled"]:
        ok = len(ide) == 1 and ide[0]["props"].get("iobase") == \
            int(fns["ide"]["iobase"], 16) and ide[0]["props"].get("irq") == \
            fns["ide"]["irq"]
        c.ok(ok, "pc87312 ide enabled: QEMU has isa-ide at %s irq %s" % (
            fns["ide"]["iobase"], fns["ide"]["irq"]))
    else:
        c.ok(not ide, "pc87312 ide disabled: QEMU has no isa-ide device",
             "qtree: %s" % ide)
    # The node's offsets point at the section's bytes.
    sec = node["section"]
    with open(snap.path, "rb") as f:
        f.seek(sec["registers_offset"])
        raw = f.read(3)
    c.equal(raw.hex(), "".join(r[2:] for r in (regs["fer"], regs["far"],
                                              regs["ptr"])),
            "the bytes at registers_offset 0x%x are FER FAR PTR"
            % sec["registers_offset"])
    return node


def via_config(env, snap_path, node):
    """The via-isa config space, from mramfs-info --device and from the
    file at the node's pci_config offset."""
    c = env.checks
    sec = node["section"]
    text, err = env.device_text(snap_path, "%s.%d" % (sec["name"],
                                                      sec["instance_id"]))
    if not c.ok(text is not None, "mramfs-info --device %s" % sec["name"], err):
        return None
    dev = json.loads(text)
    cfg = dev["fields"]["dev"]["fields"]["config[0]"]
    c.equal((cfg["type"], cfg["size"], cfg["offset"]),
            ("pci config", 256, node["pci_config"]["offset"]),
            "the node's pci_config offset is via-isa's dev.config[0]")
    data = bytes.fromhex(cfg["value"])
    with open(snap_path, "rb") as f:
        f.seek(node["pci_config"]["offset"])
        c.equal(f.read(256).hex(), data.hex(), "config[0] value == the 256 "
                "bytes of the file at its offset")
    return data


def check_via(env, case, files, snap, qtree, regions):
    c = env.checks
    node = json.loads(files["superio/" + case.superio][0])
    spec = VIA[case.chip]
    c.equal((node.get("device"), node.get("chip")), ("via-isa", case.chip),
            "superio/%s is the %s" % (case.superio, case.chip))
    cfg = via_config(env, snap.path, node)
    if cfg is None:
        return node
    c.equal((int(node["pci_config"]["vendor_id"], 16),
             int(node["pci_config"]["device_id"], 16),
             int(node["pci_config"]["revision"], 16)),
            (0x1106, spec["device_id"], spec["revision"]),
            "vendor, device id and revision (docs/FORMAT.md §14.2.1)")
    c.equal((cfg[0] | cfg[1] << 8, cfg[2] | cfg[3] << 8, cfg[8]),
            (0x1106, spec["device_id"], spec["revision"]),
            "... and the config bytes say the same")
    reg, bit = spec["gate"]
    saved = VIA_SAVED[case.name]
    c.equal(cfg[reg], saved["gate_value"], "config 0x%02x == 0x%02x as "
            "docs/FORMAT.md §14.2.5 saw it" % (reg, saved["gate_value"]))
    c.equal(node["config_ports_enabled"], bool(cfg[reg] >> bit & 1),
            "config_ports_enabled == bit %d of config 0x%02x (0x%02x)" % (
                bit, reg, cfg[reg]))
    c.equal(node["config_ports_gate"], {"register": "0x%02x" % reg, "bit": bit},
            "config_ports_gate names register 0x%02x bit %d" % (reg, bit))
    pirq = [cfg[0x55] >> 4, cfg[0x56] & 0xf, cfg[0x56] >> 4, cfg[0x57] >> 4]
    pirq = [v or None for v in pirq]
    got = [node["pci_interrupt_routing"][k] for k in ("INTA", "INTB", "INTC",
                                                      "INTD")]
    c.equal(got, pirq, "pci_interrupt_routing == config 0x55-0x57 (%s)" %
            cfg[0x55:0x58].hex())
    c.equal(got, saved["pirq"], "pci_interrupt_routing == docs/FORMAT.md §14.2.5")
    # QEMU 10 does not save the Super I/O registers: only "assumed".
    c.ok(node.get("superio_registers") is None and
         node.get("superio_registers_note"),
         "superio_registers is null, with a note (not migrated, §14.2.5)")
    assumed = node.get("assumed") or {}
    c.ok(assumed.get("migrated") is False and assumed.get("source"),
         "assumed says where its values come from and that they are not "
         "migrated: %s" % assumed.get("source"))
    fns = assumed.get("functions") or {}
    serials = {d["props"].get("index"): d for d in qtree_isa(qtree, "serial")}
    c.equal(sorted(fns), sorted(["parallel", "fdc"] + ["serial%d" % i for i in
                                                       range(spec["serials"])]),
            "assumed has parallel, fdc and %d serial port(s)" % spec["serials"])
    for key in sorted(fns):
        kind = "serial" if key.startswith("serial") else key
        qdev = serials.get(int(key[6:])) if kind == "serial" else \
            (qtree_isa(qtree, kind) or [None])[0]
        compare_function(c, "assumed %s" % key, fns[key], qdev, regions, kind)
    # The children's sections are there whether enabled or not (§14.2.5).
    stream = node.get("functions_in_stream") or {}
    for key in sorted(fns):
        s = (stream.get(key) or {}).get("section") or {}
        c.ok(s.get("name") in ("serial", "parallel_isa", "fdc"),
             "functions_in_stream.%s names its section (%s %s)" % (
                 key, s.get("name"), s.get("instance_id")))
    return node


# --------------------------------------------------------------------------
# Writing superio/pc87312.json


def pc87312_regs_of(env, path):
    text, err = env.device_text(path, "pc87312.0")
    if text is None:
        raise AssertionError("mramfs-info --device pc87312.0 %s: %s" % (path, err))
    return json.loads(text)["fields"]["regs"]["value"]


def check_refused_writes(env, snap_path, node_text):
    c = env.checks
    unknown = json.loads(node_text)
    unknown["functions"]["uart2"]["speed"] = 115200
    bad_base = json.loads(node_text)
    bad_base["functions"]["uart2"]["iobase"] = "0x3e0"
    # Each with what .mramfs/log must then say (close() says only EINVAL).
    attempts = [
        ("an unknown key (functions.uart2.speed)", json.dumps(unknown, indent=2),
         "speed"),
        ("an iobase the chip cannot express (uart2 0x3e0)",
         json.dumps(bad_base, indent=2), "0x3e0"),
        ("malformed JSON (the document cut short)", node_text[:len(node_text) // 2],
         "JSON"),
    ]
    before = mountlib.sha256(snap_path)
    with env.mounted(snap_path, ["-o", "ro"]) as mnt:
        e, step = write_doc(os.path.join(mnt, "superio", "pc87312.json"),
                            node_text)
        c.ok(e == errno.EROFS and step == "open", "a read-only mount refuses "
             "to open superio/pc87312.json for writing (EROFS)",
             "got %s at %s" % (errno.errorcode.get(e, e), step or "-"))
    with env.mounted(snap_path) as mnt:
        node = os.path.join(mnt, "superio", "pc87312.json")
        dev = os.path.join(mnt, "devices", "pc87312.0.json")
        e, step = write_doc(dev, "{}")
        c.ok(e == errno.EACCES and step == "open", "devices/pc87312.0.json "
             "cannot be opened for writing (EACCES)",
             "got %s at %s" % (errno.errorcode.get(e, e), step or "-"))
        with open(dev, "rb") as f:
            dev_before = f.read()
        log_path = os.path.join(mnt, ".mramfs", "log")
        for what, text, reason in attempts:
            with open(log_path) as f:
                logged = len(f.read())
            e, step = write_doc(node, text)
            c.ok(e == errno.EINVAL and step == "close",
                 "writing %s: close() fails with EINVAL" % what,
                 "got %s at %s" % (errno.errorcode.get(e, e), step or "-"))
            with open(log_path) as f:
                new = f.read()[logged:]
            c.ok(" error: " in new and "pc87312" in new and reason in new,
                 "writing %s: .mramfs/log gives the reason (%r)" % (what, reason),
                 "new lines of .mramfs/log: %r" % new)
            with open(node) as f:
                c.equal(f.read(), node_text, "after %s superio/pc87312.json "
                        "is unchanged" % what)
        # Opened for writing and closed untouched: nothing to apply.
        fd = os.open(node, os.O_WRONLY)
        try:
            os.close(fd)
            e = 0
        except OSError as ex:
            e = ex.errno
        c.equal(e, 0, "open(O_WRONLY) then close without a write succeeds")
        # ftruncate + write through one descriptor, refused the same way.
        fd = os.open(node, os.O_RDWR)
        try:
            os.ftruncate(fd, 0)
            os.write(fd, json.dumps(unknown).encode())
        finally:
            try:
                os.close(fd)
                e = 0
            except OSError as ex:
                e = ex.errno
        c.equal(errno.errorcode.get(e, e), "EINVAL", "ftruncate(0) + write of "
                "an unknown key: close() fails with EINVAL")
        with open(node) as f:
            c.equal(f.read(), node_text, "superio/pc87312.json still unchanged")
        with open(dev, "rb") as f:
            c.ok(f.read() == dev_before, "devices/pc87312.0.json unchanged")
    c.equal(mountlib.sha256(snap_path), before, "refused writes: the snapshot is "
            "byte-identical (sha256)")


def check_pc87312_round_trip(env, case, snap, workdir, node_text):
    """Write the edited document, check the file, restore it in QEMU, save
    again, decode the new file."""
    c = env.checks
    doc = json.loads(node_text)
    edited = json.loads(node_text)
    edited["functions"]["uart2"].update({"iobase": "0x3e8", "irq": 4})
    edited["functions"]["parallel"].update({"iobase": "0x3bc", "irq": 7})
    edited["functions"]["ide"]["enabled"] = True
    # The index latch changes along (it says nothing about the functions).
    edited["registers"]["selected_index"] = 1
    # docs/FORMAT.md §14.1.2/§14.1.3 read backwards: FER + IDE enable (0x40);
    # FAR parallel select 1 (0x3bc/7), UART1 COM1 (0), UART2 COM3 (2 << 4),
    # address set 0 (COM3 = 0x3e8); PTR unchanged.
    want = [0x4f, 0x21, 0x00]
    regs_off = doc["section"]["registers_offset"]
    sel_off = regs_off - 1  # read_id_step, selected_index, regs (§14.1.1)
    original = os.path.join(workdir, "before-write.mig")
    sparse_copy(snap.path, original)

    with env.mounted(snap.path) as mnt:
        node = os.path.join(mnt, "superio", "pc87312.json")
        e, step = write_doc(node, json.dumps(edited, indent=2) + "\n")
        c.ok(e == 0, "writing the edited document (uart2 COM3 0x3e8/4, "
             "parallel 0x3bc/7, IDE on): open/write/close succeed",
             "%s at %s" % (errno.errorcode.get(e, e), step))
        with open(node) as f:
            back = json.loads(f.read())
        c.equal([back["registers"][k] for k in ("fer", "far", "ptr")],
                ["0x%02x" % v for v in want],
                "superio/pc87312.json now shows FER FAR PTR %02x %02x %02x" %
                tuple(want))
        for k in ("uart2", "parallel", "ide"):
            c.equal(back["functions"][k], edited["functions"][k],
                    "superio/pc87312.json functions.%s as written" % k)
        c.equal(back["registers"]["selected_index"], 1,
                "superio/pc87312.json selected_index 1")
        with open(os.path.join(mnt, "devices", "pc87312.0.json")) as f:
            dev = json.load(f)
        c.equal(dev["fields"]["regs"]["value"], want,
                "devices/pc87312.0.json shows the new regs")
        c.equal((dev["fields"]["selected_index"]["offset"],
                 dev["fields"]["selected_index"]["value"]), (sel_off, 1),
                "devices/pc87312.0.json selected_index 1 at 0x%x" % sel_off)
    diffs = differing_offsets(original, snap.path)
    c.equal(diffs, [sel_off, regs_off, regs_off + 1], "the file changed only "
            "in selected_index, FER and FAR (0x%x, 0x%x, 0x%x)" % (
                sel_off, regs_off, regs_off + 1))
    os.unlink(original)
    c.equal(pc87312_regs_of(env, snap.path), want,
            "mramfs-info --device pc87312.0 reads the new registers")

    again = os.path.join(workdir, "resaved.mig")
    with qh.restore(snap.binary, snap.machine_args, snap.path, workdir,
                    nodefaults=False, name="restore-pc87312") as vm:
        c.note("restored, runstate %s" % vm.status_after_load)
        with open(vm.log_path, "rb") as f:
            log = f.read().decode("utf-8", "replace")
        m = re.search(r"pc87312: unsupported device reconfiguration[^\n]*", log)
        c.ok(m, "QEMU logged \"pc87312: unsupported device reconfiguration\" "
             "and loaded the file", log[-1000:])
        if m:
            c.note("QEMU: %s" % m.group(0))
        # QEMU does not move its devices (§14.1.5): uart2 stays at 0x2f8.
        qtree = parse_qtree(vm.hmp("info qtree"))
        ser = {d["props"].get("index"): d["props"].get("iobase")
               for d in qtree_isa(qtree, "serial")}
        c.equal(ser.get(1), 0x2f8, "restored QEMU keeps uart2 where the strap "
                "put it (0x2f8): the registers do not move devices")
        vm.cmd("migrate", {"uri": qh.file_uri(again)})
        vm.wait_migration(what="second save of the restored 40p")
    c.equal(pc87312_regs_of(env, again), want, "QEMU saved it again: the new "
            "file holds FER FAR PTR %02x %02x %02x" % tuple(want))
    text, _ = env.device_text(again, "pc87312.0")
    c.equal(json.loads(text)["fields"]["selected_index"]["value"] if text
            else None, 1, "... and selected_index 1")
    with env.mounted(again, ["-o", "ro"]) as mnt:
        with open(os.path.join(mnt, "superio", "pc87312.json")) as f:
            node2 = json.load(f)
    for k in ("uart2", "parallel", "ide"):
        c.equal(node2["functions"][k], edited["functions"][k],
                "the re-saved file's superio/pc87312.json: functions.%s" % k)
    os.unlink(again)


# --------------------------------------------------------------------------
# Damaged copies


def read_vmdesc(path, summary):
    off = summary["vmdesc"]["offset"]  # the JSON; 0x06 + be32 length before
    with open(path, "rb") as f:
        f.seek(off)
        return off, f.read()


def write_vmdesc(path, json_off, text):
    with open(path, "r+b") as f:
        f.seek(json_off - 4)
        f.write(struct.pack(">I", len(text)))
        f.write(text)
        f.truncate(json_off + len(text))


def damage_cases(summary, raw):
    """[(what, edit(copy_path, json_offset))]: each breaks one thing."""
    vmdesc = json.loads(raw)
    names = [d["name"] for d in vmdesc["devices"]]

    def with_vmdesc(change):
        def edit(path, off):
            v = json.loads(raw)
            change(v)
            write_vmdesc(path, off, json.dumps(v).encode())
        return edit

    def cut_json_fix_length(path, off):
        # Cut after a '}' in the middle, with a length that matches: the
        # vmdesc is found and its JSON ends early.
        cut = raw.rfind(b"}", 0, len(raw) // 2) + 1
        write_vmdesc(path, off, raw[:cut])

    def cut_file(path, off):
        os.truncate(path, off + len(raw) // 2)

    def lie_struct_size(v):
        d = next(d for d in v["devices"] if d["name"] == "serial")
        d["fields"][0]["size"] += 1

    def overrun_footer(v):
        d = next(d for d in v["devices"] if d["name"] == "parallel_isa")
        d["fields"][-1]["size"] += 5

    def nest_deep(v):
        d = next(d for d in v["devices"] if d["name"] == "parallel_isa")
        inner = {"name": "x", "type": "uint8", "size": 1}
        for i in range(40):
            inner = {"name": "s%d" % i, "type": "struct", "size": 1,
                     "struct": {"vmsd_name": "deep%d" % i, "version": 1,
                                "fields": [inner]}}
        d["fields"] = [inner] + d["fields"][1:]

    assert "serial" in names and "parallel_isa" in names
    return [
        ("vmdesc JSON truncated, length field matching", cut_json_fix_length),
        ("file truncated inside the vmdesc JSON", cut_file),
        ("vmdesc lies about a struct field's size (serial.state + 1)",
         with_vmdesc(lie_struct_size)),
        ("vmdesc nested 40 structs deep (parallel_isa)", with_vmdesc(nest_deep)),
        ("a section overruns its footer (parallel_isa last field + 5 bytes)",
         with_vmdesc(overrun_footer)),
    ]


def check_damaged(env, snap, summary, workdir):
    c = env.checks
    off, raw = read_vmdesc(snap.path, summary)
    copy = os.path.abspath(os.path.join(workdir, "damaged.mig"))
    for what, edit in damage_cases(summary, raw):
        sparse_copy(snap.path, copy)
        edit(copy, off)
        mnt = env.mountpoint()
        try:
            r = run([env.mount, copy, mnt])
            mounted = mountlib.is_mounted(mnt)
            daemon = mountlib.daemon_pid(mnt)
        finally:
            if mountlib.is_mounted(mnt):
                mountlib.unmount(mnt)
            with contextlib.suppress(OSError):
                os.rmdir(mnt)
        lines = r.stderr.decode("utf-8", "replace").strip().splitlines()
        c.ok(r.returncode == 1 and len(lines) == 1 and copy in lines[0] and
             "offset 0x" in lines[0] and not mounted and daemon is None,
             "%s: mount.mramfs exits 1, one stderr line naming the file and "
             "\"offset 0x\", nothing mounted" % what,
             "exit %d, mounted %s, daemon %s, stderr:\n%s" % (
                 r.returncode, mounted, daemon, "\n".join(lines)))
        if lines:
            c.note(lines[0][-200:])
        r = run([env.info, "--devices", copy])
        lines = r.stderr.decode("utf-8", "replace").strip().splitlines()
        c.ok(r.returncode == 1 and len(lines) == 1 and copy in lines[0] and
             "offset 0x" in lines[0] and not r.stdout.strip(),
             "%s: mramfs-info --devices exits 1, one stderr line naming the "
             "file and \"offset 0x\", nothing on stdout" % what,
             "exit %d, stderr:\n%s" % (r.returncode, "\n".join(lines)))
        os.unlink(copy)


# --------------------------------------------------------------------------
# A section the Super I/O decoder cannot interpret


def undecodable_edit(case):
    """(what, edit(vmdesc), superio file, device, words of the reason): a
    vmdesc that still bounds every section as QEMU wrote it, but gives the
    chip's section a shape its decoder does not read."""
    if case.superio == "pc87312.json":
        def edit(v):
            d = next(d for d in v["devices"] if d["name"] == "pc87312")
            i = next(i for i, f in enumerate(d["fields"]) if f["name"] == "regs")
            d["fields"][i] = {"name": "regs", "type": "buffer", "size": 3}
        return ("the PC87312 regs described as a 3-byte buffer", edit,
                "pc87312.json", "pc87312", "pc87312")

    def edit(v):
        d = next(d for d in v["devices"] if d["name"].endswith("/via-isa"))
        fields = d["fields"][0]["struct"]["fields"]
        i = next(i for i, f in enumerate(fields) if f["name"] == "config[0]")
        fields[i:i + 1] = [{"name": "config[0]", "type": "pci config", "size": 64},
                           {"name": "config_rest", "type": "buffer", "size": 192}]
    # Without its config space the chip is not known: the file is named
    # after the section's device.
    return ("the via-isa config space described as 64 + 192 bytes", edit,
            "via-isa.json", "via-isa", "config[0]")


def check_undecodable(env, case, snap, summary, workdir, files):
    """files: the original's tree_files()."""
    c = env.checks
    what, change, node_name, device, needle = undecodable_edit(case)
    sec = next(d for d in summary["devices"]
               if d["name"] == device or d["name"].endswith("/" + device))
    changed = "devices/" + device_path(sec["name"], sec["instance_id"])
    off, raw = read_vmdesc(snap.path, summary)
    copy = os.path.abspath(os.path.join(workdir, "undecodable.mig"))
    sparse_copy(snap.path, copy)
    v = json.loads(raw)
    change(v)
    write_vmdesc(copy, off, json.dumps(v).encode())
    r = run([env.info, "--json", copy])
    c.ok(r.returncode == 0, "%s: mramfs-info --json exits 0" % what,
         r.stderr.decode()[-500:])
    if env.check:
        r = run([env.check, copy])
        c.ok(r.returncode == 0, "%s: mramfs-check exits 0" % what,
             (r.stdout + r.stderr).decode()[-500:])
    mnt = env.mountpoint()
    try:
        r = run([env.mount, copy, mnt])
        err = r.stderr.decode("utf-8", "replace")
        if not c.ok(r.returncode == 0 and mountlib.is_mounted(mnt),
                    "%s: mount.mramfs mounts it (exit %d)" % (what, r.returncode),
                    err[-1000:]):
            return
        c.ok("not decoded" in err and needle in err, "%s: mount.mramfs says on "
             "stderr that %s was not decoded" % (what, device), err[-500:])
        got = tree_files(mnt)
        want = {p for p in files if not p.startswith("superio/")}
        c.equal(sorted(p for p in got if not p.startswith("superio/")),
                sorted(want), "%s: every file but superio/ is there" % what)
        same = [p for p in files if p.startswith("ram/") or
                (p.startswith("devices/") and p != changed)]
        diff = [p for p in same if p not in got or got[p][0] != files[p][0]]
        c.ok(not diff, "%s: ram/ and the other devices/ files read as in the "
             "original (%d files)" % (what, len(same)), ", ".join(diff[:10]))
        c.equal(sorted(p for p in got if p.startswith("superio/")),
                ["superio/" + node_name], "%s: superio/ holds %s" % (what, node_name))
        node = json.loads(got.get("superio/" + node_name, (b"{}", 0))[0])
        c.ok(node.get("decoded") is False and needle in (node.get("reason") or "")
             and node.get("device") == device,
             "%s: superio/%s says \"decoded\": false, device %s, and why"
             % (what, node_name, device), json.dumps(node)[:500])
        if node.get("reason"):
            c.note("reason: %s" % node["reason"][-200:])
        c.equal((node.get("name"), node.get("offset")), (sec["name"], sec["offset"]),
                "%s: ... and names its section and offset" % what)
        e, step = write_doc(os.path.join(mnt, "superio", node_name), "{}")
        c.ok(e == errno.EACCES and step == "open", "%s: superio/%s cannot be "
             "opened for writing on a read-write mount (EACCES)" % (what, node_name),
             "got %s at %s" % (errno.errorcode.get(e, e), step or "-"))
        if device == "pc87312":
            dev = json.loads(got[changed][0])
            regs = dev.get("fields", {}).get("regs", {})
            orig = json.loads(files["superio/pc87312.json"][0])["registers"]
            c.equal((dev.get("decoded"), regs.get("type"), regs.get("value")),
                    (True, "buffer", "".join(orig[k][2:] for k in ("fer", "far", "ptr"))),
                    "%s: devices/pc87312.0.json shows regs as the buffer it is" % what)
    finally:
        if mountlib.is_mounted(mnt):
            mountlib.unmount(mnt)
        with contextlib.suppress(OSError):
            os.rmdir(mnt)
        os.unlink(copy)


# --------------------------------------------------------------------------


def run_case(case, env, workdir):
    c = env.checks
    t0 = time.monotonic()
    print("# case %s: %s" % (case.name, case.doc))
    seen = {}

    def look(vm):
        seen["qtree"] = vm.hmp("info qtree")
        seen["mtree"] = vm.hmp("info mtree")

    path = os.path.join(workdir, case.name + ".mig")
    snap = qh.save_snapshot(case.binary, case.machine_args, path, workdir,
                            nodefaults=False, before_migrate=look)
    c.note("saved in %.1f s: %s, %d bytes" % (snap.seconds, path,
                                              os.path.getsize(path)))
    qtree = parse_qtree(seen["qtree"])
    regions = mtree_io_regions(seen["mtree"])
    summary = env.info_json(path)
    if summary is None:
        return
    files = check_devices(env, case, path, summary)
    c.equal(sorted(p for p in files if p.startswith("superio/")),
            ["superio/" + case.superio], "superio/ holds %s only" % case.superio)
    if "superio/" + case.superio not in files:
        return
    if case.superio == "pc87312.json":
        check_pc87312(env, case, files, snap, qtree, regions)
        node_text = files["superio/pc87312.json"][0].decode()
        check_refused_writes(env, path, node_text)
        check_damaged(env, snap, summary, workdir)
        check_undecodable(env, case, snap, summary, workdir, files)
        check_pc87312_round_trip(env, case, snap, workdir, node_text)
    else:
        check_via(env, case, files, snap, qtree, regions)
        with env.mounted(path) as mnt:
            e, step = write_doc(os.path.join(mnt, "superio", case.superio), "{}")
        c.ok(e != 0 and step == "open", "superio/%s cannot be written (%s at "
             "open): nothing of it is in the file to write" % (
                 case.superio, errno.errorcode.get(e, e)))
        check_damaged(env, snap, summary, workdir)
        check_undecodable(env, case, snap, summary, workdir, files)
    c.note("case %s took %.1f s" % (case.name, time.monotonic() - t0))


def main(argv=None):
    ap, args, cases = ti.case_arguments(__doc__, CASES, argv)
    if cases is None:
        return 0
    if not args.info or not args.mount:
        ap.error("--info and --mount are required")

    qh.install_signal_cleanup()
    checks = ti.Checks()
    mountlib.Tools.mount = os.path.abspath(args.mount)
    mountlib.Tools.info = os.path.abspath(args.info)
    for tool in (args.info, args.mount):
        checks.ok(os.access(tool, os.X_OK), "tool %s is executable" % tool)

    def run(case, workdir):
        env = Env(checks, os.path.abspath(args.info),
                  os.path.abspath(args.mount), workdir,
                  os.path.abspath(args.check) if args.check else None)
        run_case(case, env, workdir)

    return ti.run_cases(cases, checks, args.keep, "mramfs-devstate-", run)


if __name__ == "__main__":
    sys.exit(main())
