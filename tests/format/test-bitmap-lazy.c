/* Bitmaps read lazily from a file (mr_bitmap_open): every query agrees with
 * the same bitmap built in memory, a chunk is read once and only when a
 * query needs it, and a chunk that cannot be read fails the bitmap (as a
 * snapshot truncated under a mount does) without any guess being written. */
#include <string.h>

#include "mr-bitmap.h"
#include "mr-error.h"
#include "test-helpers.h"

#define CHUNK_BYTES (MR_BITMAP_CHUNK_WORDS * 8u)

/* The file's bitmap bytes in memory, with a count of reads per chunk and a
 * chunk that refuses to be read. */
typedef struct {
    guint8 *bytes;
    gsize nbytes;
    guint reads[16];
    gint fail_chunk; /* -1: none */
    gint total_reads;
} FakeFile;

static gboolean
fake_read(gpointer data, guint8 *buf, guint64 offset, gsize n, GError **err)
{
    FakeFile *f = data;
    guint64 c = offset / CHUNK_BYTES;

    g_atomic_int_inc(&f->total_reads);
    if (c < G_N_ELEMENTS(f->reads))
        g_atomic_int_inc((gint *)&f->reads[c]);
    if (offset > f->nbytes || n > f->nbytes - offset) {
        mr_set_error(err, MR_ERROR_TRUNCATED, "fake.mig", offset,
                     "read past the bitmap's bytes");
        return FALSE;
    }
    if ((gint)c == f->fail_chunk) {
        mr_set_error(err, MR_ERROR_TRUNCATED, "fake.mig", offset,
                     "bitmap chunk %u cut off", (guint)c);
        return FALSE;
    }
    memcpy(buf, f->bytes + offset, n);
    return TRUE;
}

/* nbits random bits (about one in `density`) in LE order. */
static FakeFile *
fake_new(guint64 nbits, guint density, guint32 seed)
{
    FakeFile *f = g_new0(FakeFile, 1);
    GRand *r = g_rand_new_with_seed(seed);

    f->nbytes = (gsize)mr_bitmap_reserved_bytes(nbits, 64);
    f->bytes = g_malloc0(MAX(f->nbytes, 1));
    for (guint64 i = 0; i < nbits; i++)
        if (g_rand_int_range(r, 0, (gint32)density) == 0)
            f->bytes[i / 8] |= (guint8)(1u << (i % 8));
    f->fail_chunk = -1;
    g_rand_free(r);
    return f;
}

static void
fake_free(FakeFile *f)
{
    g_free(f->bytes);
    g_free(f);
}

static MrBitmap *
open_fake(FakeFile *f, guint64 nbits, guint64 *stray, GError **err)
{
    return mr_bitmap_open(nbits, f->nbytes, MR_BITMAP_LE, fake_read, f, NULL,
                          stray, err);
}

/* 2.5 chunks: opening reads only the last chunk; each later query reads
 * the chunks it crosses, once. */
static void
test_open_reads_only_the_last_chunk_and_queries_read_each_chunk_once(void)
{
    const guint64 nbits = MR_BITMAP_CHUNK_WORDS * 64ull * 5 / 2;
    FakeFile *f = fake_new(nbits, 1000, 1);
    g_autoptr(GError) err = NULL;
    MrBitmap *bm = open_fake(f, nbits, NULL, &err);

    CU_ASSERT_PTR_NOT_NULL_FATAL(bm);
    CU_ASSERT_EQUAL(f->total_reads, 1);
    CU_ASSERT_EQUAL(f->reads[2], 1);
    (void)mr_bitmap_test(bm, 5);
    CU_ASSERT_EQUAL(f->reads[0], 1);
    CU_ASSERT_EQUAL(f->reads[1], 0);
    (void)mr_bitmap_count_range(bm, 0, nbits);
    (void)mr_bitmap_count(bm);
    (void)mr_bitmap_next_clear(bm, 0);
    CU_ASSERT_EQUAL(f->reads[0], 1);
    CU_ASSERT_EQUAL(f->reads[1], 1);
    CU_ASSERT_EQUAL(f->reads[2], 1);
    CU_ASSERT_EQUAL(f->total_reads, 3);
    CU_ASSERT_TRUE(mr_bitmap_ok(bm, NULL));
    mr_bitmap_free(bm);
    fake_free(f);
}

/* A bounded search reads no chunk past its bound, and a run of one
 * request inside a huge absent area reads one chunk, not the bitmap up to
 * the next present page. */
