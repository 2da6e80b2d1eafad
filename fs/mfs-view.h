/* The views of the mount, and the operations their files are served with.
 *
 * Every top-level entry of the mount (ram/, devices/, superio/,
 * snapshot.json, guest/, libvirt/, .mramfs/, restore/) is one view: one
 * MfsView in the table of mfs-views.c and one file, fs/mfs-view-NAME.c,
 * that builds the view's files and says how they are served.  A view
 * reaches another's files only through what that view's file exports in
 * mfs-fs.h (mfs_ram_block_of, mfs_ram_invalidate), never by their data.  The FUSE handlers (mfs-ops.c, mfs-write.c, mfs-doc.c)
 * know no view: they call the MfsFileOps of the node a request names.
 *
 * Adding a view:
 *   1. fs/mfs-view-NAME.c: a build() that adds each file with mfs_tree_add()
 *      (mfs-tree.h), the MfsFileOps its files are served with, and
 *      `const MfsView mfs_view_NAME = { "NAME", dir, build };`;
 *   2. one line in mfs_views[] (mfs-views.c) and one in fs/meson.build.
 * Nothing else changes: inode numbers follow from the sorted paths, modes
 * from the ops (mfs_fill_stat), and the handlers from the ops.
 *
 * Kinds of files and their ops:
 *   - RAM blocks (mfs-view-ram.c): sparse, writable in place;
 *   - text the mount builds in memory (mfs-text.h: mfs_text_ops and its
 *     pieces), fixed, refreshed when the snapshot changes, or made afresh
 *     at each read (snapshot.json; a log or statistics would be the same);
 *   - writable documents: text with an apply() (superio/pc87312.json).
 *   - A file made of pieces of the snapshot (format/mr-vfile.h: guest
 *     memory, a core file, a migration stream) has an MfsVfile holding the
 *     MrVfile as its data and the ops of mfs-vfile.h:
 *     mfs_vfile_ro_uncached_ops read-only, or
 *     mfs_vfile_ram_ops, writable over its RAM block pieces and
 *     MFS_FILE_UNCACHED, as its bytes are also the block files' (a write to
 *     ram/pc.ram changes guest/physmem), which are uncached on a read-write
 *     mount for the same reason: the kernel caches each file's pages
 *     apart.
 *
 * Every operation returns 0 or -errno; a view turns the GErrors of the
 * lower layers into errno with mfs_errno_from_error() (mfs-fs.h), the one
 * place that does, which also logs them.
 */
#ifndef MFS_VIEW_H
#define MFS_VIEW_H

#include <glib.h>

#include "mr-file.h"

typedef struct MfsFs MfsFs;
typedef struct MfsNode MfsNode;
typedef struct MfsTreeBuilder MfsTreeBuilder;
struct fuse_bufvec;

/* mfs_fill_stat() and open(): */
enum {
    /* On a read-write mount the file's bytes change without a write to it
     * (a document refreshed after another one was applied, a summary of
     * the pages present): never served from the kernel's page cache. */
    MFS_FILE_UNCACHED = 1 << 0,
    /* About the daemon, not the snapshot (.mramfs/): never cached on any
     * mount, its attributes never kept, and served while the snapshot's
     * files fail (mfs-change.c); one that reads the model may wait for a
     * validation in progress. */
    MFS_FILE_DAEMON = 1 << 1,
};

/* seek(): no data at or after the offset (lseek's ENXIO). */
#define MFS_SEEK_NONE G_MAXUINT64

typedef struct {
    guint flags;
    /* st_size.  Required. */
    guint64 (*size)(MfsFs *fs, const MfsNode *n);
    /* Bytes the file stores (st_blocks is this in 512-byte units, rounded
     * up).  NULL: all of its size. */
    guint64 (*stored)(MfsFs *fs, const MfsNode *n);
    /* Copies up to len bytes at off into buf (the thread's reply buffer,
     * len <= max_read); *got < len only where the file ends (0 at or past
     * its end).  Required. */
    int (*read)(MfsFs *fs, const MfsNode *n, void *buf, guint64 off,
                gsize len, gsize *got);
    /* The same bytes as buffers for libfuse to splice (-o splice); the
     * caller frees *out with g_free().  NULL: read() serves -o splice. */
    int (*splice)(MfsFs *fs, const MfsNode *n, guint64 off, gsize len,
                  struct fuse_bufvec **out);
    /* SEEK_DATA (data TRUE) or SEEK_HOLE from off < size: the first offset
     * >= off that is data (or a hole), the end of the file being a hole,
     * or MFS_SEEK_NONE.  NULL: the whole file is data. */
    int (*seek)(MfsFs *fs, const MfsNode *n, guint64 off, gboolean data,
                guint64 *out);
    /* Writes [off, off + len), which the caller has kept inside the size
     * (a file never changes size); buf NULL writes zeros (fallocate).
     * Called only on a read-write mount.  NULL: the file cannot be
     * written in place. */
    int (*write)(MfsFs *fs, MfsNode *n, const void *buf, guint64 off,
                 gsize len);
    /* A writable document: what a program wrote into an open file, whole,
     * when it is closed (mfs-doc.c).  Changes the snapshot, or refuses and
     * changes nothing but what an I/O error interrupted.  Called one at a
     * time, only on a read-write mount. */
    int (*apply)(MfsFs *fs, MfsNode *n, const char *text, gsize len);
    /* After a document changed section `changed` of the snapshot: rebuild
     * the file's bytes if they show it (mfs_fs_section_changed()); readers
     * may be reading meanwhile.  After another program rewrote the
     * snapshot with the same layout (mfs-change.c), once for each device
     * section and then once with NULL, for whatever else of the model the
     * file shows; those calls hold the model as the writer, so nothing
     * else uses any file, and the kernel's cache of every file (pages and
     * size) is dropped after them.  Never fails: a file it cannot rebuild
     * says why and fails its reads (a file cannot appear or disappear
     * without a remount). */
    void (*refresh)(MfsFs *fs, MfsNode *n, const MrSection *changed);
    /* Extended attributes: a value (freed by the caller) or NULL, and the
     * names, each followed by '\0'.  NULL: none. */
    char *(*getxattr)(MfsFs *fs, const MfsNode *n, const char *name);
    void (*listxattr)(MfsFs *fs, const MfsNode *n, GString *names);
    /* Frees the node's data when the tree is freed. */
    void (*free)(gpointer data);
} MfsFileOps;

typedef struct {
    const char *name; /* its entry in the mount's root */
    gboolean dir;     /* a directory of files, or one file */
    /* Adds the view's files with mfs_tree_add().  Fails only for a
     * snapshot whose objects the view cannot name apart; an object it
     * cannot decode is still a file, one that says why. */
    gboolean (*build)(MfsTreeBuilder *b, MrFile *f, GError **err);
} MfsView;

/* mfs-views.c: the views, NULL-terminated. */
extern const MfsView *const mfs_views[];

#endif
