/* The mount's tree without a mount (fs/mfs-tree.h, fs/mfs-view.h): the
 * table's entries at the root, names (mramfs(5) escaping and shortening)
 * and inode numbers of trees built from snapshots mr-writer makes.
 *
 * Expected names and inode numbers are typed in from mramfs(5)'s rules,
 * not computed with the code under test.
 */
#include <string.h>

#include "fst-helpers.h"

/* ---- the table and the names ---------------------------------------- */

static void
test_the_table_names_each_view_once_and_the_root_holds_them(void)
{
    static const char *const blocks[] = { "pc.ram", NULL };
    g_autofree char *path = fst_write_snapshot("table.mig", blocks, fst_pc_devices, NULL);
    g_autoptr(MrFile) f = MRT_OPEN(path, NULL);
    g_autoptr(MfsTree) t = NULL;
    guint n = 0;

    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    t = fst_tree_of(f);
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
    MRT_CHECK_U64(n, 8);
    for (guint i = 0; i < 8; i++) {
        static const char *const want[] = { ".mramfs", "devices", "guest", "libvirt", "ram",
                                            "restore", "snapshot.json", "superio" };
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
        ".mramfs", "devices", "guest", "libvirt", "ram", "restore", "snapshot.json",
        "superio",
        ".mramfs/log", ".mramfs/stats.json",
        "devices/pc87312.0.json", "devices/serial.0.json",
        "guest/memmap.json", "guest/physmem",
        "ram/%2E%2E", "ram/50%25", "ram/a", "ram/a%file", "ram/pc.ram",
        "ram/rom@etc",
        "ram/a/b",
        "ram/rom@etc/acpi",
        "ram/rom@etc/acpi/tables",
        "restore/lazy.mig", "restore/qemu-args",
        "superio/pc87312.json",
    };
    g_autofree char *path = fst_write_snapshot("order.mig", blocks, fst_pc_devices, NULL);
    g_autoptr(MrFile) f = MRT_OPEN(path, NULL);
    g_autoptr(MfsTree) t = NULL, again = NULL;

    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    t = fst_tree_of(f);
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
    again = fst_tree_of(f);
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
    g_autofree char *path = fst_write_snapshot("long.mig", blocks, NULL, NULL);
    g_autoptr(MrFile) f = MRT_OPEN(path, NULL);
    g_autoptr(MfsTree) t = NULL;
    GString *e = g_string_new(NULL);
    MfsNode *ram, *n;

    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    for (guint i = 0; i < 200; i++)
        g_string_append(e, "%25");
    escaped = g_string_free(e, FALSE);
    sum = g_compute_checksum_for_string(G_CHECKSUM_SHA256, escaped, -1);
    t = fst_tree_of(f);
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
        g_autofree char *p2 = fst_write_snapshot("twins.mig", twins, NULL, NULL);
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

int
main(int argc, char **argv)
{
    static const MrtTest tree_tests[] = {
        MRT_TEST(test_the_table_names_each_view_once_and_the_root_holds_them),
        MRT_TEST(test_inodes_follow_sorted_paths_siblings_before_children),
        MRT_TEST(test_long_names_are_cut_with_a_hash_and_collisions_refused),
        MRT_END,
    };
    static const MrtSuite suites[] = {
        { "tree: the views, names and inodes", tree_tests },
        { NULL, NULL },
    };

    return mrt_main(argc, argv, suites);
}
