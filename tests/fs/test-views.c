/* The files of the mount's views without a mount (fs/mfs-view.h): block
 * and text files read and sought through their ops, device sections a
 * decoder cannot read shown as documents that say why, the PC87312
 * document applied with every file that shows it refreshed, refused
 * documents, the modes mfs_fill_stat gives (mount.mramfs(8),
 * PERMISSIONS), and whose counters .mramfs/stats.json gives a RAM block,
 * on snapshots mr-writer makes.
 */
#include <errno.h>
#include <string.h>

#include "fst-helpers.h"

/* ---- files through their ops ---------------------------------------- */

static void
test_files_are_read_and_sought_through_their_ops(void)
{
    static const char *const blocks[] = { "pc.ram", NULL };
    g_autofree char *path = fst_write_snapshot("ops.mig", blocks, fst_pc_devices, NULL);
    g_autoptr(MrFile) f = MRT_OPEN(path, NULL);
    g_autoptr(MfsTree) t = NULL;
    MfsFs fs = { .opts.max_read = 1 << 20 };
    guint8 buf[2 * FST_PS], want[FST_PS];
    json_object *o;
    MfsNode *n;
    guint64 at;
    gsize got;

    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    t = fst_tree_of(f);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    fs.tree = t;
    n = mfs_tree_resolve(t, "ram/pc.ram");
    CU_ASSERT_PTR_NOT_NULL_FATAL(n);
    MRT_CHECK_U64(n->ops->size(&fs, n), 0x10000);
    MRT_CHECK_U64(n->ops->stored(&fs, n), FST_PS);
    /* Pages 0 (absent, zeros) and 1 (the writer's pattern). */
    MRT_CHECK(n->ops->read(&fs, n, buf, 0, sizeof(buf), &got) == 0 &&
              got == sizeof(buf), "read two pages");
    mrt_fill_page(0, 1, want, FST_PS);
    MRT_CHECK(buf[0] == 0 && memcmp(buf, buf + 1, FST_PS - 1) == 0, "page 0 reads as zeros");
    MRT_CHECK(memcmp(buf + FST_PS, want, FST_PS) == 0, "page 1 reads as written");
    MRT_CHECK(n->ops->read(&fs, n, buf, 0x10000 - 10, 100, &got) == 0 && got == 10,
              "a read across the end is short (%zu)", got);
    MRT_CHECK(n->ops->read(&fs, n, buf, 0x10000, 100, &got) == 0 && got == 0,
              "a read at the end is empty");
    MRT_CHECK(n->ops->seek(&fs, n, 0, TRUE, &at) == 0 && at == FST_PS,
              "SEEK_DATA from 0: page 1 (0x%" G_GINT64_MODIFIER "x)", at);
    MRT_CHECK(n->ops->seek(&fs, n, FST_PS + 5, FALSE, &at) == 0 && at == 2 * FST_PS,
              "SEEK_HOLE inside page 1: page 2");
    MRT_CHECK(n->ops->seek(&fs, n, 2 * FST_PS, TRUE, &at) == 0 && at == MFS_SEEK_NONE,
              "SEEK_DATA after the last page: none");
    MRT_CHECK(n->ops->write && !n->ops->apply, "a block is written in place");

    o = fst_read_json(&fs, "snapshot.json");
    if (o)
        MRT_CHECK_STR(fst_str(o, "machine"), "40p");
    json_object_put(o);
    o = fst_read_json(&fs, "devices/serial.0.json");
    if (o)
        MRT_CHECK(json_object_get_boolean(json_object_object_get(o, "decoded")),
                  "devices/serial.0.json is decoded");
    json_object_put(o);
    n = mfs_tree_resolve(t, "devices/serial.0.json");
    MRT_CHECK(n && n->ops->write == NULL && n->ops->apply == NULL,
              "a device file is read-only");
    n = mfs_tree_resolve(t, "superio/pc87312.json");
    MRT_CHECK(n && n->ops->apply != NULL, "superio/pc87312.json is a document");
    o = fst_read_json(&fs, "superio/pc87312.json");
    if (o) {
        json_object *regs = json_object_object_get(o, "registers");
        MRT_CHECK_STR(fst_str(regs, "fer"), "0x0f");
        MRT_CHECK_STR(fst_str(regs, "far"), "0x10");
    }
    json_object_put(o);
}

