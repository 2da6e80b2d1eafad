/* The mount's tree without a mount (fs/mfs-tree.h, fs/mfs-view.h): trees
 * built from snapshots mr-writer makes, checked for the table's entries,
 * names (mramfs(5) escaping and shortening), inode numbers, the files read
 * through their ops, device sections that do not decode, the PC87312
 * document applied and refreshed, and the modes mfs_fill_stat gives.
 *
 * Expected names and inode numbers are typed in from mramfs(5)'s rules,
 * not computed with the code under test.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "ds-decode.h"
#include "mfs-fs.h"
#include "mfs-text.h"
#include "test-helpers.h"

/* ---- snapshots ------------------------------------------------------- */

/* The pc87312 VMSD as QEMU 10 describes it (FORMAT.md §14.1.1), and the
 * same field as a plain buffer, which the PC87312 view cannot read. */
static const char pc87312_desc[] =
    "{\"vmsd_name\":\"pc87312\",\"version\":1,\"fields\":["
    "{\"name\":\"read_id_step\",\"type\":\"uint8\",\"size\":1},"
    "{\"name\":\"selected_index\",\"type\":\"uint8\",\"size\":1},"
    "{\"name\":\"regs\",\"array_len\":3,\"type\":\"uint8\",\"size\":1}]}";
static const char pc87312_buffer_desc[] =
    "{\"vmsd_name\":\"pc87312\",\"version\":1,\"fields\":["
    "{\"name\":\"read_id_step\",\"type\":\"uint8\",\"size\":1},"
    "{\"name\":\"selected_index\",\"type\":\"uint8\",\"size\":1},"
    "{\"name\":\"regs\",\"type\":\"buffer\",\"size\":3}]}";
/* read_id_step 2, selected_index 1, FER FAR PTR 0f 10 00 (strap 12). */
static const guint8 pc87312_body[5] = { 0x02, 0x01, 0x0f, 0x10, 0x00 };

static const char serial_desc[] =
    "{\"vmsd_name\":\"serial\",\"version\":1,\"fields\":["
    "{\"name\":\"divider\",\"type\":\"uint16\",\"size\":2},"
    "{\"name\":\"lcr\",\"type\":\"uint8\",\"size\":1}]}";
static const guint8 serial_body[3] = { 0x00, 0x0c, 0x03 };

/* via-isa with a 64-byte config space: the VIA view needs 256 bytes. */
static const char short_via_desc[] =
    "{\"vmsd_name\":\"via-isa\",\"version\":1,\"fields\":["
    "{\"name\":\"dev\",\"type\":\"struct\",\"struct\":{"
    "\"vmsd_name\":\"PCIDevice\",\"version\":2,\"fields\":["
    "{\"name\":\"version_id\",\"type\":\"int32 le\",\"size\":4},"
    "{\"name\":\"config[0]\",\"type\":\"pci config\",\"size\":64}]},"
    "\"size\":68}]}";
static guint8 short_via_body[68];

typedef struct {
    const char *idstr;
    const char *desc;
    const guint8 *body;
    gsize len;
} Dev;

#define PS 4096

/* A 40p-like snapshot with these blocks (64 KiB each, page 1 present) and
 * these devices, with a vmdesc. */
static char *
write_snapshot(const char *name, const char *const *blocks, const Dev *devs,
               MrWriterLayout *layout)
{
    g_autoptr(MrWriter) w = mr_writer_new("40p");
    char *path = mrt_path(name);
    guint8 page[PS];

    for (guint i = 0; blocks[i]; i++) {
        guint b = mr_writer_add_block(w, blocks[i], 0x10000);
        mrt_fill_page(i, 1, page, PS);
        mr_writer_set_page(w, b, 1, page);
    }
    mr_writer_set_vmdesc(w, TRUE);
    for (guint i = 0; devs && devs[i].idstr; i++) {
        g_autoptr(GError) err = NULL;
        MRT_CHECK(mr_writer_add_device(w, devs[i].idstr, 0, 1, devs[i].desc,
                                       devs[i].body, devs[i].len, FALSE, &err),
                  "writer accepts \"%s\": %s", devs[i].idstr,
                  err ? err->message : "");
    }
    mrt_write(w, path, layout);
    return path;
}

static const Dev pc_devices[] = {
    { "serial", serial_desc, serial_body, sizeof(serial_body) },
    { "pc87312", pc87312_desc, pc87312_body, sizeof(pc87312_body) },
    { NULL },
};

