/* The present-page bitmap (mr-bitmap.h): queries on edge sizes, the three
 * file orders of docs/FORMAT.md §9.4 checked against bytes built here from the
 * spec's formulas, stray bits, and random bitmaps against a per-bit model. */
#include <string.h>

#include "mr-bitmap.h"
#include "test-helpers.h"

static unsigned
spec_long_bits(MrBitmapOrder order)
{
    return order == MR_BITMAP_BE32 ? 32 : 64;
}

/* The bytes a host of that order reserves and writes for the set bits. */
static guint8 *
spec_file_bytes(MrBitmapOrder order, unsigned long_bits, guint64 nbits,
                const gboolean *set, gsize *nbytes)
{
    gsize longs = (gsize)((nbits + long_bits - 1) / long_bits);
    guint8 *bytes;

    *nbytes = longs * (long_bits / 8);
    bytes = g_malloc0(MAX(*nbytes, 1));
    for (guint64 i = 0; i < nbits; i++)
        if (set[i])
            bytes[mrt_spec_bitmap_byte(order, i)] |= (guint8)(1u << (i % 8));
    return bytes;
}

static MrBitmap *
bitmap_with(guint64 nbits, const guint64 *bits, gsize n)
{
    MrBitmap *bm = mr_bitmap_new(nbits);

    for (gsize i = 0; i < n; i++)
        mr_bitmap_set(bm, bits[i]);
    return bm;
}

static void
test_zero_bit_bitmap_has_no_set_or_clear_bit(void)
{
    MrBitmap *bm = mr_bitmap_new(0);

    CU_ASSERT_FALSE(mr_bitmap_test(bm, 0));
    MRT_CHECK_U64(mr_bitmap_next_set(bm, 0), 0);
    MRT_CHECK_U64(mr_bitmap_next_clear(bm, 0), 0);
    MRT_CHECK_U64(mr_bitmap_count(bm), 0);
    MRT_CHECK_U64(mr_bitmap_count_range(bm, 0, 100), 0);
    mr_bitmap_free(bm);
}

static void
test_one_bit_bitmap_sets_clears_and_reports_previous_value(void)
{
    MrBitmap *bm = mr_bitmap_new(1);

    MRT_CHECK_U64(mr_bitmap_next_set(bm, 0), 1);
    MRT_CHECK_U64(mr_bitmap_next_clear(bm, 0), 0);
    CU_ASSERT_FALSE(mr_bitmap_set(bm, 0));
    CU_ASSERT_TRUE(mr_bitmap_set(bm, 0));
    CU_ASSERT_TRUE(mr_bitmap_test(bm, 0));
    MRT_CHECK_U64(mr_bitmap_next_set(bm, 0), 0);
    MRT_CHECK_U64(mr_bitmap_next_clear(bm, 0), 1);
    MRT_CHECK_U64(mr_bitmap_count(bm), 1);
    CU_ASSERT_TRUE(mr_bitmap_clear(bm, 0));
    CU_ASSERT_FALSE(mr_bitmap_clear(bm, 0));
    CU_ASSERT_FALSE(mr_bitmap_test(bm, 0));
    MRT_CHECK_U64(mr_bitmap_count(bm), 0);
    mr_bitmap_free(bm);
}

/* 63, 64 and 65 bits: the last word partly used, exactly full, one bit into
 * a second word.  next_clear of a full bitmap must stop at nbits, not at
 * the unused zero bits of the last word. */
