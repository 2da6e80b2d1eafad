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
 * and /proc/kpageflags their flags.  Needs root: frame numbers are hidden
 * from others, and a hidden frame is an error, not a page left out.
 * tests/bench/test_cached_folios.py checks it. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define PM_PRESENT (1ULL << 63)
#define PM_PFN_MASK ((1ULL << 55) - 1)
#define KPF_COMPOUND_HEAD (1ULL << 15)
#define KPF_COMPOUND_TAIL (1ULL << 16)
/* pagemap entries read per pread: 16 MiB of the range. */
#define PM_CHUNK 4096

static int
fail(const char *what, const char *how)
{
    fprintf(stderr, "cached-folios: %s: %s\n", what, how);
    return 1;
}

static int
parse_u64(const char *s, uint64_t *out)
{
    char *end;

    errno = 0;
    *out = strtoull(s, &end, 0);
    return errno == 0 && end != s && *end == '\0' && s[0] != '-' ? 0 : -1;
}

/* Counts the cached pages of the mapped range, and those in large folios.
 * Returns NULL, or what failed (*where says in which file). */
static const char *
count_range(const uint8_t *map, uint64_t len, uint64_t psz, int pm, int kf,
            uint64_t *cached, uint64_t *large, const char **where)
{
    static uint64_t entries[PM_CHUNK];
    uint64_t npages = (len + psz - 1) / psz;
    unsigned char *in_core = malloc(npages);
    const char *err = NULL;

    *cached = *large = 0;
    if (in_core == NULL)
        return "out of memory";
    if (mincore((void *)map, len, in_core) != 0) {
        free(in_core);
        return strerror(errno);
    }
    for (uint64_t first = 0; first < npages && err == NULL; first += PM_CHUNK) {
        uint64_t n = npages - first < PM_CHUNK ? npages - first : PM_CHUNK;

        for (uint64_t i = first; i < first + n; i++)
            if (in_core[i] & 1)
                (void)*(volatile const uint8_t *)(map + i * psz);
        off_t at = (off_t)(((uintptr_t)map / psz + first) * sizeof(entries[0]));
        if (pread(pm, entries, n * sizeof(entries[0]), at) != (ssize_t)(n * sizeof(entries[0]))) {
            *where = "/proc/self/pagemap";
            err = "short read";
        }
        for (uint64_t i = 0; i < n && err == NULL; i++) {
            uint64_t e = entries[i], flags;

            /* Evicted again since the touch: not counted. */
            if (!(in_core[first + i] & 1) || !(e & PM_PRESENT))
                continue;
            if ((e & PM_PFN_MASK) == 0) {
                *where = "/proc/self/pagemap";
                err = "frame numbers hidden (run as root)";
            } else if (pread(kf, &flags, sizeof(flags),
                             (off_t)((e & PM_PFN_MASK) * sizeof(flags))) != (ssize_t)sizeof(flags)) {
                *where = "/proc/kpageflags";
                err = "short read";
            } else {
                ++*cached;
                if (flags & (KPF_COMPOUND_HEAD | KPF_COMPOUND_TAIL))
                    ++*large;
            }
        }
    }
    free(in_core);
    return err;
}

int
main(int argc, char **argv)
{
    uint64_t psz = (uint64_t)sysconf(_SC_PAGESIZE), off, len;

    if (argc != 4 || parse_u64(argv[2], &off) != 0 || parse_u64(argv[3], &len) != 0) {
        fprintf(stderr, "usage: cached-folios FILE OFFSET LENGTH\n");
        return 2;
    }
    if (off % psz != 0 || len == 0) {
        fprintf(stderr, "cached-folios: OFFSET must be a multiple of %" PRIu64
                ", LENGTH more than 0\n", psz);
        return 2;
    }
    int fd = open(argv[1], O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0)
        return fail(argv[1], strerror(errno));
    /* A page past the end would fault with SIGBUS, not read as uncached. */
    if (off > (uint64_t)st.st_size || len > (uint64_t)st.st_size - off)
        return fail(argv[1], "range past the end of the file");
    int pm = open("/proc/self/pagemap", O_RDONLY);
    if (pm < 0)
        return fail("/proc/self/pagemap", strerror(errno));
    int kf = open("/proc/kpageflags", O_RDONLY);
    if (kf < 0)
        return fail("/proc/kpageflags", strerror(errno));
    uint8_t *map = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, (off_t)off);
    if (map == MAP_FAILED)
        return fail(argv[1], strerror(errno));

    uint64_t cached, large;
    const char *where = argv[1];
    const char *err = count_range(map, len, psz, pm, kf, &cached, &large, &where);
    munmap(map, len);
    if (err != NULL)
        return fail(where, err);
    printf("%.0f %" PRIu64 "\n", cached ? 100.0 * (double)large / (double)cached : 0.0,
           cached);
    return 0;
}
