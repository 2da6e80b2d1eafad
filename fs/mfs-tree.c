/* The tree: names (mramfs(5) escaping, shortening), a path trie the views
 * fill, and inode numbers assigned once every file is placed. */
#include "mfs-tree.h"

#include <string.h>

#include "mr-error.h"

/* A directory when ops is NULL. */
static MfsNode *
node_new(const char *name, const MfsFileOps *ops, gpointer data)
{
    MfsNode *n = g_new0(MfsNode, 1);

    n->name = g_strdup(name);
    n->ops = ops;
    n->data = data;
    if (ops == NULL) {
        n->children = g_ptr_array_new();
        n->by_name = g_hash_table_new(g_str_hash, g_str_equal);
    }
    return n;
}

static void
node_free(gpointer p)
{
    MfsNode *n = p;

    if (n->children)
        g_ptr_array_unref(n->children);
    if (n->by_name)
        g_hash_table_unref(n->by_name);
    if (n->ops && n->ops->free && n->data)
        n->ops->free(n->data);
    g_free(n->name);
    g_free(n);
}

static void
add_child(MfsNode *dir, MfsNode *child)
{
    child->parent = dir;
    g_ptr_array_add(dir->children, child);
    g_hash_table_insert(dir->by_name, child->name, child);
}

static char *
escape_component(const char *s, gsize len)
{
    GString *out = g_string_sized_new(len + 4);

    if ((len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.')) {
        for (gsize i = 0; i < len; i++)
            g_string_append(out, "%2E");
        return g_string_free(out, FALSE);
    }
    for (gsize i = 0; i < len; i++) {
        if (s[i] == '%')
            g_string_append(out, "%25");
        else
            g_string_append_c(out, s[i]);
    }
    return g_string_free(out, FALSE);
}

char **
mfs_block_path(const char *idstr)
{
    GPtrArray *parts = g_ptr_array_new();
    const char *p = idstr;

    while (*p) {
        const char *slash = strchr(p, '/');
        gsize len = slash ? (gsize)(slash - p) : strlen(p);
        if (len > 0)
            g_ptr_array_add(parts, escape_component(p, len));
        p += len + (slash != NULL);
    }
    if (parts->len == 0) {
        /* Only slashes: nothing else can name it. */
        GString *s = g_string_new(NULL);
        for (p = idstr; *p; p++)
            g_string_append(s, "%2F");
        g_ptr_array_add(parts, g_string_free(s, FALSE));
    }
    g_ptr_array_add(parts, NULL);
    return (char **)g_ptr_array_free(parts, FALSE);
}

/* A path trie first, inodes later: names are only final once every file
 * is placed (a file may turn out to share its path with a directory). */
typedef struct Proto Proto;
struct Proto {
    char *name;
    GHashTable *dirs;  /* name -> Proto* */
    GHashTable *files; /* name -> Leaf* */
};

/* A file until its node exists; then the node owns data. */
typedef struct {
    const MfsFileOps *ops;
    gpointer data;
    gsize suffix_len; /* bytes of ".INSTANCE.json" ending a device's name */
} Leaf;

static void
leaf_free(Leaf *l)
{
    if (l->data && l->ops->free)
        l->ops->free(l->data);
    g_free(l);
}

static Proto *
proto_new(const char *name)
{
    Proto *p = g_new0(Proto, 1);

    p->name = g_strdup(name);
    p->dirs = g_hash_table_new(g_str_hash, g_str_equal);
    p->files = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    return p;
}

static void
proto_free(Proto *p)
{
    GHashTableIter it;
    gpointer k, v;

    g_hash_table_iter_init(&it, p->dirs);
    while (g_hash_table_iter_next(&it, &k, &v))
        proto_free(v);
    g_hash_table_iter_init(&it, p->files);
    while (g_hash_table_iter_next(&it, &k, &v))
        leaf_free(v);
    g_hash_table_unref(p->dirs);
    g_hash_table_unref(p->files);
    g_free(p->name);
    g_free(p);
}

/* Places leaf at parts (escaped components).  FALSE if the path is taken:
 * distinct names map to distinct paths except when they differ only in
 * empty components ("a//b" and "a/b"); those are refused, never dropped. */
static gboolean
proto_add(Proto *root, char **parts, Leaf *leaf)
{
    Proto *d = root;
    guint n = g_strv_length(parts);

    for (guint i = 0; i + 1 < n; i++) {
        Proto *next = g_hash_table_lookup(d->dirs, parts[i]);
        if (next == NULL) {
            next = proto_new(parts[i]);
            g_hash_table_insert(d->dirs, next->name, next);
        }
        d = next;
    }
    if (g_hash_table_contains(d->files, parts[n - 1]))
        return FALSE;
    g_hash_table_insert(d->files, g_strdup(parts[n - 1]), leaf);
    return TRUE;
}

typedef struct {
    char *name;
    Proto *dir;
    Leaf *leaf;
} Entry;

/* A component longer than `max` bytes keeps its first bytes, never half
 * of a "%XX" escape, and ends in "%~" and the first 32 hex digits of the
 * SHA-256 of the whole component.  Escaping never makes "%~", so the
 * result is no other escaped name; two long names that end up alike would
 * need a 128-bit SHA-256 prefix collision (and are refused, not merged). */
static char *
fit_component(const char *s, gsize len, gsize max)
{
    gsize keep = max - 2 - MFS_NAME_HASH_DIGITS;
    g_autofree char *sum = NULL;

    if (len <= max)
        return g_strndup(s, len);
    /* Every '%' of an escaped name starts a three-byte escape. */
    if (s[keep - 1] == '%')
        keep -= 1;
    else if (s[keep - 2] == '%')
        keep -= 2;
    sum = g_compute_checksum_for_data(G_CHECKSUM_SHA256, (const guchar *)s, len);
    return g_strdup_printf("%.*s%%~%.*s", (int)keep, s, MFS_NAME_HASH_DIGITS, sum);
}

/* The directory entry of a proto file: its escaped component cut to fit,
 * then a device's ".INSTANCE.json" and, when a directory has the same
 * path, MFS_FILE_SUFFIX. */
static char *
file_entry_name(const char *key, const Leaf *leaf, gboolean dir_too)
{
    gsize len = strlen(key), base = len - leaf->suffix_len;
    const char *tail = dir_too ? MFS_FILE_SUFFIX : "";
    g_autofree char *fitted = fit_component(key, base, MFS_NAME_MAX -
                                            leaf->suffix_len - strlen(tail));

    return g_strconcat(fitted, key + base, tail, NULL);
}

static gint
compare_entries(gconstpointer a, gconstpointer b)
{
    return strcmp(((const Entry *)a)->name, ((const Entry *)b)->name);
}

static gboolean
proto_build(MfsTree *t, Proto *p, MfsNode *dir, GError **err)
{
    g_autoptr(GArray) entries = g_array_new(FALSE, TRUE, sizeof(Entry));
    GHashTableIter it;
    gpointer k, v;
    gboolean ok = TRUE;

    g_hash_table_iter_init(&it, p->dirs);
    while (g_hash_table_iter_next(&it, &k, &v)) {
        Entry e = { .name = fit_component(k, strlen(k), MFS_NAME_MAX), .dir = v };
        g_array_append_val(entries, e);
    }
    g_hash_table_iter_init(&it, p->files);
    while (g_hash_table_iter_next(&it, &k, &v)) {
        Entry e = { .leaf = v };
        e.name = file_entry_name(k, v, g_hash_table_contains(p->dirs, k));
        g_array_append_val(entries, e);
    }
    g_array_sort(entries, compare_entries);
    for (guint i = 1; ok && i < entries->len; i++) {
        const char *a = g_array_index(entries, Entry, i - 1).name;
        if (g_str_equal(a, g_array_index(entries, Entry, i).name)) {
            mr_set_error(err, MR_ERROR_UNSUPPORTED, t->file->path, MR_NO_OFFSET,
                         "two long names shorten to the same \"%s\"", a);
            ok = FALSE;
        }
    }
    for (guint i = 0; ok && i < entries->len; i++) {
        Entry *e = &g_array_index(entries, Entry, i);
        MfsNode *n = e->dir ? node_new(e->name, NULL, NULL)
                            : node_new(e->name, e->leaf->ops, e->leaf->data);

        if (e->leaf)
            e->leaf->data = NULL;
        g_ptr_array_add(t->nodes, n);
        n->ino = t->nodes->len;
        add_child(dir, n);
    }
    /* Siblings are numbered before their children. */
    for (guint i = 0; i < entries->len; i++) {
        Entry *e = &g_array_index(entries, Entry, i);
        if (ok && e->dir)
            ok = proto_build(t, e->dir, g_ptr_array_index(dir->children, i), err);
        g_free(e->name);
    }
    return ok;
}

struct MfsTreeBuilder {
    MrFile *file;
    Proto *top;
    Proto *dir;           /* the view's directory, NULL for a file view */
    const MfsView *view;
};

gboolean
mfs_tree_add(MfsTreeBuilder *b, char **parts, gsize suffix_len,
             const MfsFileOps *ops, gpointer data)
{
    char *own[] = { (char *)b->view->name, NULL };
    Leaf *leaf = g_new0(Leaf, 1);

    /* A file view is one file, at its own name; a directory view's files
     * are below it. */
    g_assert((parts == NULL) == (b->dir == NULL));
    leaf->ops = ops;
    leaf->data = data;
    leaf->suffix_len = suffix_len;
    if (!proto_add(b->dir ? b->dir : b->top, parts ? parts : own, leaf)) {
        leaf_free(leaf);
        return FALSE;
    }
    return TRUE;
}

MfsTree *
mfs_tree_new_with(MrFile *file, const MfsView *const *views, GError **err)
{
    g_autoptr(MfsTree) t = g_new0(MfsTree, 1);
    MfsTreeBuilder b = { .file = file, .top = proto_new("") };
    gboolean ok = TRUE;

    t->file = file;
    t->nodes = g_ptr_array_new_with_free_func(node_free);
    t->root = node_new("", NULL, NULL);
    g_ptr_array_add(t->nodes, t->root);
    t->root->ino = MFS_ROOT_INO;
    t->root->parent = t->root;

    for (guint i = 0; ok && views[i]; i++) {
        b.view = views[i];
        b.dir = NULL;
        /* Two views of one name are a bug of the table, not of a file. */
        g_assert(!g_hash_table_contains(b.top->dirs, b.view->name) &&
                 !g_hash_table_contains(b.top->files, b.view->name));
        if (b.view->dir) {
            b.dir = proto_new(b.view->name);
            g_hash_table_insert(b.top->dirs, b.dir->name, b.dir);
        }
        ok = b.view->build(&b, file, err);
    }
    if (ok)
        ok = proto_build(t, b.top, t->root, err);
    proto_free(b.top);
    return ok ? g_steal_pointer(&t) : NULL;
}

MfsTree *
mfs_tree_new(MrFile *file, GError **err)
{
    return mfs_tree_new_with(file, mfs_views, err);
}

void
mfs_tree_free(MfsTree *t)
{
    if (t == NULL)
        return;
    if (t->nodes)
        g_ptr_array_unref(t->nodes);
    g_free(t);
}

MfsNode *
mfs_tree_get(const MfsTree *t, guint64 ino)
{
    if (ino < 1 || ino > t->nodes->len)
        return NULL;
    return g_ptr_array_index(t->nodes, ino - 1);
}

MfsNode *
mfs_tree_lookup(const MfsNode *dir, const char *name)
{
    if (!MFS_NODE_IS_DIR(dir))
        return NULL;
    return g_hash_table_lookup(dir->by_name, name);
}

MfsNode *
mfs_tree_resolve(const MfsTree *t, const char *path)
{
    g_auto(GStrv) parts = g_strsplit(path, "/", -1);
    MfsNode *n = t->root;

    for (guint i = 0; parts[i] && n; i++)
        if (*parts[i])
            n = mfs_tree_lookup(n, parts[i]);
    return n;
}