static void
test_full_and_empty_bitmaps_around_one_word(void)
{
    static const guint64 sizes[] = { 63, 64, 65, 127, 128, 129 };

    for (gsize k = 0; k < G_N_ELEMENTS(sizes); k++) {
        guint64 n = sizes[k];
        MrBitmap *bm = mr_bitmap_new(n);

        MRT_CHECK(mr_bitmap_next_set(bm, 0) == n, "empty %" G_GUINT64_FORMAT
                  ": next_set(0) == nbits", n);
        MRT_CHECK(mr_bitmap_next_clear(bm, n - 1) == n - 1,
                  "empty %" G_GUINT64_FORMAT ": next_clear(last)", n);
        MRT_CHECK(mr_bitmap_count(bm) == 0, "empty count");
        for (guint64 i = 0; i < n; i++)
            mr_bitmap_set(bm, i);
        MRT_CHECK(mr_bitmap_next_clear(bm, 0) == n, "full %" G_GUINT64_FORMAT
                  ": next_clear(0) == nbits", n);
        MRT_CHECK(mr_bitmap_next_set(bm, n - 1) == n - 1,
                  "full %" G_GUINT64_FORMAT ": next_set(last)", n);
        MRT_CHECK(mr_bitmap_count(bm) == n, "full %" G_GUINT64_FORMAT
                  ": count", n);
        MRT_CHECK(mr_bitmap_count_range(bm, 1, n - 1) == n - 2,
                  "full %" G_GUINT64_FORMAT ": count_range(1, n-1)", n);
        MRT_CHECK(mr_bitmap_count_range(bm, 63, 65) == MIN(n, 65) - 63,
                  "full %" G_GUINT64_FORMAT ": count_range across the word "
                  "boundary", n);
        mr_bitmap_free(bm);
    }
}

static void
test_runs_crossing_word_boundaries_are_found_whole(void)
{
    static const guint64 bits[] = { 60, 61, 62, 63, 64, 65, 66, 67, 68, 69,
                                    127, 128, 190, 191, 192, 193, 194, 195,
                                    196, 197, 198, 199 };
    MrBitmap *bm = bitmap_with(200, bits, G_N_ELEMENTS(bits));

    MRT_CHECK_U64(mr_bitmap_next_set(bm, 0), 60);
    MRT_CHECK_U64(mr_bitmap_next_clear(bm, 60), 70);
    MRT_CHECK_U64(mr_bitmap_next_set(bm, 70), 127);
    MRT_CHECK_U64(mr_bitmap_next_clear(bm, 127), 129);
    MRT_CHECK_U64(mr_bitmap_next_set(bm, 129), 190);
    MRT_CHECK_U64(mr_bitmap_next_clear(bm, 190), 200);
    MRT_CHECK_U64(mr_bitmap_next_set(bm, 200), 200);
    MRT_CHECK_U64(mr_bitmap_count(bm), 22);
    MRT_CHECK_U64(mr_bitmap_count_range(bm, 61, 128), 10);
    MRT_CHECK_U64(mr_bitmap_count_range(bm, 64, 64), 0);
    MRT_CHECK_U64(mr_bitmap_count_range(bm, 64, 65), 1);
    MRT_CHECK_U64(mr_bitmap_count_range(bm, 128, 192), 3);
    mr_bitmap_free(bm);
}

static void
test_queries_from_past_the_end_return_nbits_or_nothing(void)
{
    static const guint64 bits[] = { 0, 64, 99 };
    MrBitmap *bm = bitmap_with(100, bits, G_N_ELEMENTS(bits));

    MRT_CHECK_U64(mr_bitmap_next_set(bm, 100), 100);
    MRT_CHECK_U64(mr_bitmap_next_clear(bm, 100), 100);
    MRT_CHECK_U64(mr_bitmap_next_set(bm, 1000), 100);
    MRT_CHECK_U64(mr_bitmap_next_set(bm, G_MAXUINT64), 100);
    MRT_CHECK_U64(mr_bitmap_next_clear(bm, G_MAXUINT64), 100);
    CU_ASSERT_FALSE(mr_bitmap_test(bm, 100));
    CU_ASSERT_FALSE(mr_bitmap_test(bm, G_MAXUINT64));
    MRT_CHECK_U64(mr_bitmap_count_range(bm, 50, 10), 0);
    MRT_CHECK_U64(mr_bitmap_count_range(bm, 99, G_MAXUINT64), 1);
    MRT_CHECK_U64(mr_bitmap_count_range(bm, 100, G_MAXUINT64), 0);
    mr_bitmap_free(bm);
}

