#!/usr/bin/env python3
"""Writes the seed files of tests/fuzz/corpus/{open,devstate,bitmap}.

    make-corpus.py [--build DIR] [--snapshots DIR] [--out DIR]

open/      qemu-MACHINE        a real QEMU 10 file, shrunk (shrink.py)
           writer-VARIANT      a fuzz-seeds variant (FORMAT.md §15), shrunk
           damaged-WHAT        a copy of one of those with one field broken
devstate/  MACHINE-NN-DEVICE   one vmdesc device entry, NUL, its body
           MACHINE-via, ...    several devices for ds_via_json()/pc87312
           doc-WHAT            superio/pc87312.json documents
           guestmap-NAME       the RAM blocks (sizes only) and the device
                               sections the guest-physical map reads, of
                               each snapshot NAME.mig in --guestmap DIR
bitmap/    ORDER-WHAT          order byte, page count, real bitmap bytes

--snapshots names a directory with 40p.mig, pc.mig, fuloong2e.mig and
pegasos2.mig; without it they are made with examples/make-snapshot.py
(QEMU 10).  --build is a build directory with tools/mramfs-info and
tests/fuzz/fuzz-seeds.  Only the files named above are (re)written: inputs
merged by scripts/fuzz and crash regressions stay.
"""
import argparse
import json
import os
import re
import struct
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import shrink  # noqa: E402

MACHINES = ("40p", "pc", "fuloong2e", "pegasos2")


def info(build, path, *extra):
    out = subprocess.run([os.path.join(build, "tools", "mramfs-info"), "--json"]
                         + list(extra) + [path], check=True,
                         stdout=subprocess.PIPE).stdout
    return json.loads(out)


def shrink_file(build, src, dst, pages, *extra):
    lay = info(build, src, *extra)
    with open(src, "rb") as f:
        small = shrink.shrink(f.read(), lay, pages, "page")
    with open(dst, "wb") as f:
        f.write(small)
    return small


def put(path, data):
    with open(path, "wb") as f:
        f.write(data)


# ---- open --------------------------------------------------------------