static MfsTree *
tree_of(MrFile *f)
{
    g_autoptr(GError) err = NULL;
    MfsTree *t = mfs_tree_new(f, &err);

    MRT_CHECK(t != NULL, "the tree is built: %s", err ? err->message : "");
    return t;
}

/* The whole of a file, read through its ops in chunks of 1000 bytes (NUL
 * terminated). */
static char *
read_all(MfsFs *fs, const MfsNode *n, gsize *size)
{
    GByteArray *out = g_byte_array_new();

    for (;;) {
        guint8 chunk[1000];
        gsize got = 0;
        int r = n->ops->read(fs, n, chunk, out->len, sizeof(chunk), &got);

        MRT_CHECK(r == 0, "read of %s at %u: %d", n->name, out->len, r);
        g_byte_array_append(out, chunk, (guint)got);
        if (r != 0 || got < sizeof(chunk))
            break;
    }
    if (size)
        *size = out->len;
    g_byte_array_append(out, (const guint8 *)"", 1);
    return (char *)g_byte_array_free(out, FALSE);
}

static json_object *
read_json(MfsFs *fs, const char *path)
{
    MfsNode *n = mfs_tree_resolve(fs->tree, path);
    g_autofree char *text = NULL;
    json_object *o;

    MRT_CHECK(n != NULL && !MFS_NODE_IS_DIR(n), "%s is a file", path);
    if (n == NULL || MFS_NODE_IS_DIR(n))
        return NULL;
    text = read_all(fs, n, NULL);
    o = json_tokener_parse(text);
    MRT_CHECK(o != NULL, "%s parses as JSON", path);
    return o;
}

static const char *
str_at(json_object *o, const char *key)
{
    json_object *v;

    return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : NULL;
}

/* ---- the table and the names ---------------------------------------- */

static void
test_the_table_names_each_view_once_and_the_root_holds_them(void)
{
    static const char *const blocks[] = { "pc.ram", NULL };
    g_autofree char *path = write_snapshot("table.mig", blocks, pc_devices, NULL);
    g_autoptr(MrFile) f = MRT_OPEN(path, NULL);
    g_autoptr(MfsTree) t = NULL;
    guint n = 0;

    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    t = tree_of(f);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    for (; mfs_views[n]; n++) {
        MfsNode *node = mfs_tree_lookup(t->root, mfs_views[n]->name);
        MRT_CHECK(node != NULL, "the root has the view \"%s\"", mfs_views[n]->name);
        if (node)
            MRT_CHECK(MFS_NODE_IS_DIR(node) == mfs_views[n]->dir,
                      "%s is a %s", mfs_views[n]->name,
                      mfs_views[n]->dir ? "directory" : "file");
        for (guint k = 0; k < n; k++)
            MRT_CHECK(!g_str_equal(mfs_views[k]->name, mfs_views[n]->name),
                      "one view named \"%s\"", mfs_views[n]->name);
    }
    MRT_CHECK_U64(t->root->children->len, n);
    /* The views the mount has today; a new one adds a line here. */
    MRT_CHECK_U64(n, 4);
    for (guint i = 0; i < 4; i++) {
        static const char *const want[] = { "devices", "ram", "snapshot.json", "superio" };
        MRT_CHECK_STR(((MfsNode *)g_ptr_array_index(t->root->children, i))->name,
                      want[i]);
    }
}

