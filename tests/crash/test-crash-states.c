/* CUnit tests of the crash-state generator and of building states in a
 * work file (crash-states.h, crash-apply.h): every subset up to 10
 * candidates, a seeded sample beyond, torn masks that are really torn,
 * and undo that gives back the bytes and the holes. */
#include <CUnit/Basic.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <string.h>
#include <unistd.h>

#include "crash-apply.h"
#include "crash-states.h"

/* A model with one epoch whose candidates are n writes of len bytes. */
static CrashModel *
fake_model(guint n, guint64 len)
{
    CrashModel *m = g_new0(CrashModel, 1);
    CrashEpoch e = { g_array_new(FALSE, FALSE, sizeof(guint)),
                     g_array_new(FALSE, FALSE, sizeof(guint)), CRASH_NEVER };

    m->ops = g_array_new(FALSE, FALSE, sizeof(CrashOp));
    m->syncs = g_array_new(FALSE, FALSE, sizeof(CrashSync));
    m->epochs = g_array_new(FALSE, FALSE, sizeof(CrashEpoch));
    for (guint i = 0; i < n; i++) {
        CrashOp op = { .type = CRASH_OP_WRITE, .offset = 8192 * i + 100,
                       .length = len, .t_start = i, .t_end = i,
                       .durable_at = G_MAXINT };
        op.data = g_malloc(len);
        memset(op.data, 'a' + (int)i, len);
        g_array_append_val(m->ops, op);
        g_array_append_val(e.candidates, i);
    }
    g_array_append_val(m->epochs, e);
    return m;
}

static void
fake_free(CrashModel *m)
{
    for (guint i = 0; i < m->ops->len; i++)
        g_free(g_array_index(m->ops, CrashOp, i).data);
    g_array_unref(g_array_index(m->epochs, CrashEpoch, 0).base_new);
    g_array_unref(g_array_index(m->epochs, CrashEpoch, 0).candidates);
    g_array_unref(m->ops);
    g_array_unref(m->syncs);
    g_array_unref(m->epochs);
    g_free(m);
}

static guint
count_kind(GPtrArray *st, const char *kind)
{
    guint n = 0;

    for (guint i = 0; i < st->len; i++)
        n += g_str_equal(((CrashState *)g_ptr_array_index(st, i))->kind, kind);
    return n;
}

static void
test_every_subset_up_to_ten(void)
{
    CrashGenOptions o = { 10, 16, 0, 1 };

    for (guint n = 0; n <= 10; n++) {
        CrashModel *m = fake_model(n, 100);
        g_autoptr(GPtrArray) st = crash_states_of_epoch(m, 0, &o);
        g_autoptr(GHashTable) masks = g_hash_table_new(NULL, NULL);

        /* The base (empty set) and the 2^n - 1 others, all different. */
        CU_ASSERT_EQUAL(st->len, 1u << n);
        CU_ASSERT_EQUAL(count_kind(st, "base"), 1);
        for (guint i = 0; i < st->len; i++) {
            CrashState *s = g_ptr_array_index(st, i);
            guint mask = 0;
            for (guint k = 0; k < s->ops->len; k++)
                mask |= 1u << g_array_index(s->ops, guint, k);
            CU_ASSERT_FALSE(g_hash_table_contains(masks, GUINT_TO_POINTER(mask + 1)));
            g_hash_table_add(masks, GUINT_TO_POINTER(mask + 1));
        }
        fake_free(m);
    }
}

static char *
describe_all(CrashModel *m, GPtrArray *st)
{
    GString *s = g_string_new(NULL);

    for (guint i = 0; i < st->len; i++) {
        g_autofree char *d = crash_state_describe(m, g_ptr_array_index(st, i));
        g_string_append_printf(s, "%s\n", d);
    }
    return g_string_free(s, FALSE);
}

static void
test_sample_beyond_ten_is_seeded(void)
{
    CrashModel *m = fake_model(20, 100);
    CrashGenOptions o = { 10, 16, 0, 7 }, o2 = { 10, 16, 0, 8 };
    g_autoptr(GPtrArray) a = crash_states_of_epoch(m, 0, &o);
    g_autoptr(GPtrArray) b = crash_states_of_epoch(m, 0, &o);
    g_autoptr(GPtrArray) c = crash_states_of_epoch(m, 0, &o2);
    g_autofree char *da = describe_all(m, a), *db = describe_all(m, b),
                    *dc = describe_all(m, c);

    /* Base, 16 prefixes (the last is the full set), up to 16 random. */
    CU_ASSERT_EQUAL(count_kind(a, "base"), 1);
    CU_ASSERT_EQUAL(count_kind(a, "prefix") + count_kind(a, "subset"), 16);
    CU_ASSERT(count_kind(a, "random") >= 14);
    CU_ASSERT_STRING_EQUAL(da, db);
    CU_ASSERT_STRING_NOT_EQUAL(da, dc);
    fake_free(m);
}

