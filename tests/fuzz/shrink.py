#!/usr/bin/env python3
"""Shrinks a mapped-ram snapshot into a fuzz seed: same stream, tiny blocks.

    shrink.py [--pages N] [--align page|1M] [--info MRAMFS-INFO] IN OUT

A QEMU file is mostly page areas (docs/FORMAT.md §9.5): 90-290 MB of holes for
the machines of examples/make-snapshot.py.  The stream around them is what a
fuzzer needs, so this rewrites the ram START body (§9.2) with every stored
block cut to a window of at most N pages (default 2):

- the window starts at the block's first present page (or ends at the
  block's end), and its bits are written back in the file's order (§9.4)
  and rounding (64- or 32-bit longs): the bitmap QEMU would have written
  for a block of those pages;
- used_length, bitmap_offset, pages_offset and the MEM_SIZE total are
  rewritten consistently; page areas start at the next page (or 1 MiB)
  boundary instead of QEMU's 1 MiB one (the reader only warns, §9.5);
- the window's page slots are copied as they are (data, or stale bytes);
- skipped x-ignore-shared blocks (offsets 0,0, §9.7) are copied unchanged;
- everything before the MEM_SIZE word (header, configuration, early-setup
  sections) and after the last block (EOS, footers, PART/END, commands,
  device sections, EOF, vmdesc) is copied byte for byte: the vmdesc holds no
  file offsets, so it stays valid.

The layout (ram START offset, capabilities, each block's bitmap size and
order) comes from `mramfs-info --json`, so the input must open cleanly;
damage a file after shrinking it, not before.
"""
import argparse
import json
import mmap
import os
import struct
import subprocess
import sys

HEADER = 28  # MappedRamHeader (docs/FORMAT.md §9.3)


def find_info():
    here = os.path.dirname(os.path.abspath(__file__))
    top = os.path.dirname(os.path.dirname(here))
    for d in (os.environ.get("MRAMFS_BUILD", ""), "build", "/tmp/h7/build"):
        p = os.path.join(top, d, "tools", "mramfs-info") if d else ""
        if p and os.access(p, os.X_OK):
            return p
    sys.exit("shrink.py: mramfs-info not found; pass --info or set MRAMFS_BUILD")


def bit_byte(order, i):
    """docs/FORMAT.md §9.4: the byte of page i within the bitmap."""
    if order == "be64":
        return 8 * (i // 64) + 7 - (i % 64) // 8
    if order == "be32":
        return 4 * (i // 32) + 3 - (i % 32) // 8
    return i // 8


def layout(info, path, extra):
    out = subprocess.run([info, "--json"] + extra + [path], check=True,
                         stdout=subprocess.PIPE).stdout
    return json.loads(out)


def shrink(data, lay, pages, align):
    order = lay["bitmap_order"]
    ignore_shared = "x-ignore-shared" in lay["capabilities"]
    ram = lay["ram_section_offset"]
    # SECTION_START, be32 id, counted "ram", be32 instance, be32 version.
    mem = ram + 1 + 4 + 1 + data[ram + 5] + 4 + 4
    word, = struct.unpack_from(">Q", data, mem)
    flags = word & 0x3ff
    out = bytearray(data[:mem])
    out += b"\0" * 8  # MEM_SIZE, filled in below
    pos = mem + 8
    total = 0
    for b in lay["ram_blocks"]:
        assert b["desc_offset"] == pos, (b["name"], pos)
        n = data[pos]
        desc_len = 1 + n + 8 + (8 if ignore_shared else 0)
        used, = struct.unpack_from(">Q", data, pos + 1 + n)
        hdr = pos + desc_len
        ver, ps, bitmap_off, pages_off = struct.unpack_from(">IQQQ", data, hdr)
        if not b["stored"]:
            out += data[pos:hdr + HEADER]
            total += used
            pos = hdr + HEADER
            continue
        num = used // ps
        bm = data[bitmap_off:bitmap_off + b["bitmap_size"]]

        def present(i):
            return bm[bit_byte(order, i)] >> (i % 8) & 1

        first = next((i for i in range(num) if present(i)), 0)
        first = max(0, min(first, num - pages))
        keep = min(pages, num - first)
        # A 32-bit host reserves 4-byte longs (§9.4); keep its rounding.
        long_bytes = 8 if b["bitmap_size"] == -(-num // 64) * 8 else 4
        if order == "be32":
            long_bytes = 4
        bm_size = -(-keep // (long_bytes * 8)) * long_bytes
        new_bm = bytearray(bm_size)
        for j in range(keep):
            if present(first + j):
                new_bm[bit_byte(order, j)] |= 1 << (j % 8)
        new_hdr = len(out) + desc_len
        new_bitmap = new_hdr + HEADER + (bitmap_off - (hdr + HEADER))
        a = ps if align == "page" else 0x100000
        new_pages = -(-(new_bitmap + bm_size) // a) * a
        out += data[pos:pos + 1 + n]
        out += struct.pack(">Q", keep * ps)
        if ignore_shared:
            out += data[pos + 1 + n + 8:hdr]
        out += struct.pack(">IQQQ", ver, ps, new_bitmap, new_pages)
        out += data[hdr + HEADER:bitmap_off]  # whatever lay between (none)
        out += new_bm
        out += b"\0" * (new_pages - len(out))
        out += data[pages_off + first * ps:pages_off + (first + keep) * ps]
        total += keep * ps
        pos = pages_off + used
    struct.pack_into(">Q", out, mem, total | flags)
    out += data[pos:]
    return bytes(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages", type=int, default=2,
                    help="pages kept per block (default 2)")
    ap.add_argument("--align", choices=("page", "1M"), default="page")
    ap.add_argument("--info", help="the mramfs-info binary")
    ap.add_argument("--offset", help="passed to mramfs-info --offset")
    ap.add_argument("--bitmap-order", help="passed to mramfs-info")
    ap.add_argument("input")
    ap.add_argument("output")
    a = ap.parse_args()
    extra = []
    if a.offset:
        extra += ["--offset", a.offset]
    if a.bitmap_order:
        extra += ["--bitmap-order", a.bitmap_order]
    lay = layout(a.info or find_info(), a.input, extra)
    with open(a.input, "rb") as f:
        data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        small = shrink(data, lay, a.pages, a.align)
        size = len(data)
    with open(a.output, "wb") as f:
        f.write(small)
    print("%s: %d -> %d bytes" % (a.output, size, len(small)))


if __name__ == "__main__":
    main()