/* ---- what does not decode ------------------------------------------- */

static void
check_undecoded(MfsFs *fs, const char *path, const char *device,
                const char *needle)
{
    json_object *o = fst_read_json(fs, path);
    MfsNode *n = mfs_tree_resolve(fs->tree, path);

    if (o == NULL)
        return;
    MRT_CHECK(json_object_object_get(o, "decoded") &&
              !json_object_get_boolean(json_object_object_get(o, "decoded")),
              "%s: \"decoded\": false", path);
    MRT_CHECK(fst_str(o, "reason") && strstr(fst_str(o, "reason"), needle),
              "%s: the reason names \"%s\": %s", path, needle,
              fst_str(o, "reason") ? fst_str(o, "reason") : "(none)");
    if (device)
        MRT_CHECK_STR(fst_str(o, "device"), device);
    MRT_CHECK(n->ops->apply == NULL && n->ops->write == NULL,
              "%s cannot be written", path);
    json_object_put(o);
}

static void
test_a_pc87312_the_view_cannot_read_is_a_read_only_document(void)
{
    static const char *const blocks[] = { "pc.ram", NULL };
    g_autofree char *path = fst_write_snapshot("buffer.mig", blocks, fst_pc87312_buffer_devices, NULL);
    g_autoptr(MrFile) f = MRT_OPEN(path, NULL);
    g_autoptr(MfsTree) t = NULL;
    MfsFs fs = { 0 };
    json_object *o;

    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    t = fst_tree_of(f);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    fs.tree = t;
    check_undecoded(&fs, "superio/pc87312.json", "pc87312", "pc87312");
    /* devices/ decodes a buffer as it is. */
    o = fst_read_json(&fs, "devices/pc87312.0.json");
    if (o)
        MRT_CHECK(json_object_get_boolean(json_object_object_get(o, "decoded")),
                  "devices/pc87312.0.json is decoded");
    json_object_put(o);
    MRT_CHECK(mfs_tree_resolve(t, "ram/pc.ram") != NULL, "ram/pc.ram is there");
}

static void
test_a_via_isa_the_view_cannot_read_says_why(void)
{
    static const char *const blocks[] = { "ram", NULL };
    g_autofree char *path = fst_write_snapshot("via.mig", blocks, fst_short_via_devices, NULL);
    g_autoptr(MrFile) f = MRT_OPEN(path, NULL);
    g_autoptr(MfsTree) t = NULL;
    MfsFs fs = { 0 };

    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    t = fst_tree_of(f);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    fs.tree = t;
    /* Without a config space the chip is not known: the file is named
     * after the section's device. */
    check_undecoded(&fs, "superio/via-isa.json", "via-isa", "config[0]");
}

/* The device sections are read again when the tree is built: a snapshot
 * cut after it was opened leaves them undecodable, and RAM still served. */
static void
test_sections_cut_after_open_are_files_that_say_why(void)
{
    static const char *const blocks[] = { "pc.ram", NULL };
    MrWriterLayout l;
    g_autofree char *path = fst_write_snapshot("cut.mig", blocks, fst_pc_devices, &l);
    g_autoptr(MrFile) f = MRT_OPEN(path, NULL);
    g_autoptr(MfsTree) t = NULL;
    MfsFs fs = { 0 };

    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    mrt_truncate(path, MRT_DEVICE(&l, 0)->body_offset + 1);
    t = fst_tree_of(f);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    fs.tree = t;
    check_undecoded(&fs, "devices/serial.0.json", NULL, path);
    check_undecoded(&fs, "devices/pc87312.0.json", NULL, path);
    check_undecoded(&fs, "superio/pc87312.json", "pc87312", path);
    MRT_CHECK(mfs_tree_resolve(t, "ram/pc.ram") != NULL, "ram/pc.ram is there");
    mr_writer_layout_clear(&l);
}

