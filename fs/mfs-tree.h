/* The mounted tree: which inode is which directory, RAM block or JSON file.
 *
 * It is built once at mount from the validated model and never changes, so
 * the FUSE handlers read it without locks.  Inode numbers are assigned in
 * sorted path order, so the same snapshot gives the same numbers at every
 * mount.  No FUSE header here: the tree is tested without a mount.
 */
#ifndef MFS_TREE_H
#define MFS_TREE_H

#include <glib.h>

#include "mr-file.h"

typedef enum {
    MFS_NODE_DIR,
    MFS_NODE_BLOCK, /* a RAM block, read through format/ */
    MFS_NODE_BLOB,  /* a JSON file whose bytes are built at mount */
} MfsNodeKind;

typedef struct MfsNode MfsNode;
struct MfsNode {
    guint64 ino;
    MfsNodeKind kind;
    char *name;           /* escaped directory entry name */
    MfsNode *parent;
    GPtrArray *children;  /* MfsNode*, sorted by name (dirs only) */
    GHashTable *by_name;  /* name -> MfsNode* (dirs only) */
    MrRamBlock *block;    /* MFS_NODE_BLOCK */
    GBytes *blob;         /* MFS_NODE_BLOB; read with mfs_tree_blob() */
    /* Or, for a blob made afresh at each mfs_tree_blob(): */
    GBytes *(*generate)(const MrFile *file);
    /* A writable JSON file: parses a whole written document and changes
     * the snapshot, or fails without changing anything. */
    gboolean (*apply)(void *ctx, struct MfsNode *n, const char *text,
                      gsize len, GError **err);
};

typedef struct {
    MrFile *file;         /* borrowed */
    GPtrArray *nodes;     /* index ino - 1 */
    MfsNode *root;
    GMutex blob_lock;     /* JSON files change when Super I/O is written */
} MfsTree;

#define MFS_PC87312_NODE "pc87312.json"

#define MFS_ROOT_INO 1

MfsTree *mfs_tree_new(MrFile *file, GError **err);
void mfs_tree_free(MfsTree *t);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MfsTree, mfs_tree_free)

MfsNode *mfs_tree_get(const MfsTree *t, guint64 ino);
/* A JSON document as the bytes of a file (pretty, newline-terminated);
 * takes the reference to o. */
GBytes *mfs_json_bytes(json_object *o);
/* A JSON file's current bytes (a reference) and their replacement. */
GBytes *mfs_tree_blob(MfsTree *t, const MfsNode *n);
void mfs_tree_set_blob(MfsTree *t, MfsNode *n, GBytes *blob); /* takes blob */
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