static void
test_next_set_and_next_clear_match_a_per_bit_model(void)
{
    g_autoptr(GRand) r = g_rand_new_with_seed(0x6d72);

    for (int round = 0; round < 300; round++) {
        guint64 n = (guint64)g_rand_int_range(r, 0, 400);
        /* Sparse, dense and half-full bitmaps. */
        double density = (round % 3 == 0) ? 0.03 : (round % 3 == 1) ? 0.97 : 0.5;
        g_autofree gboolean *model = g_new0(gboolean, n + 1);
        MrBitmap *bm = mr_bitmap_new(n);
        guint64 count = 0;
        gboolean ok = TRUE;

        for (guint64 i = 0; i < n; i++) {
            model[i] = g_rand_double(r) < density;
            if (model[i]) {
                mr_bitmap_set(bm, i);
                count++;
            }
        }
        guint64 bad_from = 0;
        for (guint64 from = 0; from <= n + 2 && ok; from++) {
            guint64 want_set = n, want_clear = n;
            for (guint64 i = from; i < n; i++)
                if (model[i]) {
                    want_set = i;
                    break;
                }
            for (guint64 i = from; i < n; i++)
                if (!model[i]) {
                    want_clear = i;
                    break;
                }
            if (from < n && mr_bitmap_test(bm, from) != model[from])
                ok = FALSE;
            if (mr_bitmap_next_set(bm, from) != want_set ||
                mr_bitmap_next_clear(bm, from) != want_clear)
                ok = FALSE;
            bad_from = from;
        }
        MRT_CHECK(ok, "round %d, nbits %" G_GUINT64_FORMAT ": test/next_set/"
                  "next_clear agree with the model for every start (first "
                  "difference at %" G_GUINT64_FORMAT ")", round, n, bad_from);
        MRT_CHECK(mr_bitmap_count(bm) == count, "round %d: count", round);
        for (int k = 0; k < 20 && n > 0 && ok; k++) {
            guint64 a = (guint64)g_rand_int_range(r, 0, (gint32)n + 3);
            guint64 b = (guint64)g_rand_int_range(r, 0, (gint32)n + 3);
            guint64 want = 0;
            for (guint64 i = a; i < MIN(b, n); i++)
                want += model[i];
            ok = mr_bitmap_count_range(bm, a, b) == want;
            MRT_CHECK(ok, "round %d: count_range(%" G_GUINT64_FORMAT ", %"
                      G_GUINT64_FORMAT ") == %" G_GUINT64_FORMAT, round, a, b,
                      want);
            /* Bounded searches: the first such bit in [a, min(b, n)), or
             * min(b, n). */
            guint64 to = MIN(b, n), ws = to, wc = to;
            for (guint64 i = a; i < to && ws == to; i++)
                if (model[i])
                    ws = i;
            for (guint64 i = a; i < to && wc == to; i++)
                if (!model[i])
                    wc = i;
            if (a >= to)
                ws = wc = to;
            MRT_CHECK_U64(mr_bitmap_next_set_before(bm, a, b), ws);
            MRT_CHECK_U64(mr_bitmap_next_clear_before(bm, a, b), wc);
        }
        mr_bitmap_free(bm);
    }
}

/* Random bits in file bytes built from the §9.4 formula for one order; the
 * in-memory bitmap must hold exactly those bits and report no stray bit. */
