/* mr-reload.h: a snapshot rewritten in place under an open model.  The
 * same layout with other pages is taken (new bitmaps, the new bytes read),
 * another layout or a file that no longer opens is refused with the
 * difference and leaves the model as it was. */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "mr-read.h"
#include "mr-reload.h"
#include "test-helpers.h"

/* Copies src's bytes over dst, keeping dst's inode (what `virsh save` to
 * an existing path does: O_TRUNC, then write). */
static void
rewrite_in_place(const char *dst, const char *src)
{
    g_autofree char *data = NULL;
    gsize len = 0;
    int fd;

    CU_ASSERT_FATAL(g_file_get_contents(src, &data, &len, NULL));
    fd = open(dst, O_WRONLY | O_TRUNC);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT_FATAL(write(fd, data, len) == (gssize)len);
    close(fd);
}

/* pc with one more page of pc.ram present, holding `fill`. */
static char *
write_pc_with_extra_page(const char *name, guint64 page, guint8 fill)
{
    g_autoptr(MrWriter) w = mrt_writer_pc();
    char *path = mrt_path(name);
    guint8 data[4096];

    memset(data, fill, sizeof(data));
    mr_writer_set_page(w, 0, page, data);
    mrt_write(w, path, NULL);
    return path;
}

static void
test_same_layout_with_other_pages_is_taken(void)
{
    g_autofree char *path = mrt_write_pc("reload.mig", NULL);
    g_autofree char *other = write_pc_with_extra_page("other.mig", 1500, 0x5a);
    g_autoptr(MrFile) f = MRT_OPEN(path, NULL);
    g_autoptr(GError) err = NULL;
    MrRamBlock *b;
    guint64 before;
    guint8 buf[4096], want[4096];

    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    b = g_ptr_array_index(f->blocks, 0);
    before = MRT_PRESENT(b);
    MRT_CHECK(!mr_bitmap_test(b->bitmap, 1500), "page 1500 absent at first");
    rewrite_in_place(path, other);
    MRT_CHECK(mr_file_reload(f, &err), "reload: %s", err ? err->message : "");
    MRT_CHECK_U64(MRT_PRESENT(b), before + 1);
    CU_ASSERT_TRUE(mr_bitmap_test(b->bitmap, 1500));
    CU_ASSERT_TRUE(mr_block_read(f, b, buf, 1500 * 4096, sizeof(buf), &err));
    memset(want, 0x5a, sizeof(want));
    CU_ASSERT(memcmp(buf, want, sizeof(buf)) == 0);
    MRT_CHECK_U64(f->warnings->len, 0);
}

static void
test_other_layout_is_refused_and_the_model_kept(void)
{
    static const struct {
        const char *block;
        guint64 size;
        const char *needle;
    } changes[] = {
        { "pc.ram", 0x1000000, "ram block \"pc.ram\": used_length 0x800000, "
                               "now 0x1000000" },
        { "extra", 0x10000, "RAM blocks 0x4, now 0x5" },
    };

    for (gsize i = 0; i < G_N_ELEMENTS(changes); i++) {
        g_autofree char *path = mrt_write_pc("layout.mig", NULL);
        g_autofree char *other = mrt_path("layout2.mig");
        g_autoptr(MrWriter) w = mr_writer_new("pc-i440fx-10.0");
        g_autoptr(MrFile) f = MRT_OPEN(path, NULL);
        g_autoptr(GError) err = NULL;
        MrRamBlock *b;
        guint64 before;

        CU_ASSERT_PTR_NOT_NULL_FATAL(f);
        b = g_ptr_array_index(f->blocks, 0);
        before = MRT_PRESENT(b);
        for (guint k = 0; k < mrt_pc_nblocks; k++) {
            const MrtBlockSpec *s = &mrt_pc_blocks[k];
            guint64 size = g_str_equal(s->idstr, changes[i].block) ? changes[i].size
                                                                  : s->used_length;
            mr_writer_add_block(w, s->idstr, size);
        }
        if (mr_file_find_block(f, changes[i].block) == NULL)
            mr_writer_add_block(w, changes[i].block, changes[i].size);
        mrt_add_pc_devices(w);
        mrt_write(w, other, NULL);
        rewrite_in_place(path, other);
        CU_ASSERT_FALSE(mr_file_reload(f, &err));
        MRT_CHECK(err && err->code == MR_ERROR_INVALID &&
                  g_str_has_prefix(err->message, path) &&
                  strstr(err->message, "rewritten with another layout") &&
                  strstr(err->message, changes[i].needle),
                  "refused naming %s (got: %s)", changes[i].needle,
                  err ? err->message : "nothing");
        MRT_CHECK_U64(MRT_PRESENT(b), before);
    }
}