def damaged(build, base_path, base):
    """Copies of a shrunk file with one field broken, at offsets from the
    reader's own layout of the intact file."""
    lay = info(build, base_path)
    b0, b1 = lay["ram_blocks"][0], lay["ram_blocks"][1]
    dev = lay["devices"][0]
    vm = lay["vmdesc"]["offset"]
    mem = lay["ram_section_offset"] + 1 + 4 + 4 + 4 + 4

    def patch(off, data):
        d = bytearray(base)
        d[off:off + len(data)] = data
        return bytes(d)

    def be64(v):
        return struct.pack(">Q", v)

    hdr = b0["header_offset"]
    json_text = base[vm:]
    # QEMU writes ", " and ": " between JSON tokens, json-c (the writer) no
    # spaces.
    sp = b" " if b'"devices": [' in json_text else b""
    size_pos = vm + json_text.index(b'"size":' + sp + b"8",
                                    json_text.index(b'"devices"'))
    out = {
        "truncated-in-vmdesc": base[:-100],
        "truncated-in-devices": base[:dev["offset"] + dev["size"] // 2],
        "truncated-in-bitmap": base[:b0["bitmap_offset"] + 4],
        "truncated-in-pages": base[:b0["pages_offset"] + 100],
        "pages-offset-past-eof": patch(hdr + 20, be64(0x7ffffffffffff000)),
        "pages-offset-max": patch(hdr + 20, be64(0xfffffffffffff000)),
        "pages-offset-unaligned": patch(hdr + 20, be64(b0["pages_offset"] + 8)),
        "pages-offset-overlaps-bitmap": patch(hdr + 20, be64(b0["bitmap_offset"])),
        "bitmap-offset-zero": patch(hdr + 12, be64(0)),
        "bitmap-offset-past-eof": patch(hdr + 12, be64(1 << 40)),
        "used-length-huge": patch(b0["desc_offset"] + 1 + len(b0["name"]),
                                  be64(0xfffffffffffff000)),
        "used-length-not-page-multiple": patch(
            b0["desc_offset"] + 1 + len(b0["name"]), be64(b0["used_length"] + 1)),
        "mem-size-huge": patch(mem, be64(0xfffffffffffff004)),
        "mem-size-short": patch(mem, be64(b0["used_length"] | 4)),
        "page-size-odd": patch(hdr + 4, be64(4095)),
        "page-size-2m": patch(hdr + 4, be64(0x200000)),
        "header-version-2": patch(hdr, struct.pack(">I", 2)),
        "header-version-0": patch(hdr, struct.pack(">I", 0)),
        "duplicate-block-name": patch(b1["desc_offset"] + 1,
                                      b0["name"].encode()[:len(b1["name"])])
        if len(b0["name"]) == len(b1["name"]) else None,
        "stream-version-2": patch(4, struct.pack(">I", 2)),
        "no-mapped-ram-cap": base.replace(b"\x0amapped-ram", b"\x0amapped-rax", 1),
        "footer-id-wrong": patch(dev["offset"] + dev["size"] - 4,
                                 struct.pack(">I", dev["section_id"] + 1)),
        "vmdesc-length-plus-one": patch(vm - 4,
                                        struct.pack(">I", len(json_text) + 1)),
        "vmdesc-json-broken": patch(vm + len(json_text) // 2, b"\x00"),
        "vmdesc-size-wrong": patch(size_pos, b'"size":' + sp + b"9"),
        "vmdesc-devices-not-array": base.replace(b'"devices":' + sp + b"[",
                                                 b'"devices":' + sp + b"{", 1),
        "eof-missing": patch(lay["eof_offset"], b"\x05"),
        "bytes-after-vmdesc": base + b" ",
        "bitmap-stray-bits": patch(b0["bitmap_offset"], b"\xff" * 8),
    }
    return {k: v for k, v in out.items() if v is not None}


def open_corpus(build, snaps, out, work):
    d = os.path.join(out, "open")
    os.makedirs(d, exist_ok=True)
    written = {}
    for m in MACHINES:
        written["qemu-" + m] = shrink_file(build, os.path.join(snaps, m + ".mig"),
                                           os.path.join(d, "qemu-" + m), 2)
    seeds = os.path.join(work, "seeds")
    os.makedirs(seeds, exist_ok=True)
    subprocess.run([os.path.join(build, "tests", "fuzz", "fuzz-seeds"), seeds],
                   check=True, stdout=subprocess.DEVNULL)
    for name in sorted(os.listdir(seeds)):
        v = name[:-len(".bin")]
        extra = []
        pages = 1
        # Enough pages for a second long, where the word order matters;
        # a 32-bit LE host differs from a 64-bit one only in the rounding.
        if v == "bitmap-be64":
            pages = 70
        elif v == "bitmap-be32":
            pages = 40
        if v in ("bitmap-be64", "bitmap-be32"):
            extra = ["--bitmap-order", v[len("bitmap-"):]]
        written["writer-" + v] = shrink_file(build, os.path.join(seeds, name),
                                             os.path.join(d, "writer-" + v),
                                             pages, *extra)
    # Without vmdesc and EOF: a save that stopped after the ram section.
    nv = written["writer-no-vmdesc"]
    put(os.path.join(d, "damaged-no-vmdesc-no-eof"), nv[:-1])
    # Damage the smallest complete file; the real descriptions matter only
    # where the device walk is concerned.
    for name, data in damaged(build, os.path.join(d, "writer-basic-1k"),
                              written["writer-basic-1k"]).items():
        put(os.path.join(d, "damaged-" + name), data)
    for name, data in damaged(build, os.path.join(d, "qemu-pegasos2"),
                              written["qemu-pegasos2"]).items():
        if name in ("footer-id-wrong", "vmdesc-size-wrong"):
            put(os.path.join(d, "damaged-pegasos2-" + name), data)
    return written


# ---- devstate ----------------------------------------------------------

def device_seeds(build, path, data, tag, d):
    lay = info(build, path)
    vm = lay["vmdesc"]
    devs = json.loads(data[vm["offset"]:vm["offset"] + vm["size"]])["devices"]
    seen = set()
    by_name = {}
    for i, (sec, desc) in enumerate(zip(lay["devices"], devs)):
        body = data[sec["body_offset"]:sec["body_offset"] + sec["body_size"]]
        text = json.dumps(desc).encode()  # QEMU's spacing
        by_name[(sec["name"], sec["instance_id"])] = (desc, body)
        seed = text + b"\0" + body
        if seed in seen:
            continue
        seen.add(seed)
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", sec["name"])
        put(os.path.join(d, "%s-%02d-%s.%d" % (tag, i, name, sec["instance_id"])),
            seed)
    return by_name


def group(machine, entries, **opts):
    """{"machine", "devices": [...]}, NUL, be16-framed bodies (the last one
    unframed), as fuzz-devstate.c reads them."""
    doc = dict(machine=machine, **opts)
    doc["devices"] = [e[0] for e in entries]
    out = json.dumps(doc).encode() + b"\0"
    for k, (_, body) in enumerate(entries):
        if k + 1 < len(entries):
            out += struct.pack(">H", len(body))
        out += body
    return out


PC87312_NODE = {
    "device": "pc87312",
    "section": {"name": "pc87312", "instance_id": 0, "version_id": 1,
                "section_id": 29, "offset": 73764, "registers_offset": 73785},
    "registers": {"fer": "0x0f", "far": "0x10", "ptr": "0x00",
                  "selected_index": 0, "read_id_step": 0},
    "functions": {
        "parallel": {"enabled": True, "iobase": "0x378", "irq": 5},
        "uart1": {"enabled": True, "iobase": "0x3f8", "irq": 4},
        "uart2": {"enabled": True, "iobase": "0x2f8", "irq": 3},
        "fdc": {"enabled": True, "iobase": "0x3f0", "irq": 6, "dma": 2},
        "ide": {"enabled": False, "iobase": "0x1f0", "irq": 14}},
    "note": "QEMU places the PC87312's devices once",
}


def devstate_corpus(build, out, written):
    d = os.path.join(out, "devstate")
    os.makedirs(d, exist_ok=True)
    od = os.path.join(out, "open")
    named = {}
    for tag, src in (("40p", "qemu-40p"), ("pc", "qemu-pc"),
                     ("fuloong2e", "qemu-fuloong2e"), ("pegasos2", "qemu-pegasos2"),
                     ("writer", "writer-basic")):
        named[tag] = device_seeds(build, os.path.join(od, src), written[src], tag, d)
    for tag in ("fuloong2e", "pegasos2"):
        devs = named[tag]
        via = [v for k, v in devs.items() if k[0].endswith("/via-isa")]
        kids = [devs[k] for k in (("parallel_isa", 0), ("serial", 0),
                                  ("serial", 1), ("fdc", 0)) if k in devs]
        put(os.path.join(d, tag + "-via"), group(tag, via + kids))
        put(os.path.join(d, tag + "-via-no-vmdesc"),
            group(tag, via + kids, vmdesc=False))
    pc = named["40p"][("pc87312", 0)]
    put(os.path.join(d, "40p-pc87312"), group("40p", [pc]))
    put(os.path.join(d, "40p-pc87312-no-footers"), group("40p", [pc], footers=False))
    w = named["writer"]
    timer_desc, timer_body = w[("timer", 0)]
    put(os.path.join(d, "writer-early"), group(
        "pc-i440fx-10.0", [(dict(timer_desc, early=True), timer_body),
                           w[("fdc", 0)]]))

    def doc(name, node):
        put(os.path.join(d, "doc-" + name),
            json.dumps(node, indent=2).encode() + b"\n")

    doc("pc87312-node", PC87312_NODE)
    doc("registers-only", {"registers": {"fer": 0x4b, "far": "0x3c", "ptr": "8"}})
    doc("functions-com3", {"functions": {"uart2": {"iobase": "0x3e8", "irq": 4}}})
    doc("functions-disagree", {"registers": {"fer": "0x00"},
                               "functions": {"ide": {"enabled": True}}})
    doc("bad-key", {"device": "pc87312", "regs": {}})


# ---- bitmap ------------------------------------------------------------

def guestmap_corpus(build, snaps, out):
    """For each NAME.mig in snaps (run after the firmware, say): a group
    with its blocks and the sections ds_guest_map_new reads (PCI devices,
    the RTC, kvm-tpr-opt, hpet), bodies under 64 KiB as the framing
    allows."""
    d = os.path.join(out, "devstate")
    for name in sorted(os.listdir(snaps)):
        if not name.endswith(".mig"):
            continue
        path = os.path.join(snaps, name)
        lay = info(build, path)
        with open(path, "rb") as f:
            f.seek(lay["vmdesc"]["offset"])
            descs = json.loads(f.read(lay["vmdesc"]["size"]))["devices"]
            entries = []
            for sec, desc in zip(lay["devices"], descs):
                if not (":" in sec["name"] or sec["name"] in (
                        "mc146818rtc", "kvm-tpr-opt", "hpet")):
                    continue
                if sec["body_size"] >= 0x10000:
                    continue
                f.seek(sec["body_offset"])
                entries.append((desc, f.read(sec["body_size"])))
        blocks = [{"name": b["name"], "size": b["used_length"]}
                  for b in lay["ram_blocks"]]
        put(os.path.join(d, "guestmap-" + name[:-4]),
            group(lay["machine"], entries, blocks=blocks))


def bitmap_corpus(build, snaps, out):
    d = os.path.join(out, "bitmap")
    os.makedirs(d, exist_ok=True)
    lay = info(build, os.path.join(snaps, "40p.mig"))
    with open(os.path.join(snaps, "40p.mig"), "rb") as f:
        real = {}
        for b in lay["ram_blocks"]:
            f.seek(b["bitmap_offset"])
            real[b["name"]] = f.read(min(b["bitmap_size"], 64))
    samples = {
        "40p-bios": (real["bios"], 256),
        "40p-pcnet-rom": (real["pci.0:03.0/pcnet.rom"], 64),
        "40p-simm0": (real["simm.0"], 300),
        "ones-stray": (b"\xff" * 24, 150),
        "alternate": (b"\xaa\x55" * 12, 190),
        "sparse-tail": (b"\x00" * 15 + b"\x80", 130),
        "short-bytes": (b"\x01\x02\x04", 200),
    }
    for oi, order in enumerate(("le", "be64", "be32")):
        for name, (bits, n) in samples.items():
            for mutate in (0, 4):
                put(os.path.join(d, "%s-%s%s" % (order, name, "-mutate" if mutate else "")),
                    bytes([oi | mutate]) + struct.pack("<H", n) + bits)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.path.join(TOP, "build"))
    ap.add_argument("--snapshots")
    ap.add_argument("--out", default=os.path.join(HERE, "corpus"))
    ap.add_argument("--guestmap", metavar="DIR",
                    help="write only the guestmap-* seeds, from DIR/*.mig")
    a = ap.parse_args()
    if a.guestmap:
        guestmap_corpus(a.build, a.guestmap, a.out)
        return
    with tempfile.TemporaryDirectory(prefix="mramfs-corpus-") as work:
        snaps = a.snapshots
        if snaps is None:
            snaps = os.path.join(work, "snaps")
            os.makedirs(snaps)
            for m in MACHINES:
                subprocess.run([sys.executable, os.path.join(TOP, "examples",
                                "make-snapshot.py"), "--machine", m,
                                os.path.join(snaps, m + ".mig")], check=True)
        written = open_corpus(a.build, snaps, a.out, work)
        devstate_corpus(a.build, a.out, written)
        bitmap_corpus(a.build, snaps, a.out)
    for t in ("open", "devstate", "bitmap"):
        p = os.path.join(a.out, t)
        files = os.listdir(p)
        size = sum(os.path.getsize(os.path.join(p, f)) for f in files)
        print("%s: %d files, %d bytes" % (p, len(files), size))


if __name__ == "__main__":
    main()