static void
test_bounded_searches_read_no_chunk_past_their_bound(void)
{
    const guint64 cw = MR_BITMAP_CHUNK_WORDS * 64ull, n = cw * 6;
    FakeFile *f = fake_new(n, G_MAXINT32, 11); /* no bit set */
    MrBitmap *bm;

    f->bytes[f->nbytes - 1] = 0x80; /* only the last page present */
    bm = open_fake(f, n, NULL, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(bm);
    MRT_CHECK_U64(mr_bitmap_next_set_before(bm, 10, 300), 300);
    MRT_CHECK_U64(mr_bitmap_next_set_before(bm, cw - 5, cw + 5), cw + 5);
    MRT_CHECK_U64(mr_bitmap_next_clear_before(bm, 3, 9), 3);
    CU_ASSERT_EQUAL(f->reads[0], 1);
    CU_ASSERT_EQUAL(f->reads[1], 1);
    CU_ASSERT_EQUAL(f->reads[2] + f->reads[3] + f->reads[4], 0);
    MRT_CHECK_U64(mr_bitmap_next_set(bm, 0), n - 1);
    CU_ASSERT_EQUAL(f->reads[3], 1);
    mr_bitmap_free(bm);
    fake_free(f);
}

/* Against the eager bitmap of the same bytes, on fresh lazy bitmaps (so
 * that each query is the first to reach its chunks): sparse and dense. */
static void
test_every_query_agrees_with_the_bitmap_built_in_memory(void)
{
    const guint64 sizes[] = { 1, 64, 65, MR_BITMAP_CHUNK_WORDS * 64ull,
                              MR_BITMAP_CHUNK_WORDS * 64ull * 3 + 77 };
    const guint densities[] = { 2, 50000 };

    for (gsize s = 0; s < G_N_ELEMENTS(sizes); s++)
        for (gsize d = 0; d < G_N_ELEMENTS(densities); d++) {
            const guint64 n = sizes[s];
            FakeFile *f = fake_new(n, densities[d], (guint32)(s * 10 + d));
            MrBitmap *ref = mr_bitmap_new_from_file(f->bytes, f->nbytes, n,
                                                    MR_BITMAP_LE, NULL);
            GRand *r = g_rand_new_with_seed((guint32)s);

            for (int k = 0; k < 40; k++) {
                guint64 a = (guint64)g_rand_double_range(r, 0, (double)n);
                guint64 b = a + (guint64)g_rand_int_range(r, 0, 1 << 20);
                MrBitmap *bm = open_fake(f, n, NULL, NULL);
                guint8 w1[8], w2[8];

                switch (k % 6) {
                case 0:
                    CU_ASSERT_EQUAL(mr_bitmap_test(bm, a), mr_bitmap_test(ref, a));
                    break;
                case 1:
                    MRT_CHECK_U64(mr_bitmap_next_set(bm, a), mr_bitmap_next_set(ref, a));
                    break;
                case 2:
                    MRT_CHECK_U64(mr_bitmap_next_clear(bm, a), mr_bitmap_next_clear(ref, a));
                    break;
                case 3:
                    MRT_CHECK_U64(mr_bitmap_count_range(bm, a, b),
                                  mr_bitmap_count_range(ref, a, b));
                    break;
                case 4:
                    MRT_CHECK_U64(mr_bitmap_count(bm), mr_bitmap_count(ref));
                    break;
                case 5:
                    /* A set reads the word's chunk first: the word written
                     * back carries the file's other 63 bits. */
                    CU_ASSERT_EQUAL(mr_bitmap_set(bm, a % n), mr_bitmap_set(ref, a % n));
                    MRT_CHECK_U64(mr_bitmap_file_word(bm, MR_BITMAP_LE, a % n, w1),
                                  mr_bitmap_file_word(ref, MR_BITMAP_LE, a % n, w2));
                    CU_ASSERT_EQUAL(memcmp(w1, w2, 8), 0);
                    MRT_CHECK_U64(mr_bitmap_count(bm), mr_bitmap_count(ref));
                    /* The next fresh bitmap reads the unchanged bytes. */
                    mr_bitmap_free(ref);
                    ref = mr_bitmap_new_from_file(f->bytes, f->nbytes, n,
                                                  MR_BITMAP_LE, NULL);
                    break;
                }
                CU_ASSERT_TRUE(mr_bitmap_ok(bm, NULL));
                mr_bitmap_free(bm);
            }
            g_rand_free(r);
            mr_bitmap_free(ref);
            fake_free(f);
        }
}

/* The tail chunk holds the stray bits: counted at open, as eagerly. */
static void
test_stray_bits_are_counted_at_open(void)
{
    const guint64 n = MR_BITMAP_CHUNK_WORDS * 64ull + 70;
    FakeFile *f = fake_new(n, 3, 7);
    guint64 lazy = 0, eager = 0;
    MrBitmap *bm, *ref;

    f->bytes[f->nbytes - 1] = 0xc0; /* bits 126 and 127 of the last word */
    bm = open_fake(f, n, &lazy, NULL);
    ref = mr_bitmap_new_from_file(f->bytes, f->nbytes, n, MR_BITMAP_LE, &eager);
    MRT_CHECK_U64(lazy, 2);
    MRT_CHECK_U64(lazy, eager);
    CU_ASSERT_FALSE(mr_bitmap_test(bm, n + 56));
    MRT_CHECK_U64(mr_bitmap_count(bm), mr_bitmap_count(ref));
    mr_bitmap_free(bm);
    mr_bitmap_free(ref);
    fake_free(f);
}

/* An unreadable tail fails the open with the reader's error. */
static void
test_unreadable_tail_fails_the_open(void)
{
    const guint64 n = MR_BITMAP_CHUNK_WORDS * 64ull * 2;
    FakeFile *f = fake_new(n, 10, 3);
    g_autoptr(GError) err = NULL;

    f->fail_chunk = 1;
    CU_ASSERT_PTR_NULL(open_fake(f, n, NULL, &err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(err);
    CU_ASSERT_TRUE(g_error_matches(err, MR_ERROR, MR_ERROR_TRUNCATED));
    CU_ASSERT_PTR_NOT_NULL(strstr(err->message, "chunk 1 cut off"));
    fake_free(f);
}

/* A chunk that fails later (the file was cut under the mount): the bitmap
 * is still fine until a query reaches it, then mr_bitmap_ok() fails with
 * the reader's error; its bits read as clear and cannot be set, and the
 * chunks already read keep their bits. */
static void
test_a_chunk_that_fails_later_fails_the_bitmap(void)
{
    const guint64 cw = MR_BITMAP_CHUNK_WORDS * 64ull, n = cw * 3;
    FakeFile *f = fake_new(n, 1, 5); /* every bit set */
    g_autoptr(GError) err = NULL;
    MrBitmap *bm = open_fake(f, n, NULL, NULL);

    CU_ASSERT_PTR_NOT_NULL_FATAL(bm);
    CU_ASSERT_TRUE(mr_bitmap_test(bm, 3));
    f->fail_chunk = 1;
    CU_ASSERT_TRUE(mr_bitmap_ok(bm, NULL));
    MRT_CHECK_U64(mr_bitmap_next_clear(bm, 0), cw);
    CU_ASSERT_FALSE(mr_bitmap_ok(bm, &err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(err);
    CU_ASSERT_PTR_NOT_NULL(strstr(err->message, "chunk 1 cut off"));
    CU_ASSERT_FALSE(mr_bitmap_test(bm, cw + 1));
    CU_ASSERT_FALSE(mr_bitmap_set(bm, cw + 1));
    CU_ASSERT_FALSE(mr_bitmap_test(bm, cw + 1));
    CU_ASSERT_TRUE(mr_bitmap_test(bm, 3));
    MRT_CHECK_U64(mr_bitmap_next_set(bm, cw), 2 * cw);
    CU_ASSERT_FALSE(mr_bitmap_load_all(bm, NULL));
    /* Chunk 1 is not retried: one failure is the answer for good. */
    CU_ASSERT_EQUAL(f->reads[1], 1);
    mr_bitmap_free(bm);
    fake_free(f);
}

typedef struct {
    MrBitmap *bm;
    guint64 nbits;
    guint64 found;
} Scan;

static gpointer
scan_thread(gpointer p)
{
    Scan *s = p;
    guint64 n = 0;

    for (guint64 i = mr_bitmap_next_set(s->bm, 0); i < s->nbits;
         i = mr_bitmap_next_set(s->bm, i + 1))
        n++;
    s->found = n;
    return NULL;
}

/* Threads racing to the same unread chunks read each once and all see
 * every bit. */
static void
test_threads_racing_for_a_chunk_read_it_once(void)
{
    const guint64 n = MR_BITMAP_CHUNK_WORDS * 64ull * 8;
    FakeFile *f = fake_new(n, 100, 9);
    MrBitmap *ref = mr_bitmap_new_from_file(f->bytes, f->nbytes, n, MR_BITMAP_LE, NULL);
    MrBitmap *bm = open_fake(f, n, NULL, NULL);
    Scan s[4];
    GThread *t[4];

    for (int i = 0; i < 4; i++) {
        s[i] = (Scan){ bm, n, 0 };
        t[i] = g_thread_new("scan", scan_thread, &s[i]);
    }
    for (int i = 0; i < 4; i++) {
        g_thread_join(t[i]);
        MRT_CHECK_U64(s[i].found, mr_bitmap_count(ref));
    }
    for (int c = 0; c < 8; c++)
        CU_ASSERT_EQUAL(f->reads[c], 1);
    MRT_CHECK_U64(mr_bitmap_count(bm), mr_bitmap_count(ref));
    mr_bitmap_free(bm);
    mr_bitmap_free(ref);
    fake_free(f);
}

static const MrtTest lazy_tests[] = {
    MRT_TEST(test_open_reads_only_the_last_chunk_and_queries_read_each_chunk_once),
    MRT_TEST(test_every_query_agrees_with_the_bitmap_built_in_memory),
    MRT_TEST(test_bounded_searches_read_no_chunk_past_their_bound),
    MRT_TEST(test_stray_bits_are_counted_at_open),
    MRT_TEST(test_unreadable_tail_fails_the_open),
    MRT_TEST(test_a_chunk_that_fails_later_fails_the_bitmap),
    MRT_TEST(test_threads_racing_for_a_chunk_read_it_once),
    MRT_END,
};

int
main(int argc, char **argv)
{
    static const MrtSuite suites[] = {
        { "bitmaps read lazily", lazy_tests },
        { NULL, NULL },
    };

    return mrt_main(argc, argv, suites);
}