static void
check_order_against_formula(MrBitmapOrder order, unsigned long_bits)
{
    static const guint64 sizes[] = { 1, 7, 8, 31, 32, 33, 63, 64, 65, 96,
                                     130, 1000 };
    g_autoptr(GRand) r = g_rand_new_with_seed(order * 100 + long_bits);

    for (gsize k = 0; k < G_N_ELEMENTS(sizes); k++) {
        guint64 n = sizes[k], stray = 99;
        g_autofree gboolean *set = g_new0(gboolean, n);
        g_autofree guint8 *bytes = NULL;
        gsize nbytes;
        MrBitmap *bm;
        guint64 wrong = 0, count = 0;

        for (guint64 i = 0; i < n; i++)
            set[i] = g_rand_boolean(r);
        set[n - 1] = TRUE; /* the last bit is where orders differ most */
        for (guint64 i = 0; i < n; i++)
            count += set[i];
        bytes = spec_file_bytes(order, long_bits, n, set, &nbytes);
        MRT_CHECK(nbytes == mr_bitmap_reserved_bytes(n, long_bits),
                  "reserved bytes for %" G_GUINT64_FORMAT " bits", n);
        bm = mr_bitmap_new_from_file(bytes, nbytes, n, order, &stray);
        for (guint64 i = 0; i < n; i++)
            if (mr_bitmap_test(bm, i) != set[i])
                wrong++;
        MRT_CHECK(wrong == 0, "order %s/%u, %" G_GUINT64_FORMAT " bits: %"
                  G_GUINT64_FORMAT " bits differ from the formula",
                  mr_bitmap_order_name(order), long_bits, n, wrong);
        MRT_CHECK(stray == 0, "order %s, %" G_GUINT64_FORMAT " bits: no stray",
                  mr_bitmap_order_name(order), n);
        MRT_CHECK(mr_bitmap_count(bm) == count, "count");
        mr_bitmap_free(bm);
    }
}

static void
test_le_file_bytes_follow_the_formula(void)
{
    check_order_against_formula(MR_BITMAP_LE, 64);
}

static void
test_le_32bit_host_file_bytes_follow_the_formula(void)
{
    /* A 32-bit LE host has the same bit positions, fewer reserved bytes. */
    check_order_against_formula(MR_BITMAP_LE, 32);
}

static void
test_be64_file_bytes_follow_the_formula(void)
{
    check_order_against_formula(MR_BITMAP_BE64, 64);
}

static void
test_be32_file_bytes_follow_the_formula(void)
{
    check_order_against_formula(MR_BITMAP_BE32, 32);
}

/* Known bytes, not only random ones: page 0 and page 9 of each order. */
static void
test_known_bytes_of_each_order(void)
{
    guint8 le[8] = { 0x01, 0x02 }, be64[8] = { 0, 0, 0, 0, 0, 0, 0x02, 0x01 };
    guint8 be32[8] = { 0, 0, 0x02, 0x01, 0x80, 0, 0, 0 };
    MrBitmap *a = mr_bitmap_new_from_file(le, 8, 64, MR_BITMAP_LE, NULL);
    MrBitmap *b = mr_bitmap_new_from_file(be64, 8, 64, MR_BITMAP_BE64, NULL);
    MrBitmap *c = mr_bitmap_new_from_file(be32, 8, 64, MR_BITMAP_BE32, NULL);

    for (guint64 i = 0; i < 64; i++) {
        gboolean want = i == 0 || i == 9;
        MRT_CHECK(mr_bitmap_test(a, i) == want, "le bit %" G_GUINT64_FORMAT, i);
        MRT_CHECK(mr_bitmap_test(b, i) == want, "be64 bit %" G_GUINT64_FORMAT, i);
        /* be32 byte 4 bit 7 is page 32 + 24 + 7 = 63. */
        MRT_CHECK(mr_bitmap_test(c, i) == (want || i == 63),
                  "be32 bit %" G_GUINT64_FORMAT, i);
    }
    mr_bitmap_free(a);
    mr_bitmap_free(b);
    mr_bitmap_free(c);
}