static void
test_inodes_follow_sorted_paths_siblings_before_children(void)
{
    static const char *const blocks[] = {
        "pc.ram", "/rom@etc/acpi/tables", "a", "a/b", "50%", "..", NULL
    };
    /* mramfs(5): "..", '%' escaped; "a" is also a directory, so the block
     * file is "a%file"; every directory's entries are numbered before the
     * entries below them, in strcmp order. */
    static const char *const want[] = {
        "",                               /* 1 */
        "devices", "ram", "snapshot.json", "superio",
        "devices/pc87312.0.json", "devices/serial.0.json",
        "ram/%2E%2E", "ram/50%25", "ram/a", "ram/a%file", "ram/pc.ram",
        "ram/rom@etc",
        "ram/a/b",
        "ram/rom@etc/acpi",
        "ram/rom@etc/acpi/tables",
        "superio/pc87312.json",
    };
    g_autofree char *path = write_snapshot("order.mig", blocks, pc_devices, NULL);
    g_autoptr(MrFile) f = MRT_OPEN(path, NULL);
    g_autoptr(MfsTree) t = NULL, again = NULL;

    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    t = tree_of(f);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    MRT_CHECK_U64(t->nodes->len, G_N_ELEMENTS(want));
    for (guint i = 0; i < G_N_ELEMENTS(want); i++) {
        MfsNode *n = mfs_tree_resolve(t, want[i]);
        MRT_CHECK(n != NULL && n->ino == i + 1, "%s is inode %u (got %" G_GINT64_MODIFIER
                  "u)", want[i], i + 1, n ? n->ino : 0);
        if (n)
            MRT_CHECK(mfs_tree_get(t, i + 1) == n, "inode %u is %s", i + 1, want[i]);
    }
    /* Block files carry their block: "a%file" is block "a". */
    {
        MfsNode *n = mfs_tree_resolve(t, "ram/a%file");
        if (n)
            MRT_CHECK_STR(((MrRamBlock *)n->data)->idstr, "a");
    }
    MRT_CHECK(mfs_tree_get(t, 0) == NULL && mfs_tree_get(t, G_N_ELEMENTS(want) + 1) == NULL,
              "no inode 0, none past the last");
    /* The same snapshot, the same numbers. */
    again = tree_of(f);
    CU_ASSERT_PTR_NOT_NULL_FATAL(again);
    for (guint i = 0; i < t->nodes->len; i++)
        MRT_CHECK_STR(((MfsNode *)g_ptr_array_index(again->nodes, i))->name,
                      ((MfsNode *)g_ptr_array_index(t->nodes, i))->name);
}

static void
test_long_names_are_cut_with_a_hash_and_collisions_refused(void)
{
    /* 200 '%' escape to 600 bytes: cut to 255 with "%~" and 32 hex digits
     * of the SHA-256 of the escaped component, never inside an escape. */
    g_autofree char *pct = g_strnfill(200, '%');
    g_autofree char *escaped = NULL;
    g_autofree char *sum = NULL;
    const char *blocks[] = { pct, NULL };
    g_autofree char *path = write_snapshot("long.mig", blocks, NULL, NULL);
    g_autoptr(MrFile) f = MRT_OPEN(path, NULL);
    g_autoptr(MfsTree) t = NULL;
    GString *e = g_string_new(NULL);
    MfsNode *ram, *n;

    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    for (guint i = 0; i < 200; i++)
        g_string_append(e, "%25");
    escaped = g_string_free(e, FALSE);
    sum = g_compute_checksum_for_string(G_CHECKSUM_SHA256, escaped, -1);
    t = tree_of(f);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    ram = mfs_tree_lookup(t->root, "ram");
    CU_ASSERT_PTR_NOT_NULL_FATAL(ram);
    MRT_CHECK_U64(ram->children->len, 1);
    n = g_ptr_array_index(ram->children, 0);
    /* 255 - 2 - 32 = 221 bytes kept, cut back to 219 to end on "%25". */
    MRT_CHECK_U64(strlen(n->name), 219 + 2 + 32);
    MRT_CHECK(strncmp(n->name, escaped, 219) == 0 &&
              strncmp(n->name + 219, "%~", 2) == 0 &&
              strncmp(n->name + 221, sum, 32) == 0,
              "\"%s\" is the escaped name cut at 219, \"%%~\" and the hash %.32s",
              n->name, sum);

    /* "a//b" and "a/b" differ only in an empty component: refused. */
    {
        static const char *const twins[] = { "a/b", "a//b", NULL };
        g_autofree char *p2 = write_snapshot("twins.mig", twins, NULL, NULL);
        g_autoptr(MrFile) f2 = MRT_OPEN(p2, NULL);
        g_autoptr(GError) err = NULL;
        g_autoptr(MfsTree) t2 = NULL;

        CU_ASSERT_PTR_NOT_NULL_FATAL(f2);
        t2 = mfs_tree_new(f2, &err);
        MRT_CHECK(t2 == NULL && g_error_matches(err, MR_ERROR, MR_ERROR_UNSUPPORTED) &&
                  strstr(err->message, p2) && strstr(err->message, "a//b"),
                  "two blocks on one path are refused naming the file and the "
                  "block: %s", err ? err->message : "(built)");
    }
}

/* ---- files through their ops ---------------------------------------- */