/* ---- the PC87312 document ------------------------------------------- */

/* FER FAR PTR, selected_index, read_id_step as the file holds them. */
static void
file_regs(const FstRwTree *m, guint8 out[5])
{
    guint64 body = MRT_DEVICE(&m->layout, 1)->body_offset;
    guint8 b[5];

    mrt_read(m->path, body, b, 5);
    out[0] = b[2], out[1] = b[3], out[2] = b[4], out[3] = b[1], out[4] = b[0];
}

static int
apply(FstRwTree *m, const char *text)
{
    MfsNode *n = mfs_tree_resolve(m->tree, "superio/pc87312.json");

    return n ? n->ops->apply(&m->fs, n, text, strlen(text)) : -ENOENT;
}

static void
test_the_pc87312_document_is_applied_and_both_files_refreshed(void)
{
    FstRwTree m;
    guint8 regs[5];
    json_object *o;

    if (!fst_rw_open(&m, "apply.mig")) {
        CU_FAIL("snapshot opened writable");
        return;
    }
    /* uart2 to COM3 (FAR bits 5:4 = 2, address set 0: 0x3e8), IDE on
     * (FER bit 6), selected_index 3 (docs/FORMAT.md §14.1.3). */
    MRT_CHECK(apply(&m, "{\"functions\": {\"uart2\": {\"iobase\": \"0x3e8\", "
                        "\"irq\": 4}, \"ide\": {\"enabled\": true}}, "
                        "\"registers\": {\"selected_index\": 3}}") == 0,
              "the document is applied");
    file_regs(&m, regs);
    MRT_CHECK(regs[0] == 0x4f && regs[1] == 0x20 && regs[2] == 0x00 &&
              regs[3] == 3 && regs[4] == 2,
              "the file holds FER FAR PTR 4f 20 00, selected 3, step 2 (got %02x "
              "%02x %02x, %u, %u)", regs[0], regs[1], regs[2], regs[3], regs[4]);
    o = fst_read_json(&m.fs, "superio/pc87312.json");
    if (o) {
        json_object *r = json_object_object_get(o, "registers");
        MRT_CHECK_STR(fst_str(r, "fer"), "0x4f");
        MRT_CHECK_STR(fst_str(r, "far"), "0x20");
        MRT_CHECK(json_object_get_int(json_object_object_get(r, "selected_index")) == 3,
                  "superio/pc87312.json shows selected_index 3");
    }
    json_object_put(o);
    o = fst_read_json(&m.fs, "devices/pc87312.0.json");
    if (o) {
        json_object *v = json_object_object_get(json_object_object_get(
            json_object_object_get(o, "fields"), "regs"), "value");
        MRT_CHECK(json_object_is_type(v, json_type_array) &&
                  json_object_get_int(json_object_array_get_idx(v, 0)) == 0x4f &&
                  json_object_get_int(json_object_array_get_idx(v, 1)) == 0x20,
                  "devices/pc87312.0.json shows the new regs");
    }
    json_object_put(o);
    fst_rw_close(&m);
}

static void
test_a_refused_document_changes_nothing_and_is_einval(void)
{
    static const char *const refused[] = {
        "{\"functions\": {\"uart2\": {\"speed\": 9600}}}",  /* unknown key */
        "{\"functions\": {\"uart2\": {\"iobase\": \"0x3e0\"}}}", /* no such base */
        "{\"functions\": {",                                /* cut short */
    };
    FstRwTree m;
    guint8 before[5], after[5];
    g_autofree char *doc_before = NULL, *doc_after = NULL;

    if (!fst_rw_open(&m, "refuse.mig")) {
        CU_FAIL("snapshot opened writable");
        return;
    }
    file_regs(&m, before);
    doc_before = fst_read_all(&m.fs, mfs_tree_resolve(m.tree, "superio/pc87312.json"), NULL);
    for (guint i = 0; i < G_N_ELEMENTS(refused); i++) {
        int r = apply(&m, refused[i]);
        MRT_CHECK(r == -EINVAL, "%s: -EINVAL (got %d)", refused[i], r);
    }
    file_regs(&m, after);
    MRT_CHECK(memcmp(before, after, 5) == 0, "the registers in the file are unchanged");
    doc_after = fst_read_all(&m.fs, mfs_tree_resolve(m.tree, "superio/pc87312.json"), NULL);
    MRT_CHECK_STR(doc_after, doc_before);
    fst_rw_close(&m);
}