static void
test_stray_bits_beyond_nbits_are_cleared_and_counted(void)
{
    guint8 ones[16];
    guint64 stray = 0;
    MrBitmap *bm;

    memset(ones, 0xff, sizeof(ones));
    /* 10 pages in one 64-bit long: 54 stray bits in the long. */
    bm = mr_bitmap_new_from_file(ones, 8, 10, MR_BITMAP_LE, &stray);
    MRT_CHECK_U64(stray, 54);
    MRT_CHECK_U64(mr_bitmap_count(bm), 10);
    MRT_CHECK_U64(mr_bitmap_next_set(bm, 10), 10);
    MRT_CHECK_U64(mr_bitmap_next_clear(bm, 0), 10);
    mr_bitmap_free(bm);
    /* Bytes past the last word of nbits count too. */
    bm = mr_bitmap_new_from_file(ones, 16, 64, MR_BITMAP_LE, &stray);
    MRT_CHECK_U64(stray, 64);
    MRT_CHECK_U64(mr_bitmap_count(bm), 64);
    mr_bitmap_free(bm);
    /* BE64: the stray bits of 60 pages are 60..63, in byte 0 bits 4-7. */
    {
        guint8 b[8] = { 0xf0, 0, 0, 0, 0, 0, 0, 0x01 };
        bm = mr_bitmap_new_from_file(b, 8, 60, MR_BITMAP_BE64, &stray);
        MRT_CHECK_U64(stray, 4);
        MRT_CHECK_U64(mr_bitmap_count(bm), 1);
        CU_ASSERT_TRUE(mr_bitmap_test(bm, 0));
        mr_bitmap_free(bm);
    }
    /* BE32: 40 pages; the 2nd long holds pages 32..63 with its last byte
     * (byte 7) for pages 32..39, so bytes 4..6 are pages 40..63: stray. */
    {
        guint8 b[8] = { 0, 0, 0, 0, 0xff, 0xff, 0xff, 0x80 };
        bm = mr_bitmap_new_from_file(b, 8, 40, MR_BITMAP_BE32, &stray);
        MRT_CHECK_U64(stray, 24);
        MRT_CHECK_U64(mr_bitmap_count(bm), 1);
        CU_ASSERT_TRUE(mr_bitmap_test(bm, 39));
        CU_ASSERT_FALSE(mr_bitmap_test(bm, 32));
        mr_bitmap_free(bm);
    }
    /* No pages at all: every set bit is stray. */
    bm = mr_bitmap_new_from_file(ones, 8, 0, MR_BITMAP_LE, &stray);
    MRT_CHECK_U64(stray, 64);
    MRT_CHECK_U64(mr_bitmap_count(bm), 0);
    mr_bitmap_free(bm);
}

static void
test_short_32bit_host_bitmap_reads_missing_bytes_as_zero(void)
{
    guint8 b[4] = { 0, 0, 0x08, 0 }; /* page 19 */
    guint64 stray = 1;
    MrBitmap *bm = mr_bitmap_new_from_file(b, 4, 20, MR_BITMAP_LE, &stray);

    CU_ASSERT_TRUE(mr_bitmap_test(bm, 19));
    MRT_CHECK_U64(mr_bitmap_count(bm), 1);
    MRT_CHECK_U64(stray, 0);
    mr_bitmap_free(bm);
}

static void
test_file_position_matches_the_formula(void)
{
    static const MrBitmapOrder orders[] = { MR_BITMAP_LE, MR_BITMAP_BE64,
                                            MR_BITMAP_BE32 };

    for (gsize o = 0; o < G_N_ELEMENTS(orders); o++) {
        guint64 wrong = 0;
        for (guint64 i = 0; i < 300; i++) {
            guint64 byte = 0;
            guint8 mask = 0;
            mr_bitmap_file_position(orders[o], i, &byte, &mask);
            if (byte != mrt_spec_bitmap_byte(orders[o], i) || mask != (1u << (i % 8)))
                wrong++;
        }
        MRT_CHECK(wrong == 0, "order %s: %" G_GUINT64_FORMAT " positions "
                  "differ from docs/FORMAT.md §9.4", mr_bitmap_order_name(orders[o]),
                  wrong);
    }
}

/* The write path stores a whole long back with mr_bitmap_file_word: its
 * bytes must be the file's bytes of that long, so that reading them back
 * gives the same bitmap and each bit sits where file_position says. */
