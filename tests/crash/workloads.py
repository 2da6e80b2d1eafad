"""The workloads of the crash tests, each a function of a crashlib.Client.

Targets come from the base snapshot's own bitmaps (Layout): present pages,
absent pages whose slot is a hole, and absent pages whose slot holds stale
bytes (planted before the mount, docs/FORMAT.md §9.9): a bit set before its
data is synced shows those bytes in a present page.  `scale` is 1 in CI
and larger in the full run.
"""
import json
import mmap
import os
import random
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "interop"))
import qemu_harness as qh  # noqa: E402

import crashlib  # noqa: E402
from crashlib import FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, FALLOC_FL_ZERO_RANGE, now  # noqa: E402

STALE = b"STALE!"


class Layout:
    """Pages of the base's blocks by kind, and where writes may go."""

    def __init__(self, path, main, avoid=()):
        self.ref = {b.name: b for b in qh.read_ram_layout(path).blocks}
        self.main = main          # the block most writes go to
        self.avoid = list(avoid)  # block byte ranges to leave alone
        self.stale = {}           # block -> set of pages planted

    def block(self, name=None):
        return self.ref[name or self.main]

    def ok(self, page, name=None):
        b = self.block(name)
        lo, hi = page * b.page_size, (page + 1) * b.page_size
        return 0 <= page < b.num_pages and not any(a < hi and lo < z for a, z in self.avoid
                                                   if (name or self.main) == self.main)

    def pages(self, kind, name=None):
        b, name = self.block(name), name or self.main
        stale = self.stale.get(name, set())
        out = []
        for p in range(b.num_pages):
            if not self.ok(p, name):
                continue
            k = "present" if b.present(p) else "stale" if p in stale else "absent"
            if k == kind:
                out.append(p)
        return out