/* ---- modes ------------------------------------------------------------ */

static mode_t
mode_of(MfsFs *fs, const char *path)
{
    struct stat st;

    mfs_fill_stat(fs, mfs_tree_resolve(fs->tree, path), &st);
    return st.st_mode & 07777;
}

static void
test_modes_follow_the_snapshot_never_wider(void)
{
    /* snapshot mode, rw mount: ram file, device file, document, directory */
    static const struct { mode_t snap; gboolean rw; mode_t ram, dev, doc, dir; } rows[] = {
        { 0600, FALSE, 0400, 0400, 0400, 0500 },
        { 0600, TRUE,  0600, 0400, 0600, 0500 },
        { 0644, FALSE, 0444, 0444, 0444, 0555 },
        { 0644, TRUE,  0644, 0444, 0644, 0555 },
        { 0640, TRUE,  0640, 0440, 0640, 0550 },
        { 0660, TRUE,  0660, 0440, 0660, 0550 },
        { 0604, FALSE, 0404, 0404, 0404, 0505 },
        { 0200, TRUE,  0200, 0000, 0200, 0000 },
        { 0755, TRUE,  0644, 0444, 0644, 0555 }, /* never executable */
    };
    FstRwTree m;
    MfsFs *fs = &m.fs;
    MrUpdater *rw;

    if (!fst_rw_open(&m, "modes.mig")) {
        CU_FAIL("snapshot opened writable");
        return;
    }
    rw = fs->updater;
    for (guint i = 0; i < G_N_ELEMENTS(rows); i++) {
        fs->file_st.st_mode = S_IFREG | rows[i].snap;
        fs->updater = rows[i].rw ? rw : NULL;
        MRT_CHECK(mode_of(fs, "ram/pc.ram") == rows[i].ram &&
                  mode_of(fs, "devices/serial.0.json") == rows[i].dev &&
                  mode_of(fs, "snapshot.json") == rows[i].dev &&
                  mode_of(fs, "superio/pc87312.json") == rows[i].doc &&
                  mode_of(fs, "ram") == rows[i].dir && mode_of(fs, "") == rows[i].dir,
                  "snapshot 0%o, %s: ram 0%o dev 0%o doc 0%o dir 0%o (got 0%o 0%o "
                  "0%o 0%o)", rows[i].snap, rows[i].rw ? "rw" : "ro", rows[i].ram,
                  rows[i].dev, rows[i].doc, rows[i].dir, mode_of(fs, "ram/pc.ram"),
                  mode_of(fs, "devices/serial.0.json"),
                  mode_of(fs, "superio/pc87312.json"), mode_of(fs, "ram"));
    }
    /* umask= fixes the modes whatever the snapshot's: 0555 directories,
     * 0444 files, 0666 writable files, minus the mask. */
    fs->file_st.st_mode = S_IFREG | 0600;
    fs->opts.has_umask = TRUE;
    fs->opts.umask = 0022;
    fs->updater = rw;
    MRT_CHECK(mode_of(fs, "ram/pc.ram") == 0644 && mode_of(fs, "ram") == 0555 &&
              mode_of(fs, "devices/serial.0.json") == 0444,
              "umask=022 on a 0600 snapshot, rw: 0644 0555 0444");
    fs->opts.umask = 0;
    fs->updater = NULL;
    MRT_CHECK(mode_of(fs, "ram/pc.ram") == 0444 && mode_of(fs, "ram") == 0555,
              "umask=0 on a 0600 snapshot, ro: 0444 0555");
    fs->updater = rw;
    fst_rw_close(&m);
}