static void
test_file_word_round_trips_through_new_from_file(void)
{
    static const MrBitmapOrder orders[] = { MR_BITMAP_LE, MR_BITMAP_BE64,
                                            MR_BITMAP_BE32 };
    g_autoptr(GRand) r = g_rand_new_with_seed(42);
    const guint64 n = 333;

    for (gsize o = 0; o < G_N_ELEMENTS(orders); o++) {
        MrBitmap *bm = mr_bitmap_new(n), *back;
        gsize nbytes = (gsize)((n + 63) / 64 * 8);
        g_autofree guint8 *bytes = g_malloc0(nbytes);
        g_autofree gboolean *set = g_new0(gboolean, n);
        guint64 wrong = 0, stray = 1;

        for (guint64 i = 0; i < n; i++)
            if (g_rand_boolean(r))
                mr_bitmap_set(bm, i);
        for (guint64 i = 0; i < n; i += 64) {
            guint8 word[8];
            guint64 start = mr_bitmap_file_word(bm, orders[o], i, word);
            MRT_CHECK(start == i / 8, "file_word(%" G_GUINT64_FORMAT ") starts "
                      "at byte %" G_GUINT64_FORMAT, i, start);
            memcpy(bytes + start, word, 8);
        }
        for (guint64 i = 0; i < n; i++) {
            guint64 byte;
            guint8 mask;
            set[i] = mr_bitmap_test(bm, i);
            mr_bitmap_file_position(orders[o], i, &byte, &mask);
            if (((bytes[byte] & mask) != 0) != set[i] ||
                byte != mrt_spec_bitmap_byte(orders[o], i))
                wrong++;
        }
        MRT_CHECK(wrong == 0, "order %s: file_word bytes disagree with "
                  "file_position for %" G_GUINT64_FORMAT " bits",
                  mr_bitmap_order_name(orders[o]), wrong);
        back = mr_bitmap_new_from_file(bytes, nbytes, n, orders[o], &stray);
        wrong = 0;
        for (guint64 i = 0; i < n; i++)
            if (mr_bitmap_test(back, i) != set[i])
                wrong++;
        MRT_CHECK(wrong == 0 && stray == 0, "order %s: round trip differs in %"
                  G_GUINT64_FORMAT " bits", mr_bitmap_order_name(orders[o]),
                  wrong);
        /* The spec's own bytes for the same bits are the same bytes. */
        {
            gsize sn;
            g_autofree guint8 *spec = spec_file_bytes(orders[o],
                                                      spec_long_bits(orders[o]),
                                                      n, set, &sn);
            MRT_CHECK(sn <= nbytes && memcmp(spec, bytes, sn) == 0,
                      "order %s: file_word bytes equal the §9.4 bytes",
                      mr_bitmap_order_name(orders[o]));
        }
        mr_bitmap_free(back);
        mr_bitmap_free(bm);
    }
}

static void
test_reserved_bytes_round_up_to_whole_longs(void)
{
    MRT_CHECK_U64(mr_bitmap_reserved_bytes(0, 64), 0);
    MRT_CHECK_U64(mr_bitmap_reserved_bytes(1, 64), 8);
    MRT_CHECK_U64(mr_bitmap_reserved_bytes(64, 64), 8);
    MRT_CHECK_U64(mr_bitmap_reserved_bytes(65, 64), 16);
    MRT_CHECK_U64(mr_bitmap_reserved_bytes(8192, 64), 1024); /* 40p simm.0 */
    MRT_CHECK_U64(mr_bitmap_reserved_bytes(1, 32), 4);
    MRT_CHECK_U64(mr_bitmap_reserved_bytes(32, 32), 4);
    MRT_CHECK_U64(mr_bitmap_reserved_bytes(33, 32), 8);
    MRT_CHECK_U64(mr_bitmap_reserved_bytes(65, 32), 12);
}

static void
test_order_names_parse_back(void)
{
    static const MrBitmapOrder orders[] = { MR_BITMAP_LE, MR_BITMAP_BE64,
                                            MR_BITMAP_BE32 };
    MrBitmapOrder o;

    for (gsize i = 0; i < G_N_ELEMENTS(orders); i++) {
        o = 99;
        CU_ASSERT_TRUE(mr_bitmap_order_parse(mr_bitmap_order_name(orders[i]), &o));
        CU_ASSERT_EQUAL(o, orders[i]);
    }
    CU_ASSERT_TRUE(mr_bitmap_order_parse("big", &o));
    CU_ASSERT_EQUAL(o, MR_BITMAP_BE64);
    CU_ASSERT_TRUE(mr_bitmap_order_parse("little", &o));
    CU_ASSERT_EQUAL(o, MR_BITMAP_LE);
    CU_ASSERT_FALSE(mr_bitmap_order_parse("middle", &o));
    CU_ASSERT_FALSE(mr_bitmap_order_parse("", &o));
}

