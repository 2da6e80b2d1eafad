/* The mounted tree: which inode is which directory or file, and the names.
 *
 * It is built once at mount by the views of mfs_views[] (mfs-view.h) from
 * the validated model and never changes shape, so the FUSE handlers walk it
 * without locks; a file's bytes are its ops' business.  Inode numbers are
 * assigned in sorted path order, siblings before their children, so the
 * same snapshot gives the same numbers at every mount.  Nothing here needs
 * a mount: tests/fs/test-tree.c builds trees from synthetic snapshots.
 */
#ifndef MFS_TREE_H
#define MFS_TREE_H

#include <glib.h>

#include "mfs-view.h"
#include "mr-file.h"

/* What was asked of a file since the mount (.mramfs/stats.json); bumped
 * with relaxed atomics on the read path. */
typedef struct {
    guint64 reads, read_bytes;
    guint64 writes, write_bytes;
    guint64 lseeks;
} MfsNodeStats;

struct MfsNode {
    guint64 ino;
    char *name;           /* escaped directory entry name */
    MfsNode *parent;
    /* A directory (ops == NULL): */
    GPtrArray *children;  /* MfsNode*, sorted by name */
    GHashTable *by_name;  /* name -> MfsNode* */
    /* A file: how it is served, and its view's data (freed by ops->free). */
    const MfsFileOps *ops;
    gpointer data;
    MfsNodeStats stats;
};

#define MFS_NODE_IS_DIR(n) ((n)->ops == NULL)

typedef struct {
    MrFile *file;         /* borrowed */
    GPtrArray *nodes;     /* index ino - 1 */
    MfsNode *root;
} MfsTree;

#define MFS_ROOT_INO 1

/* The tree of every view in mfs_views[]. */
MfsTree *mfs_tree_new(MrFile *file, GError **err);
/* The tree of these views (NULL-terminated), for tests. */
MfsTree *mfs_tree_new_with(MrFile *file, const MfsView *const *views,
                           GError **err);
void mfs_tree_free(MfsTree *t);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MfsTree, mfs_tree_free)

/* Adds a file of the view being built at parts, its path below the view's
 * directory as escaped components (mfs_block_path()); NULL for a view that
 * is one file.  The last suffix_len bytes of the last component (a
 * device's ".INSTANCE.json") are kept when a long name is shortened.
 * Takes data: ops->free frees it, also when it returns FALSE because the
 * path is taken (the view then says by what, with its own context). */
gboolean mfs_tree_add(MfsTreeBuilder *b, char **parts, gsize suffix_len,
                      const MfsFileOps *ops, gpointer data);

MfsNode *mfs_tree_get(const MfsTree *t, guint64 ino);
MfsNode *mfs_tree_lookup(const MfsNode *dir, const char *name);
/* The node at a '/'-separated path below the root ("ram/pc.ram"). */
MfsNode *mfs_tree_resolve(const MfsTree *t, const char *path);

/* The path components below ram/ for a block idstr, escaped as mramfs(5)
 * documents: '%' -> "%25", a "." or ".." component -> "%2E" / "%2E%2E",
 * empty components dropped, and an idstr with no component left becomes
 * one component with '/' as "%2F".  The caller frees the vector. */
char **mfs_block_path(const char *idstr);
/* Appended to a block file's name when the same path is also a directory
 * (blocks "a" and "a/b").  '%' followed by non-hex can never come out of
 * escaping, so the name cannot collide. */
#define MFS_FILE_SUFFIX "%file"
/* NAME_MAX: the kernel refuses a longer name before FUSE sees it.  An
 * idstr has up to 255 bytes, three times that once '%' is escaped, so a
 * longer directory entry is cut to fit and ends in "%~" and this many hex
 * digits of the SHA-256 of its escaped component (mramfs(5)). */
#define MFS_NAME_MAX 255
#define MFS_NAME_HASH_DIGITS 32

#endif