/* ---- .mramfs/stats.json ---------------------------------------------- */

extern const MfsView mfs_view_mramfs, mfs_view_ram;

static guint64
shadow_size(MfsFs *fs, const MfsNode *n)
{
    return 0;
}

static int
shadow_read(MfsFs *fs, const MfsNode *n, void *buf, guint64 off, gsize len,
            gsize *got)
{
    *got = 0;
    return 0;
}

/* A file whose data is a RAM block but which is not the block's file (as
 * restore/qemu-args once was); nothing to free. */
static const MfsFileOps shadow_ops = { .size = shadow_size, .read = shadow_read };

static gboolean
build_shadow(MfsTreeBuilder *tb, MrFile *f, GError **err)
{
    char *name[] = { "of-pc.ram", NULL };

    return mfs_tree_add(tb, name, 0, &shadow_ops, g_ptr_array_index(f->blocks, 0));
}

static const MfsView shadow_view = { "shadow", TRUE, build_shadow };

static void
test_a_blocks_counters_are_its_ram_files_whatever_shares_its_data(void)
{
    static const char *const blocks[] = { "pc.ram", NULL };
    static const MfsView *const views[] = { &mfs_view_mramfs, &mfs_view_ram,
                                            &shadow_view, NULL };
    g_autofree char *path = fst_write_snapshot("stats.mig", blocks, NULL, NULL);
    g_autoptr(MrFile) f = MRT_OPEN(path, NULL);
    g_autoptr(GError) err = NULL;
    g_autoptr(MfsTree) t = NULL;
    MfsFs fs = { .opts.max_read = 1 << 20 };
    json_object *o, *b;
    MfsNode *ram, *shadow;

    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    t = mfs_tree_new_with(f, views, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    fs.tree = t;
    g_rw_lock_init(&fs.model_lock); /* stats.json holds it */
    ram = mfs_tree_resolve(t, "ram/pc.ram");
    shadow = mfs_tree_resolve(t, "shadow/of-pc.ram");
    CU_ASSERT_FATAL(ram && shadow && ram->data == shadow->data);
    ram->stats.reads = 7;
    ram->stats.read_bytes = 7 * FST_PS;
    shadow->stats.reads = 1000;
    o = fst_read_json(&fs, ".mramfs/stats.json");
    g_rw_lock_clear(&fs.model_lock);
    if (o == NULL)
        return;
    b = json_object_array_get_idx(json_object_object_get(o, "ram_blocks"), 0);
    MRT_CHECK_STR(fst_str(b, "name"), "pc.ram");
    MRT_CHECK_U64(json_object_get_uint64(json_object_object_get(b, "reads")), 7);
    MRT_CHECK_U64(json_object_get_uint64(json_object_object_get(b, "read_bytes")),
                  7 * FST_PS);
    MRT_CHECK_U64(json_object_get_uint64(json_object_object_get(
                      json_object_object_get(json_object_object_get(o, "views"),
                                             "shadow"), "reads")), 1000);
    json_object_put(o);
}

int
main(int argc, char **argv)
{
    static const MrtTest file_tests[] = {
        MRT_TEST(test_files_are_read_and_sought_through_their_ops),
        MRT_TEST(test_a_pc87312_the_view_cannot_read_is_a_read_only_document),
        MRT_TEST(test_a_via_isa_the_view_cannot_read_says_why),
        MRT_TEST(test_sections_cut_after_open_are_files_that_say_why),
        MRT_TEST(test_the_pc87312_document_is_applied_and_both_files_refreshed),
        MRT_TEST(test_a_refused_document_changes_nothing_and_is_einval),
        MRT_TEST(test_modes_follow_the_snapshot_never_wider),
        MRT_TEST(test_a_blocks_counters_are_its_ram_files_whatever_shares_its_data),
        MRT_END,
    };
    static const MrtSuite suites[] = {
        { "views: files, undecoded sections, documents, modes", file_tests },
        { NULL, NULL },
    };

    return mrt_main(argc, argv, suites);
}