/* The kept count follows every set and clear, repeated or not, and the
 * count of a bitmap read from a file, from any threads' mix of calls. */
static void
test_count_is_kept_through_sets_and_clears(void)
{
    const guint64 n = 1000;
    MrBitmap *bm = mr_bitmap_new(n);
    GRand *r = g_rand_new_with_seed(42);
    guint8 bytes[16] = { 0xff, 0x01, 0, 0, 0, 0, 0, 0x80, 0x0f };
    gboolean model[1000] = { FALSE };
    guint64 want = 0;

    for (guint i = 0; i < 20000; i++) {
        guint64 b = (guint64)g_rand_int_range(r, 0, (gint32)n);
        gboolean set = g_rand_boolean(r);
        gboolean was = set ? mr_bitmap_set(bm, b) : mr_bitmap_clear(bm, b);
        CU_ASSERT_EQUAL(was, model[b]);
        want += (guint64)(set && !model[b]) - (guint64)(!set && model[b]);
        model[b] = set;
    }
    MRT_CHECK_U64(mr_bitmap_count(bm), want);
    MRT_CHECK_U64(mr_bitmap_count(bm), mr_bitmap_count_range(bm, 0, n));
    mr_bitmap_free(bm);
    g_rand_free(r);
    /* Pages 0-7, 8, 63 and 64-67 set; with 66 pages, 66 and 67 are strays
     * and not counted: 8 + 1 + 1 + 2. */
    bm = mr_bitmap_new_from_file(bytes, sizeof(bytes), 66, MR_BITMAP_LE, NULL);
    MRT_CHECK_U64(mr_bitmap_count(bm), mr_bitmap_count_range(bm, 0, 66));
    MRT_CHECK_U64(mr_bitmap_count(bm), 12);
    mr_bitmap_free(bm);
}

static const MrtTest bitmap_tests[] = {
    MRT_TEST(test_count_is_kept_through_sets_and_clears),
    MRT_TEST(test_zero_bit_bitmap_has_no_set_or_clear_bit),
    MRT_TEST(test_one_bit_bitmap_sets_clears_and_reports_previous_value),
    MRT_TEST(test_full_and_empty_bitmaps_around_one_word),
    MRT_TEST(test_runs_crossing_word_boundaries_are_found_whole),
    MRT_TEST(test_queries_from_past_the_end_return_nbits_or_nothing),
    MRT_TEST(test_next_set_and_next_clear_match_a_per_bit_model),
    MRT_TEST(test_reserved_bytes_round_up_to_whole_longs),
    MRT_TEST(test_order_names_parse_back),
    MRT_END,
};

static const MrtTest file_order_tests[] = {
    MRT_TEST(test_le_file_bytes_follow_the_formula),
    MRT_TEST(test_le_32bit_host_file_bytes_follow_the_formula),
    MRT_TEST(test_be64_file_bytes_follow_the_formula),
    MRT_TEST(test_be32_file_bytes_follow_the_formula),
    MRT_TEST(test_known_bytes_of_each_order),
    MRT_TEST(test_stray_bits_beyond_nbits_are_cleared_and_counted),
    MRT_TEST(test_short_32bit_host_bitmap_reads_missing_bytes_as_zero),
    MRT_TEST(test_file_position_matches_the_formula),
    MRT_TEST(test_file_word_round_trips_through_new_from_file),
    MRT_END,
};

int
main(int argc, char **argv)
{
    static const MrtSuite suites[] = {
        { "bitmap queries", bitmap_tests },
        { "bitmap file orders (docs/FORMAT.md 9.4)", file_order_tests },
        { NULL, NULL },
    };

    return mrt_main(argc, argv, suites);
}