static void
test_torn_masks_are_torn(void)
{
    /* 5000 bytes at offset 8192 i + 100: sectors 0..9 of its span. */
    CrashModel *m = fake_model(3, 5000);
    CrashGenOptions o = { 10, 16, 9, 3 };
    g_autoptr(GPtrArray) st = crash_states_of_epoch(m, 0, &o);
    guint torn = 0;

    for (guint i = 0; i < st->len; i++) {
        CrashState *s = g_ptr_array_index(st, i);
        if (s->torn_op < 0)
            continue;
        torn++;
        CU_ASSERT_EQUAL(s->torn->len, 10);
        CU_ASSERT_PTR_NOT_NULL(memchr(s->torn->data, 0, s->torn->len));
        CU_ASSERT_PTR_NOT_NULL(memchr(s->torn->data, 1, s->torn->len));
        /* With the earlier candidates or alone, never with later ones. */
        for (guint k = 0; k < s->ops->len; k++)
            CU_ASSERT(g_array_index(s->ops, guint, k) < (guint)s->torn_op);
    }
    CU_ASSERT(torn >= 3 * 6);
    fake_free(m);
}

/* bytes and SEEK_DATA map of a file */
static char *
snapshot_of(int fd, guint64 size)
{
    GString *s = g_string_new(NULL);
    g_autofree guint8 *buf = g_malloc(size);

    CU_ASSERT_EQUAL(pread(fd, buf, size, 0), (ssize_t)size);
    g_string_append_len(s, (char *)buf, (gssize)size);
    for (off_t pos = 0; pos < (off_t)size;) {
        off_t d = lseek(fd, pos, SEEK_DATA), h;
        if (d < 0)
            break;
        h = lseek(fd, d, SEEK_HOLE);
        g_string_append_printf(s, "|%lld-%lld", (long long)d, (long long)h);
        pos = h;
    }
    return g_string_free(s, FALSE);
}

static void
test_undo_restores_bytes_and_holes(void)
{
    g_autofree char *dir = g_dir_make_tmp("crash-apply-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(dir, "f", NULL);
    const guint64 size = 1 << 20;
    CrashModel *m = fake_model(6, 9000);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    g_autofree char *before = NULL, *after = NULL;
    CrashUndo *u;
    guint8 sectors[32];
    CrashOp punch = { .type = CRASH_OP_FALLOCATE,
                      .mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                      .offset = 4096 * 20, .length = 4096 * 3 };
    CrashOp trunc = { .type = CRASH_OP_FTRUNCATE, .length = size / 2 };

    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT_EQUAL(ftruncate(fd, (off_t)size), 0);
    /* Data at 80-96 KiB and 300-304 KiB, holes elsewhere. */
    for (guint64 at = 4096 * 20; at < 4096 * 24; at += 4096)
        CU_ASSERT_EQUAL(pwrite(fd, "DATA", 4, (off_t)at), 4);
    CU_ASSERT_EQUAL(pwrite(fd, "more", 4, 300 * 1024), 4);
    before = snapshot_of(fd, size);
    u = crash_undo_new(fd);
    for (guint i = 0; i < 6; i++) {
        for (guint k = 0; k < sizeof(sectors); k++)
            sectors[k] = (k + i) % 3 == 0;
        CU_ASSERT(crash_apply_op(fd, &g_array_index(m->ops, CrashOp, i),
                                 i % 2 ? sectors : NULL, u, NULL));
    }
    CU_ASSERT(crash_apply_op(fd, &punch, NULL, u, NULL));
    CU_ASSERT(crash_apply_op(fd, &trunc, NULL, u, NULL));
    after = snapshot_of(fd, size / 2);
    CU_ASSERT(memcmp(before, after, size / 2) != 0);
    CU_ASSERT(crash_undo_run(u, NULL));
    g_free(after);
    after = snapshot_of(fd, size);
    CU_ASSERT_EQUAL(lseek(fd, 0, SEEK_END), (off_t)size);
    CU_ASSERT(memcmp(before, after, size) == 0);
    CU_ASSERT_STRING_EQUAL(before + size, after + size); /* the extents */
    CU_ASSERT(strchr(before + size, '|') != NULL);
    crash_undo_free(u);
    close(fd);
    unlink(path);
    rmdir(dir);
    fake_free(m);
}

int
main(void)
{
    CU_pSuite s;
    unsigned failed;

    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    s = CU_add_suite("crash-states", NULL, NULL);
    CU_add_test(s, "every subset up to ten candidates", test_every_subset_up_to_ten);
    CU_add_test(s, "sample beyond ten is seeded", test_sample_beyond_ten_is_seeded);
    CU_add_test(s, "torn masks are torn", test_torn_masks_are_torn);
    CU_add_test(s, "undo restores bytes and holes", test_undo_restores_bytes_and_holes);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    failed = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