static void
test_files_are_read_and_sought_through_their_ops(void)
{
    static const char *const blocks[] = { "pc.ram", NULL };
    g_autofree char *path = write_snapshot("ops.mig", blocks, pc_devices, NULL);
    g_autoptr(MrFile) f = MRT_OPEN(path, NULL);
    g_autoptr(MfsTree) t = NULL;
    MfsFs fs = { .opts.max_read = 1 << 20 };
    guint8 buf[2 * PS], want[PS];
    json_object *o;
    MfsNode *n;
    guint64 at;
    gsize got;

    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    t = tree_of(f);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    fs.tree = t;
    n = mfs_tree_resolve(t, "ram/pc.ram");
    CU_ASSERT_PTR_NOT_NULL_FATAL(n);
    MRT_CHECK_U64(n->ops->size(&fs, n), 0x10000);
    MRT_CHECK_U64(n->ops->stored(&fs, n), PS);
    /* Pages 0 (absent, zeros) and 1 (the writer's pattern). */
    MRT_CHECK(n->ops->read(&fs, n, buf, 0, sizeof(buf), &got) == 0 &&
              got == sizeof(buf), "read two pages");
    mrt_fill_page(0, 1, want, PS);
    MRT_CHECK(buf[0] == 0 && memcmp(buf, buf + 1, PS - 1) == 0, "page 0 reads as zeros");
    MRT_CHECK(memcmp(buf + PS, want, PS) == 0, "page 1 reads as written");
    MRT_CHECK(n->ops->read(&fs, n, buf, 0x10000 - 10, 100, &got) == 0 && got == 10,
              "a read across the end is short (%zu)", got);
    MRT_CHECK(n->ops->read(&fs, n, buf, 0x10000, 100, &got) == 0 && got == 0,
              "a read at the end is empty");
    MRT_CHECK(n->ops->seek(&fs, n, 0, TRUE, &at) == 0 && at == PS,
              "SEEK_DATA from 0: page 1 (0x%" G_GINT64_MODIFIER "x)", at);
    MRT_CHECK(n->ops->seek(&fs, n, PS + 5, FALSE, &at) == 0 && at == 2 * PS,
              "SEEK_HOLE inside page 1: page 2");
    MRT_CHECK(n->ops->seek(&fs, n, 2 * PS, TRUE, &at) == 0 && at == MFS_SEEK_NONE,
              "SEEK_DATA after the last page: none");
    MRT_CHECK(n->ops->write && !n->ops->apply, "a block is written in place");

    o = read_json(&fs, "snapshot.json");
    if (o)
        MRT_CHECK_STR(str_at(o, "machine"), "40p");
    json_object_put(o);
    o = read_json(&fs, "devices/serial.0.json");
    if (o)
        MRT_CHECK(json_object_get_boolean(json_object_object_get(o, "decoded")),
                  "devices/serial.0.json is decoded");
    json_object_put(o);
    n = mfs_tree_resolve(t, "devices/serial.0.json");
    MRT_CHECK(n && n->ops->write == NULL && n->ops->apply == NULL,
              "a device file is read-only");
    n = mfs_tree_resolve(t, "superio/pc87312.json");
    MRT_CHECK(n && n->ops->apply != NULL, "superio/pc87312.json is a document");
    o = read_json(&fs, "superio/pc87312.json");
    if (o) {
        json_object *regs = json_object_object_get(o, "registers");
        MRT_CHECK_STR(str_at(regs, "fer"), "0x0f");
        MRT_CHECK_STR(str_at(regs, "far"), "0x10");
    }
    json_object_put(o);
}

/* ---- what does not decode ------------------------------------------- */

static void
check_undecoded(MfsFs *fs, const char *path, const char *device,
                const char *needle)
{
    json_object *o = read_json(fs, path);
    MfsNode *n = mfs_tree_resolve(fs->tree, path);

    if (o == NULL)
        return;
    MRT_CHECK(json_object_object_get(o, "decoded") &&
              !json_object_get_boolean(json_object_object_get(o, "decoded")),
              "%s: \"decoded\": false", path);
    MRT_CHECK(str_at(o, "reason") && strstr(str_at(o, "reason"), needle),
              "%s: the reason names \"%s\": %s", path, needle,
              str_at(o, "reason") ? str_at(o, "reason") : "(none)");
    if (device)
        MRT_CHECK_STR(str_at(o, "device"), device);
    MRT_CHECK(n->ops->apply == NULL && n->ops->write == NULL,
              "%s cannot be written", path);
    json_object_put(o);
}

