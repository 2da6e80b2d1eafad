/* cached-folios: how much of a file's cached byte range sits in large
 * folios.  bench/run prints it under row 2c: a re-read from the page cache
 * copies large folios faster than 4 KiB pages, so the share of each side
 * says whether 2c compares like with like.
 *
 *   cached-folios FILE OFFSET LENGTH
 *
 * Prints "PERCENT CACHED_PAGES": the share of the cached pages of the range
 * that belong to a large folio (compound page), and how many pages of the
 * range were cached at all.  It must not read anything in, or it would
 * count its own pages: mincore() on a mapping of the range says which
 * pages are cached, and only those are touched (a read fault on a cached
 * page maps it without I/O); /proc/self/pagemap then gives their frames
 * and /proc/kpageflags their flags.  Needs root (frame numbers are hidden
 * from others). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PM_PRESENT (1ULL << 63)
#define PM_PFN_MASK ((1ULL << 55) - 1)
#define KPF_COMPOUND_HEAD (1ULL << 15)
#define KPF_COMPOUND_TAIL (1ULL << 16)

static int
read_u64(int fd, uint64_t index, uint64_t *out)
{
    ssize_t n = pread(fd, out, sizeof(*out), (off_t)(index * sizeof(*out)));

    return n == (ssize_t)sizeof(*out) ? 0 : -1;
}

int
main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: cached-folios FILE OFFSET LENGTH\n");
        return 2;
    }
    long psz = sysconf(_SC_PAGESIZE);
    uint64_t off = strtoull(argv[2], NULL, 0), len = strtoull(argv[3], NULL, 0);
    if (off % (uint64_t)psz != 0 || len == 0) {
        fprintf(stderr, "cached-folios: OFFSET must be page-aligned, LENGTH > 0\n");
        return 2;
    }
    int fd = open(argv[1], O_RDONLY);
    int pm = open("/proc/self/pagemap", O_RDONLY);
    int kf = open("/proc/kpageflags", O_RDONLY);
    if (fd < 0 || pm < 0 || kf < 0) {
        fprintf(stderr, "cached-folios: %s: %s\n",
                fd < 0 ? argv[1] : "/proc/self/pagemap or /proc/kpageflags",
                strerror(errno));
        return 1;
    }
    uint8_t *map = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, (off_t)off);
    uint64_t npages = (len + (uint64_t)psz - 1) / (uint64_t)psz;
    unsigned char *in_core = malloc(npages);
    if (map == MAP_FAILED || in_core == NULL || mincore(map, len, in_core) != 0) {
        fprintf(stderr, "cached-folios: %s: mmap/mincore: %s\n", argv[1], strerror(errno));
        return 1;
    }
    uint64_t cached = 0, large = 0;
    for (uint64_t i = 0; i < npages; i++) {
        uint64_t e, flags;

        if (!(in_core[i] & 1))
            continue;
        (void)*(volatile uint8_t *)(map + i * (uint64_t)psz);
        if (read_u64(pm, (uintptr_t)map / (uint64_t)psz + i, &e) != 0 ||
            !(e & PM_PRESENT) || (e & PM_PFN_MASK) == 0)
            continue;
        if (read_u64(kf, e & PM_PFN_MASK, &flags) != 0)
            continue;
        cached++;
        if (flags & (KPF_COMPOUND_HEAD | KPF_COMPOUND_TAIL))
            large++;
    }
    printf("%.0f %" PRIu64 "\n", cached ? 100.0 * (double)large / (double)cached : 0.0,
           cached);
    return 0;
}
