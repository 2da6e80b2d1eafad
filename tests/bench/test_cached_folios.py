#!/usr/bin/env python3
"""bench/cached-folios, the helper behind bench/run's note on row 2c: it
counts exactly the cached pages of a range, never reads pages in itself,
works on a file of a mramfs mount, and refuses bad arguments.

Which folios the kernel uses is its choice (this VM's FUSE caches 4 KiB
pages only, ext4 mostly large folios), so the share is checked where the
test chooses it: files on tmpfs mounted with huge=always (2 MiB folios,
where the kernel has shmem THP) and huge=never.

Usage: test_cached_folios.py --folios F --mount M --synth S --workdir D
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fs"))
import mountlib  # noqa: E402
from mountlib import mounted, synth, tmpfs  # noqa: E402

PS = 4096
FOLIOS = None
# On the build dir's file system, not a tmpfs: a tmpfs cannot drop a
# file's pages, and the cases start from an uncached file.
TMP = None


def run_folios(path, off, length, status=0):
    """(percent in large folios, cached pages), or stderr when status != 0."""
    r = subprocess.run([FOLIOS, path, str(off), str(length)], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == status, (r.returncode, r.stdout, r.stderr)
    if status != 0:
        return r.stderr
    pct, cached = (int(v) for v in r.stdout.split())
    assert 0 <= pct <= 100, r.stdout
    return pct, cached


def folios(path, off, length, status=0):
    """The cached pages, or stderr when status != 0."""
    out = run_folios(path, off, length, status)
    return out if status != 0 else out[1]


def read_pages(path, pages):
    """Reads exactly these pages into the cache: FADV_RANDOM turns read-ahead
    off for the descriptor."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
        for p in pages:
            assert len(os.pread(fd, PS, p * PS)) == PS
    finally:
        os.close(fd)


def test_counts_the_cached_pages_of_a_local_file_without_reading_any():
    path = os.path.join(TMP, "local.bin")
    with open(path, "wb") as f:
        f.write(os.urandom(64 * PS))
        f.flush()
        os.fsync(f.fileno())
        os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
    assert folios(path, 0, 64 * PS) == 0
    read_pages(path, [3, 10, 11, 40])
    assert folios(path, 0, 64 * PS) == 4
    # It read nothing in: counting again finds the same.
    assert folios(path, 0, 64 * PS) == 4
    # Only the range counts, and a partial last page is a page.
    assert folios(path, 8 * PS, 8 * PS) == 2
    assert folios(path, 11 * PS, 1) == 1
    assert folios(path, 12 * PS, 28 * PS) == 0


def test_counts_the_cached_pages_of_a_mounted_block():
    snap = os.path.join(TMP, "synth.mig")
    synth({"blocks": [{"name": "pc.ram", "size": 4 << 20,
                       "present": [[0, 8], [100, 4]]}]}, snap)
    with mounted(snap, ["-o", "ro"]) as mnt:
        ram = os.path.join(mnt, "ram", "pc.ram")
        assert folios(ram, 0, 4 << 20) == 0
        read_pages(ram, [1, 101, 500])  # present, present, absent
        assert folios(ram, 0, 4 << 20) == 3
        assert folios(ram, 100 * PS, 2 * PS) == 1


def shmem_thp():
    try:
        with open("/sys/kernel/mm/transparent_hugepage/shmem_enabled") as f:
            return "[deny]" not in f.read()
    except OSError:
        return False


def test_share_in_large_folios_on_tmpfs_huge_always_and_never():
    for huge in ("always", "never"):
        with tmpfs(TMP, "huge=%s,size=16m" % huge) as d:
            path = os.path.join(d, "f")
            with open(path, "wb") as f:
                f.write(os.urandom(4 << 20))
            pct, cached = run_folios(path, 0, 4 << 20)
            # tmpfs pages are the file: all of them are in memory.
            assert cached == (4 << 20) // PS, cached
            if huge == "never":
                assert pct == 0, pct
            elif shmem_thp():
                # 2 MiB folios unless the allocation failed: never none.
                assert pct > 0, pct


def test_bad_arguments_are_refused():
    path = os.path.join(TMP, "small.bin")
    with open(path, "wb") as f:
        f.write(bytes(8 * PS))
    for args in (["12x", "4096"], ["0", "-1"], ["0"], ["", "4096"]):
        r = subprocess.run([FOLIOS, path] + args, capture_output=True, text=True, timeout=60)
        assert r.returncode == 2 and "usage: cached-folios" in r.stderr, (args, r)
    assert "OFFSET must be a multiple of" in folios(path, 100, PS, status=2)
    assert "LENGTH more than 0" in folios(path, 0, 0, status=2)
    err = folios(path, 4 * PS, 5 * PS, status=1)
    assert err.startswith("cached-folios: %s: range past the end" % path), err
    missing = os.path.join(TMP, "missing.bin")
    err = folios(missing, 0, PS, status=1)
    assert err.startswith("cached-folios: %s: No such file" % missing), err


def main():
    return mountlib.main(globals(), tools=("folios", "mount", "synth"),
                         options=[("workdir", "where the scratch directory goes")],
                         prefix="cached-folios-", tmp_in="workdir")



if __name__ == "__main__":
    sys.exit(main())