static void
test_a_pc87312_the_view_cannot_read_is_a_read_only_document(void)
{
    static const char *const blocks[] = { "pc.ram", NULL };
    const Dev devs[] = {
        { "serial", serial_desc, serial_body, sizeof(serial_body) },
        { "pc87312", pc87312_buffer_desc, pc87312_body, sizeof(pc87312_body) },
        { NULL },
    };
    g_autofree char *path = write_snapshot("buffer.mig", blocks, devs, NULL);
    g_autoptr(MrFile) f = MRT_OPEN(path, NULL);
    g_autoptr(MfsTree) t = NULL;
    MfsFs fs = { 0 };
    json_object *o;

    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    t = tree_of(f);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    fs.tree = t;
    check_undecoded(&fs, "superio/pc87312.json", "pc87312", "pc87312");
    /* devices/ decodes a buffer as it is. */
    o = read_json(&fs, "devices/pc87312.0.json");
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
    const Dev devs[] = {
        { "pci:05.0/via-isa", short_via_desc, short_via_body, sizeof(short_via_body) },
        { NULL },
    };
    g_autofree char *path = write_snapshot("via.mig", blocks, devs, NULL);
    g_autoptr(MrFile) f = MRT_OPEN(path, NULL);
    g_autoptr(MfsTree) t = NULL;
    MfsFs fs = { 0 };

    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    t = tree_of(f);
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
    g_autofree char *path = write_snapshot("cut.mig", blocks, pc_devices, &l);
    g_autoptr(MrFile) f = MRT_OPEN(path, NULL);
    g_autoptr(MfsTree) t = NULL;
    MfsFs fs = { 0 };

    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    mrt_truncate(path, MRT_DEVICE(&l, 0)->body_offset + 1);
    t = tree_of(f);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    fs.tree = t;
    check_undecoded(&fs, "devices/serial.0.json", NULL, path);
    check_undecoded(&fs, "devices/pc87312.0.json", NULL, path);
    check_undecoded(&fs, "superio/pc87312.json", "pc87312", path);
    MRT_CHECK(mfs_tree_resolve(t, "ram/pc.ram") != NULL, "ram/pc.ram is there");
    mr_writer_layout_clear(&l);
}

/* ---- the PC87312 document ------------------------------------------- */

typedef struct {
    char *path;
    MrWriterLayout layout;
    MrFile *file;
    MfsTree *tree;
    MfsFs fs;
} RwMount;

static gboolean
rw_open(RwMount *m, const char *name)
{
    static const char *const blocks[] = { "pc.ram", NULL };
    MrOpenOptions opts = { .writable = TRUE };

    memset(m, 0, sizeof(*m));
    m->path = write_snapshot(name, blocks, pc_devices, &m->layout);
    m->file = MRT_OPEN(m->path, &opts);
    if (m->file == NULL)
        return FALSE;
    m->tree = tree_of(m->file);
    if (m->tree == NULL)
        return FALSE;
    m->fs.tree = m->tree;
    m->fs.updater = mr_updater_new(m->file, FALSE);
    g_mutex_init(&m->fs.doc_lock);
    return TRUE;
}

static void
rw_close(RwMount *m)
{
    mr_updater_free(m->fs.updater);
    g_mutex_clear(&m->fs.doc_lock);
    mfs_tree_free(m->tree);
    mr_file_close(m->file);
    mr_writer_layout_clear(&m->layout);
    g_free(m->path);
}

/* FER FAR PTR, selected_index, read_id_step as the file holds them. */
static void
file_regs(const RwMount *m, guint8 out[5])
{
    guint64 body = MRT_DEVICE(&m->layout, 1)->body_offset;
    guint8 b[5];

    mrt_read(m->path, body, b, 5);
    out[0] = b[2], out[1] = b[3], out[2] = b[4], out[3] = b[1], out[4] = b[0];
}

static int
apply(RwMount *m, const char *text)
{
    MfsNode *n = mfs_tree_resolve(m->tree, "superio/pc87312.json");

    return n ? n->ops->apply(&m->fs, n, text, strlen(text)) : -ENOENT;
}

