/* .mramfs/: what the daemon knows, for users who cannot see its log.
 *
 *   log         its recent messages with their times (mfs-log.h): refused
 *               writes with their reason, I/O errors, a snapshot truncated,
 *               rewritten, deleted or renamed under the mount;
 *   stats.json  requests and bytes per view and per RAM block since the
 *               mount (MfsNodeStats), pages made present and punched,
 *               the mount's options, its uptime and the snapshot's state.
 *
 * Both are made at each read, never cached, and served whatever state the
 * snapshot is in (MFS_FILE_DAEMON). */
#include "mfs-fs.h"
#include "mr-read.h"
#include "mfs-log.h"
#include "mfs-text.h"

static const MfsFileOps daemon_text_ops = {
    .flags = MFS_FILE_DAEMON,
    .size = mfs_text_size,
    .read = mfs_text_read,
    .free = mfs_text_free,
};

static GBytes *
log_bytes(MfsFs *fs, const MfsNode *n)
{
    return mfs_log_text();
}

static guint64
load(const guint64 *counter)
{
    return __atomic_load_n(counter, __ATOMIC_RELAXED);
}

static void
add_counters(json_object *o, const MfsNodeStats *s)
{
    const struct {
        const char *key;
        const guint64 *v;
    } c[] = {
        { "reads", &s->reads },   { "read_bytes", &s->read_bytes },
        { "writes", &s->writes }, { "write_bytes", &s->write_bytes },
        { "lseeks", &s->lseeks },
    };

    for (gsize i = 0; i < G_N_ELEMENTS(c); i++) {
        json_object *v = json_object_object_get(o, c[i].key);
        guint64 was = v ? (guint64)json_object_get_uint64(v) : 0;
        json_object_object_add(o, c[i].key, json_object_new_uint64(was + load(c[i].v)));
    }
}

/* The top-level entry a node is under: its view. */
static const MfsNode *
view_of(const MfsFs *fs, const MfsNode *n)
{
    while (n->parent != fs->tree->root)
        n = n->parent;
    return n;
}

static json_object *
views_json(MfsFs *fs)
{
    json_object *views = json_object_new_object();
    GPtrArray *nodes = fs->tree->nodes;
    const MfsNode *root = fs->tree->root;

    for (guint i = 0; i < root->children->len; i++) {
        json_object *o = json_object_new_object();
        add_counters(o, &(MfsNodeStats){ 0 });
        json_object_object_add(views, ((MfsNode *)g_ptr_array_index(root->children, i))->name, o);
    }
    for (guint i = 0; i < nodes->len; i++) {
        const MfsNode *n = g_ptr_array_index(nodes, i);
        if (!MFS_NODE_IS_DIR(n))
            add_counters(json_object_object_get(views, view_of(fs, n)->name), &n->stats);
    }
    return views;
}

static json_object *
blocks_json(MfsFs *fs)
{
    const MrFile *f = fs->tree->file;
    json_object *arr = json_object_new_array();
    g_autoptr(GHashTable) node_of = g_hash_table_new(NULL, NULL);

    /* A block's counters are those of its file under ram/, whatever other
     * files (guest/physmem, restore/) show of it or hold as their data. */
    for (guint i = 0; i < fs->tree->nodes->len; i++) {
        MfsNode *n = g_ptr_array_index(fs->tree->nodes, i);
        const MrRamBlock *b = mfs_ram_block_of(n);
        if (b)
            g_hash_table_insert(node_of, (gpointer)b, n);
    }
    /* The bitmaps are swapped when a rewritten snapshot is taken. */
    g_rw_lock_reader_lock(&fs->model_lock);
    for (guint i = 0; i < f->blocks->len; i++) {
        const MrRamBlock *b = g_ptr_array_index(f->blocks, i);
        const MfsNode *n = g_hash_table_lookup(node_of, b);
        json_object *o = json_object_new_object();
        guint64 added = 0, punched = 0, present;

        json_object_object_add(o, "name", json_object_new_string(b->idstr));
        add_counters(o, n ? &n->stats : &(MfsNodeStats){ 0 });
        if (fs->updater)
            mr_updater_block_counts(fs->updater, b, &added, &punched);
        json_object_object_add(o, "pages_made_present", json_object_new_uint64(added));
        json_object_object_add(o, "pages_punched", json_object_new_uint64(punched));
        /* null when the bitmap can no longer be read whole. */
        json_object_object_add(o, "present_pages",
                               mr_block_count_present(b, &present, NULL)
                               ? json_object_new_uint64(present) : NULL);
        json_object_array_add(arr, o);
    }
    g_rw_lock_reader_unlock(&fs->model_lock);
    return arr;
}

static json_object *
options_json(const MfsOptions *o)
{
    json_object *j = json_object_new_object();

    json_object_object_add(j, "read_only", json_object_new_boolean(o->read_only));
    json_object_object_add(j, "sync", json_object_new_boolean(o->sync));
    json_object_object_add(j, "direct_io", json_object_new_boolean(o->direct_io));
    json_object_object_add(j, "splice", json_object_new_boolean(o->splice));
    json_object_object_add(j, "max_read", json_object_new_uint64(o->max_read));
    json_object_object_add(j, "watch", json_object_new_boolean(!o->no_watch));
    if (o->has_uid)
        json_object_object_add(j, "uid", json_object_new_uint64(o->uid));
    if (o->has_gid)
        json_object_object_add(j, "gid", json_object_new_uint64(o->gid));
    if (o->has_umask)
        json_object_object_add(j, "umask", json_object_new_uint64(o->umask));
    return j;
}

static GBytes *
stats_bytes(MfsFs *fs, const MfsNode *n)
{
    json_object *o = json_object_new_object();
    gint64 up = g_get_monotonic_time() - fs->mounted_at;

    json_object_object_add(o, "snapshot", json_object_new_string(fs->tree->file->path));
    json_object_object_add(o, "state", json_object_new_string(mfs_snapshot_state_name(fs)));
    json_object_object_add(o, "uptime_seconds", json_object_new_double(up / 1e6));
    json_object_object_add(o, "watch", json_object_new_string(
                               fs->watch ? mfs_watch_method(fs->watch)
                                         : "none (-o nowatch)"));
    json_object_object_add(o, "options", options_json(&fs->opts));
    json_object_object_add(o, "log_messages", json_object_new_uint64(mfs_log_count()));
    json_object_object_add(o, "views", views_json(fs));
    json_object_object_add(o, "ram_blocks", blocks_json(fs));
    return mfs_json_bytes(o);
}

static gboolean
build_mramfs(MfsTreeBuilder *tb, MrFile *f, GError **err)
{
    char *log[] = { "log", NULL }, *stats[] = { "stats.json", NULL };

    return mfs_tree_add(tb, log, 0, &daemon_text_ops, mfs_text_new_generated(log_bytes)) &&
           mfs_tree_add(tb, stats, 0, &daemon_text_ops,
                        mfs_text_new_generated(stats_bytes));
}

const MfsView mfs_view_mramfs = { ".mramfs", TRUE, build_mramfs };
