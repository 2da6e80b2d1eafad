#include "mfs-tree.h"

#include <string.h>

#include "mr-error.h"
#include "mr-summary.h"

static MfsNode *
node_new(MfsNodeKind kind, const char *name)
{
    MfsNode *n = g_new0(MfsNode, 1);

    n->kind = kind;
    n->name = g_strdup(name);
    if (kind == MFS_NODE_DIR) {
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
    if (n->blob)
        g_bytes_unref(n->blob);
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

/* A path trie first, inodes later: names are only final once every block
 * is placed (a file may turn out to share its path with a directory). */
typedef struct Proto Proto;
struct Proto {
    char *name;
    GHashTable *dirs;  /* name -> Proto* */
    GHashTable *files; /* name -> MrRamBlock* */
};

static Proto *
proto_new(const char *name)
{
    Proto *p = g_new0(Proto, 1);

    p->name = g_strdup(name);
    p->dirs = g_hash_table_new(g_str_hash, g_str_equal);
    p->files = g_hash_table_new(g_str_hash, g_str_equal);
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
    g_hash_table_unref(p->dirs);
    g_hash_table_unref(p->files);
    g_free(p->name);
    g_free(p);
}

static gboolean
proto_add(Proto *root, MrRamBlock *b, const char *path, GError **err)
{
    g_auto(GStrv) parts = mfs_block_path(b->idstr);
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
    if (g_hash_table_contains(d->files, parts[n - 1])) {
        /* Distinct idstrs map to distinct paths except when they differ
         * only in empty components ("a//b" and "a/b"); refuse, never drop. */
        mr_set_error(err, MR_ERROR_UNSUPPORTED, path, b->desc_offset,
                     "ram block \"%s\" maps to the same path as another "
                     "block (empty path components are dropped)", b->idstr);
        return FALSE;
    }
    g_hash_table_insert(d->files, g_strdup(parts[n - 1]), b);
    return TRUE;
}

typedef struct {
    char *name;
    Proto *dir;
    MrRamBlock *block;
} Entry;

static gint
compare_entries(gconstpointer a, gconstpointer b)
{
    return strcmp(((const Entry *)a)->name, ((const Entry *)b)->name);
}

static void
proto_build(MfsTree *t, Proto *p, MfsNode *dir)
{
    g_autoptr(GArray) entries = g_array_new(FALSE, TRUE, sizeof(Entry));
    GHashTableIter it;
    gpointer k, v;

    g_hash_table_iter_init(&it, p->dirs);
    while (g_hash_table_iter_next(&it, &k, &v)) {
        Entry e = { .name = g_strdup(k), .dir = v };
        g_array_append_val(entries, e);
    }
    g_hash_table_iter_init(&it, p->files);
    while (g_hash_table_iter_next(&it, &k, &v)) {
        Entry e = { .block = v };
        e.name = g_hash_table_contains(p->dirs, k)
                     ? g_strconcat(k, MFS_FILE_SUFFIX, NULL) : g_strdup(k);
        g_array_append_val(entries, e);
    }
    g_array_sort(entries, compare_entries);
    for (guint i = 0; i < entries->len; i++) {
        Entry *e = &g_array_index(entries, Entry, i);
        MfsNode *n = node_new(e->dir ? MFS_NODE_DIR : MFS_NODE_BLOCK, e->name);

        n->block = e->block;
        g_ptr_array_add(t->nodes, n);
        n->ino = t->nodes->len;
        add_child(dir, n);
    }
    /* Siblings are numbered before their children. */
    for (guint i = 0; i < entries->len; i++) {
        Entry *e = &g_array_index(entries, Entry, i);
        if (e->dir)
            proto_build(t, e->dir, g_ptr_array_index(dir->children, i));
        g_free(e->name);
    }
}

static MfsNode *
add_node(MfsTree *t, MfsNode *dir, MfsNodeKind kind, const char *name)
{
    MfsNode *n = node_new(kind, name);

    g_ptr_array_add(t->nodes, n);
    n->ino = t->nodes->len;
    add_child(dir, n);
    return n;
}

MfsTree *
mfs_tree_new(MrFile *file, GError **err)
{
    g_autoptr(MfsTree) t = g_new0(MfsTree, 1);
    Proto *ram = proto_new("ram");
    MfsNode *ram_dir, *json;
    json_object *summary;
    const char *text;

    t->file = file;
    t->nodes = g_ptr_array_new_with_free_func(node_free);
    t->root = node_new(MFS_NODE_DIR, "");
    g_ptr_array_add(t->nodes, t->root);
    t->root->ino = MFS_ROOT_INO;
    t->root->parent = t->root;

    for (guint i = 0; i < file->blocks->len; i++) {
        if (!proto_add(ram, g_ptr_array_index(file->blocks, i), file->path,
                       err)) {
            proto_free(ram);
            return NULL;
        }
    }
    /* Fixed top-level entries first: their inodes never depend on blocks. */
    ram_dir = add_node(t, t->root, MFS_NODE_DIR, "ram");
    json = add_node(t, t->root, MFS_NODE_BLOB, "snapshot.json");
    summary = mr_summary_json(file);
    text = json_object_to_json_string_ext(summary, JSON_C_TO_STRING_PRETTY |
                                                       JSON_C_TO_STRING_SPACED);
    /* End the document with a newline, as text files do. */
    text = g_strconcat(text, "\n", NULL);
    json->blob = g_bytes_new_take((char *)text, strlen(text));
    json_object_put(summary);
    proto_build(t, ram, ram_dir);
    proto_free(ram);
    return g_steal_pointer(&t);
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
    if (dir->kind != MFS_NODE_DIR)
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