static void
test_the_pc87312_document_is_applied_and_both_files_refreshed(void)
{
    RwMount m;
    guint8 regs[5];
    json_object *o;

    if (!rw_open(&m, "apply.mig")) {
        CU_FAIL("snapshot opened writable");
        return;
    }
    /* uart2 to COM3 (FAR bits 5:4 = 2, address set 0: 0x3e8), IDE on
     * (FER bit 6), selected_index 3 (FORMAT.md §14.1.3). */
    MRT_CHECK(apply(&m, "{\"functions\": {\"uart2\": {\"iobase\": \"0x3e8\", "
                        "\"irq\": 4}, \"ide\": {\"enabled\": true}}, "
                        "\"registers\": {\"selected_index\": 3}}") == 0,
              "the document is applied");
    file_regs(&m, regs);
    MRT_CHECK(regs[0] == 0x4f && regs[1] == 0x20 && regs[2] == 0x00 &&
              regs[3] == 3 && regs[4] == 2,
              "the file holds FER FAR PTR 4f 20 00, selected 3, step 2 (got %02x "
              "%02x %02x, %u, %u)", regs[0], regs[1], regs[2], regs[3], regs[4]);
    o = read_json(&m.fs, "superio/pc87312.json");
    if (o) {
        json_object *r = json_object_object_get(o, "registers");
        MRT_CHECK_STR(str_at(r, "fer"), "0x4f");
        MRT_CHECK_STR(str_at(r, "far"), "0x20");
        MRT_CHECK(json_object_get_int(json_object_object_get(r, "selected_index")) == 3,
                  "superio/pc87312.json shows selected_index 3");
    }
    json_object_put(o);
    o = read_json(&m.fs, "devices/pc87312.0.json");
    if (o) {
        json_object *v = json_object_object_get(json_object_object_get(
            json_object_object_get(o, "fields"), "regs"), "value");
        MRT_CHECK(json_object_is_type(v, json_type_array) &&
                  json_object_get_int(json_object_array_get_idx(v, 0)) == 0x4f &&
                  json_object_get_int(json_object_array_get_idx(v, 1)) == 0x20,
                  "devices/pc87312.0.json shows the new regs");
    }
    json_object_put(o);
    rw_close(&m);
}

static void
test_a_refused_document_changes_nothing_and_is_einval(void)
{
    static const char *const refused[] = {
        "{\"functions\": {\"uart2\": {\"speed\": 9600}}}",  /* unknown key */
        "{\"functions\": {\"uart2\": {\"iobase\": \"0x3e0\"}}}", /* no such base */
        "{\"functions\": {",                                /* cut short */
    };
    RwMount m;
    guint8 before[5], after[5];
    g_autofree char *doc_before = NULL, *doc_after = NULL;

    if (!rw_open(&m, "refuse.mig")) {
        CU_FAIL("snapshot opened writable");
        return;
    }
    file_regs(&m, before);
    doc_before = read_all(&m.fs, mfs_tree_resolve(m.tree, "superio/pc87312.json"), NULL);
    for (guint i = 0; i < G_N_ELEMENTS(refused); i++) {
        int r = apply(&m, refused[i]);
        MRT_CHECK(r == -EINVAL, "%s: -EINVAL (got %d)", refused[i], r);
    }
    file_regs(&m, after);
    MRT_CHECK(memcmp(before, after, 5) == 0, "the registers in the file are unchanged");
    doc_after = read_all(&m.fs, mfs_tree_resolve(m.tree, "superio/pc87312.json"), NULL);
    MRT_CHECK_STR(doc_after, doc_before);
    rw_close(&m);
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
    RwMount m;
    MfsFs *fs = &m.fs;
    MrUpdater *rw;

    if (!rw_open(&m, "modes.mig")) {
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
    rw_close(&m);
}

int
main(int argc, char **argv)
{
    static const MrtTest tree_tests[] = {
        MRT_TEST(test_the_table_names_each_view_once_and_the_root_holds_them),
        MRT_TEST(test_inodes_follow_sorted_paths_siblings_before_children),
        MRT_TEST(test_long_names_are_cut_with_a_hash_and_collisions_refused),
        MRT_END,
    };
    static const MrtTest file_tests[] = {
        MRT_TEST(test_files_are_read_and_sought_through_their_ops),
        MRT_TEST(test_a_pc87312_the_view_cannot_read_is_a_read_only_document),
        MRT_TEST(test_a_via_isa_the_view_cannot_read_says_why),
        MRT_TEST(test_sections_cut_after_open_are_files_that_say_why),
        MRT_TEST(test_the_pc87312_document_is_applied_and_both_files_refreshed),
        MRT_TEST(test_a_refused_document_changes_nothing_and_is_einval),
        MRT_TEST(test_modes_follow_the_snapshot_never_wider),
        MRT_END,
    };
    static const MrtSuite suites[] = {
        { "tree: names and inodes", tree_tests },
        { "files: ops, undecoded sections, documents, modes", file_tests },
        { NULL, NULL },
    };

    return mrt_main(argc, argv, suites);
}