static void
test_file_that_no_longer_opens_is_refused_with_its_own_name(void)
{
    g_autofree char *path = mrt_write_pc("cut.mig", NULL);
    g_autofree char *moved = mrt_path("cut-renamed.mig");
    g_autoptr(MrFile) f = MRT_OPEN(path, NULL);
    g_autoptr(GError) err = NULL;

    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    mrt_truncate(path, mrt_file_size(path) / 2);
    CU_ASSERT_FALSE(mr_file_reload(f, &err));
    MRT_CHECK(err && g_str_has_prefix(err->message, path) &&
              strstr(err->message, "/proc/") == NULL,
              "error names %s (got: %s)", path, err ? err->message : "nothing");
    /* Renamed since: still the same inode, read through the descriptor. */
    g_clear_error(&err);
    {
        g_autofree char *whole = mrt_write_pc("cut-whole.mig", NULL);
        rewrite_in_place(path, whole);
    }
    CU_ASSERT_FATAL(rename(path, moved) == 0);
    MRT_CHECK(mr_file_reload(f, &err), "reload after rename: %s",
              err ? err->message : "");
}

static void
test_same_layout_takes_the_new_libvirt_xml(void)
{
    g_autoptr(MrWriter) w = mrt_writer_pc();
    g_autofree char *path = mrt_path("lv.img");
    g_autofree char *other = mrt_path("lv2.img");
    g_autoptr(MrFile) f = NULL;
    g_autoptr(GError) err = NULL;
    guint8 hdr[92] = "LibvirtQemudSave";
    const guint32 fields[5] = { GUINT32_TO_LE(2), GUINT32_TO_LE(0x1000), 0,
                                GUINT32_TO_LE(6), 0 };
    const char *x1 = "<domain><name>before</name></domain>";
    const char *x2 = "<domain><name>after-edit</name></domain>";

    memcpy(hdr + 16, fields, sizeof(fields));
    mr_writer_set_stream_offset(w, 92 + 0x1000);
    mrt_write(w, path, NULL);
    mrt_write(w, other, NULL);
    for (int i = 0; i < 2; i++) {
        g_autofree guint8 *zeros = g_malloc0(0x1000);
        const char *p = i ? other : path, *x = i ? x2 : x1;
        mrt_patch(p, 0, hdr, sizeof(hdr));
        mrt_patch(p, 92, zeros, 0x1000);
        mrt_patch(p, 92, x, strlen(x));
    }
    f = MRT_OPEN(path, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    MRT_CHECK_STR(f->libvirt->domain_name, "before");
    rewrite_in_place(path, other);
    MRT_CHECK(mr_file_reload(f, &err), "reload: %s", err ? err->message : "");
    MRT_CHECK_STR(f->libvirt->domain_name, "after-edit");
    MRT_CHECK_STR(f->libvirt->xml, x2);
}

/* `virsh save` truncates first: a read in between sees the file short and
 * marks it truncated, which stops every write.  Once the rewrite validates
 * with the same layout, the model writes and reads again. */
static void
test_a_truncation_seen_during_the_rewrite_is_forgotten(void)
{
    g_autofree char *path = mrt_write_pc("cut.mig", NULL);
    g_autofree char *other = write_pc_with_extra_page("cut-new.mig", 7, 0x33);
    g_autoptr(MrFile) f = MRT_OPEN(path, NULL);
    g_autoptr(GError) err = NULL;

    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_FATAL(truncate(path, 4096) == 0);
    CU_ASSERT_FALSE(mr_file_check_length(f, MR_FILE_AS_OPENED, &err));
    CU_ASSERT_TRUE(g_error_matches(err, MR_ERROR, MR_ERROR_TRUNCATED));
    g_clear_error(&err);
    rewrite_in_place(path, other);
    /* Still refused before the file is validated again. */
    CU_ASSERT_FALSE(mr_file_check_length(f, MR_FILE_AS_OPENED, &err));
    g_clear_error(&err);
    MRT_CHECK(mr_file_reload(f, &err), "reload: %s", err ? err->message : "");
    MRT_CHECK(mr_file_check_length(f, MR_FILE_AS_OPENED, &err),
              "still taken for truncated: %s", err ? err->message : "");
}

/* A name with a terminal escape in it: the message that names the file
 * again (it was reopened through /proc) escapes it, as every message. */
static void
test_the_file_named_again_is_escaped(void)
{
    g_autofree char *path = mrt_write_pc("esc\x1b]0;x\x07.mig", NULL);
    g_autoptr(MrFile) f = MRT_OPEN(path, NULL);
    g_autoptr(GError) err = NULL;

    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    mrt_truncate(path, mrt_file_size(path) / 2);
    CU_ASSERT_FALSE(mr_file_reload(f, &err));
    MRT_CHECK(err && strchr(err->message, 0x1b) == NULL &&
              strchr(err->message, 0x07) == NULL &&
              strstr(err->message, "esc\\x1b]0;x\\x07.mig") != NULL,
              "escaped (got: %s)", err ? err->message : "nothing");
}

static const MrtTest tests[] = {
    MRT_TEST(test_same_layout_with_other_pages_is_taken),
    MRT_TEST(test_other_layout_is_refused_and_the_model_kept),
    MRT_TEST(test_file_that_no_longer_opens_is_refused_with_its_own_name),
    MRT_TEST(test_same_layout_takes_the_new_libvirt_xml),
    MRT_TEST(test_a_truncation_seen_during_the_rewrite_is_forgotten),
    MRT_TEST(test_the_file_named_again_is_escaped),
    MRT_END,
};

int
main(int argc, char **argv)
{
    static const MrtSuite suites[] = {
        { "reload: a snapshot rewritten in place", tests },
        { NULL, NULL },
    };

    return mrt_main(argc, argv, suites);
}