def plant_stale(path, layout, name, pages):
    """Stale bytes in the slots of absent pages (before the mount)."""
    b = layout.block(name)
    unit = (STALE * (b.page_size // len(STALE) + 1))[:b.page_size]
    with open(path, "r+b") as f:
        for p in pages:
            assert not b.present(p), (name, p)
            f.seek(b.pages_offset + p * b.page_size)
            f.write(unit)
    layout.stale.setdefault(name, set()).update(pages)


def prepare(path, layout, rng):
    """Plants stale slots in the main block: two whole bitmap words (128
    pages) for the concurrent writers, and scattered pages, some next to
    present ones."""
    b = layout.block()
    absent = set(layout.pages("absent"))
    words = [w for w in range(b.num_pages // 64 - 1)
             if all(p in absent for p in range(w * 64, w * 64 + 128))]
    w = words[len(words) // 2]
    window = list(range(w * 64, w * 64 + 128))
    near = [p for p in sorted(absent) if b.present(p - 1) or
            (p + 1 < b.num_pages and b.present(p + 1))]
    scattered = rng.sample(sorted(absent - set(window)), 40)
    plant_stale(path, layout, layout.main, sorted(set(window + near[:20] + scattered)))
    layout.window = window


def _data(rng, n, zero_share=0.0):
    if rng.random() < zero_share:
        return bytes(n)
    return rng.randbytes(n)


def _target(layout, rng, kinds=("present", "absent", "stale")):
    lists = {k: layout.pages(k) for k in kinds}
    kind = rng.choice([k for k in kinds if lists[k]])
    return kind, rng.choice(lists[kind])


def random_writes(layout, scale, seed):
    """Single writer: random sizes at random places in present, absent and
    stale pages; fsync now and then."""
    def run(c):
        rng = random.Random(seed)
        b = layout.block()
        ps = b.page_size
        for i in range(60 * scale):
            _, p = _target(layout, rng)
            shape = rng.randrange(4)
            if shape == 0:
                off, n = p * ps + rng.randrange(ps - 16), rng.randint(1, 16)
            elif shape == 1:
                off, n = p * ps + rng.randrange(ps // 2), rng.randint(100, 600)
            elif shape == 2:
                off, n = p * ps, ps
            else:
                off, n = p * ps + rng.randrange(ps), rng.randint(2000, 9000)
            n = min(n, b.used_length - off)
            c.pwrite(layout.main, off, _data(rng, n, 0.05))
            if rng.random() < 0.3:
                c.fsync(layout.main)
    return run


def boundaries(layout, small_blocks, scale, seed):
    """Writes across page boundaries (every pairing of present, absent and
    stale), over three pages, at the last page of each block and across
    its end (a short write)."""
    def run(c):
        rng = random.Random(seed)
        b = layout.block()
        ps = b.page_size
        kinds = {p: k for k in ("present", "absent", "stale") for p in layout.pages(k)}
        pairs = {}
        for p in sorted(kinds):
            if p + 1 in kinds:
                pairs.setdefault((kinds[p], kinds[p + 1]), []).append(p)
        for _ in range(scale):
            for key in sorted(pairs):
                p = rng.choice(pairs[key])
                c.pwrite(layout.main, (p + 1) * ps - 0x90, _data(rng, 0x120))
                if rng.random() < 0.5:
                    c.fsync(layout.main)
            p = rng.choice([q for q in kinds if q + 2 in kinds])
            c.pwrite(layout.main, p * ps + 0x800, _data(rng, 2 * ps))
            for name in [layout.main] + list(small_blocks):
                blk = layout.block(name)
                end = blk.used_length
                c.pwrite(name, end - ps, _data(rng, ps))
                c.pwrite(name, end - 0x321, _data(rng, 0x321))
                n = c.pwrite(name, end - 100, _data(rng, 300))
                assert n == 100, "write across the end of %s returned %d" % (name, n)
                c.fsync(name)
    return run


def zeros(layout, scale, seed):
    """Whole zero pages over present pages (punched), absent and stale ones
    (left absent); zeros inside a page; a punched page written again; a
    page made present and then zeroed; fallocate PUNCH_HOLE and ZERO_RANGE
    over runs of mixed pages."""
    def run(c):
        rng = random.Random(seed)
        b = layout.block()
        ps = b.page_size
        for _ in range(4 * scale):
            for kind in ("present", "absent", "stale"):
                _, p = _target(layout, rng, (kind,))
                c.pwrite(layout.main, p * ps, bytes(ps))
            _, p = _target(layout, rng, ("present",))
            c.pwrite(layout.main, p * ps + 0x200, bytes(0x300))
            _, p = _target(layout, rng, ("present",))
            c.pwrite(layout.main, p * ps, bytes(ps))
            c.pwrite(layout.main, p * ps + 0x10, _data(rng, 0x40))
            if rng.random() < 0.5:
                c.fsync(layout.main)
            _, p = _target(layout, rng, ("stale", "absent"))
            c.pwrite(layout.main, p * ps + 0x30, _data(rng, 0x50))
            c.pwrite(layout.main, p * ps, bytes(ps))
            p = rng.randrange(b.num_pages - 8)
            if all(layout.ok(q) for q in range(p, p + 8)):
                mode = rng.choice([FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                                   FALLOC_FL_ZERO_RANGE, FALLOC_FL_ZERO_RANGE |
                                   FALLOC_FL_KEEP_SIZE])
                c.fallocate(layout.main, mode, p * ps + 0x123, 5 * ps)
            c.fsync(layout.main)
    return run


def concurrent(layout, small_blocks, scale, seed, writes=30):
    """Concurrent writers.  The kernel serialises write() and fsync() of one
    FUSE file (inode lock), so daemon-side concurrency inside one block
    comes from mmap: one thread stores into the absent, stale pages of two
    bitmap words through a shared mapping and msyncs (page writeback sends
    WRITEs in parallel); two threads pwrite elsewhere in the block, one
    with fsync after each write, one never; one writes another block."""
    def run(c):
        b = layout.block()
        ps = b.page_size
        window = layout.window
        present = layout.pages("present")
        others = [p for p in layout.pages("absent") + layout.pages("stale")
                  if p not in set(window)]
        errors = []

        def mapper():
            rng = random.Random("%s/map" % seed)
            fd = os.open(c.path(layout.main), os.O_RDWR)
            try:
                m = mmap.mmap(fd, len(window) * ps, mmap.MAP_SHARED,
                              mmap.PROT_READ | mmap.PROT_WRITE,
                              offset=window[0] * ps)
                for _ in range(writes * scale // 4):
                    for p in rng.sample(range(len(window)), 12):
                        off = p * ps + rng.randrange(ps - 64)
                        data = _data(rng, rng.randint(1, 64))
                        t0 = now()
                        m[off:off + len(data)] = data
                        c.stored(layout.main, window[0] * ps + off, data, t0, now())
                    t0 = now()
                    m.flush()
                    c.synced(layout.main, t0, now())
                m.close()
            finally:
                os.close(fd)

        def writer(i):
            rng = random.Random("%s/%d" % (seed, i))
            for _ in range(writes * scale):
                p = rng.choice(present if rng.random() < 0.4 else others)
                off = p * ps + rng.randrange(ps - 256)
                c.pwrite(layout.main, off, _data(rng, rng.randint(1, 256)))
                if i == 0:
                    c.fsync(layout.main)

        def other_block():
            rng = random.Random("%s/rom" % seed)
            for name in small_blocks:
                blk = layout.block(name)
                for _ in range(writes * scale // 2):
                    p = rng.randrange(blk.num_pages)
                    c.pwrite(name, p * blk.page_size + rng.randrange(blk.page_size - 32),
                             _data(rng, 32))
                c.fsync(name)

        def guard(fn, *a):
            try:
                fn(*a)
            except Exception as e:  # noqa: BLE001 - reported by the caller
                errors.append(e)

        threads = [threading.Thread(target=guard, args=(mapper,)),
                   threading.Thread(target=guard, args=(writer, 0)),
                   threading.Thread(target=guard, args=(writer, 1)),
                   threading.Thread(target=guard, args=(other_block,))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
    return run


def superio(layout, scale, seed):
    """Rewrites of superio/pc87312.json (register bytes straight from the
    document), with RAM writes and fsyncs between."""
    def run(c):
        rng = random.Random(seed)
        node = os.path.join(c.mnt, "superio", "pc87312.json")
        with open(node) as f:
            doc = json.load(f)
        regs_off = doc["section"]["registers_offset"]
        b = layout.block()
        ps = b.page_size
        for _ in range(4 * scale):
            want = {"fer": rng.randrange(256), "far": rng.randrange(256),
                    "ptr": rng.randrange(256), "selected_index": rng.randrange(3),
                    "read_id_step": rng.randrange(3)}
            text = json.dumps({"registers": {
                k: ("0x%02x" % v if k in ("fer", "far", "ptr") else v)
                for k, v in want.items()}})
            t0 = now()
            with open(node, "w") as f:
                f.write(text)
            t1 = now()
            with open(node) as f:
                back = json.load(f)["registers"]
            got = {k: int(back[k], 16) if isinstance(back[k], str) else back[k]
                   for k in want}
            assert got == want, "superio/pc87312.json reads %r after writing %r" % (got, want)
            # read_id_step, selected_index, FER, FAR, PTR (docs/FORMAT.md §14.1.1)
            c.raw(regs_off - 2, bytes([want["read_id_step"], want["selected_index"],
                                       want["fer"], want["far"], want["ptr"]]), t0, t1)
            for _ in range(3):
                _, p = _target(layout, rng)
                c.pwrite(layout.main, p * ps + rng.randrange(ps - 64), _data(rng, 64))
            if rng.random() < 0.5:
                c.fsync(layout.main)
    return run
