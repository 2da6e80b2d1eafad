#include "mfs-tree.h"

#include <string.h>

#include "mr-error.h"
#include "ds-decode.h"
#include "ds-superio.h"
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

/* A path trie first, inodes later: names are only final once every file
 * is placed (a file may turn out to share its path with a directory). */
typedef struct Proto Proto;
struct Proto {
    char *name;
    GHashTable *dirs;  /* name -> Proto* */
    GHashTable *files; /* name -> Leaf* */
};

typedef struct {
    MfsNodeKind kind;
    MrRamBlock *block;
    GBytes *blob;
    GBytes *(*generate)(const MrFile *file);
    gsize suffix_len; /* bytes of ".INSTANCE.json" ending a device's name */
} Leaf;

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
    while (g_hash_table_iter_next(&it, &k, &v)) {
        Leaf *l = v;
        if (l->blob)
            g_bytes_unref(l->blob);
        g_free(l);
    }
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
        MfsNode *n = node_new(e->dir ? MFS_NODE_DIR : e->leaf->kind, e->name);

        if (e->leaf) {
            n->block = e->leaf->block;
            n->blob = e->leaf->blob ? g_bytes_ref(e->leaf->blob) : NULL;
            n->generate = e->leaf->generate;
        }
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

GBytes *
mfs_json_bytes(json_object *o)
{
    /* Text files end with a newline. */
    char *text = g_strconcat(json_object_to_json_string_ext(
                                 o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED),
                             "\n", NULL);

    json_object_put(o);
    return g_bytes_new_take(text, strlen(text));
}

static gboolean
add_blocks(Proto *ram, MrFile *file, GError **err)
{
    for (guint i = 0; i < file->blocks->len; i++) {
        MrRamBlock *b = g_ptr_array_index(file->blocks, i);
        g_auto(GStrv) parts = mfs_block_path(b->idstr);
        Leaf *leaf = g_new0(Leaf, 1);

        leaf->kind = MFS_NODE_BLOCK;
        leaf->block = b;
        if (!proto_add(ram, parts, leaf)) {
            g_free(leaf);
            mr_set_error(err, MR_ERROR_UNSUPPORTED, file->path, b->desc_offset,
                         "ram block \"%s\" maps to the same path as another "
                         "block (empty path components are dropped)", b->idstr);
            return FALSE;
        }
    }
    return TRUE;
}

/* The device files stay in memory for the life of the mount.  Each
 * section is bounded (DS_DECODE_MAX_SECTION, MR_DEVWALK_MAX_STEPS), but a
 * hostile vmdesc can describe thousands of them, each giving 10 MiB of
 * JSON or more: past this much, later sections are shown undecoded.  As
 * much as the vmdesc itself may take (mr-vmdesc.c); QEMU's come to about
 * 1 MiB. */
#define MFS_DEVICES_JSON_MAX (64u * 1024 * 1024)

/* devices/IDSTR-PATH.INSTANCE.json, one per device section. */
static gboolean
add_devices(Proto *devices, MrFile *file, GError **err)
{
    guint64 total = 0;

    for (guint i = 0; i < file->devices->len; i++) {
        MrSection *s = g_ptr_array_index(file->devices, i);
        g_auto(GStrv) parts = mfs_block_path(s->idstr);
        guint n = g_strv_length(parts);
        json_object *o;
        g_autofree char *suffix = NULL;
        Leaf *leaf;
        char *last;

        if (total > MFS_DEVICES_JSON_MAX) {
            g_autofree char *why = g_strdup_printf(
                "not decoded: the device files before it already hold more "
                "than %u MiB of JSON", MFS_DEVICES_JSON_MAX >> 20);
            o = ds_undecoded_section(s, why);
        } else {
            o = ds_decode_section(file, s, err);
        }
        if (o == NULL)
            return FALSE;
        suffix = g_strdup_printf(".%u.json", s->instance_id);
        last = g_strconcat(parts[n - 1], suffix, NULL);
        g_free(parts[n - 1]);
        parts[n - 1] = last;
        leaf = g_new0(Leaf, 1);
        leaf->suffix_len = strlen(suffix);
        leaf->kind = MFS_NODE_BLOB;
        leaf->blob = mfs_json_bytes(o);
        total += g_bytes_get_size(leaf->blob);
        if (!proto_add(devices, parts, leaf)) {
            g_bytes_unref(leaf->blob);
            g_free(leaf);
            mr_set_error(err, MR_ERROR_UNSUPPORTED, file->path, s->offset,
                         "device section \"%s\" instance %u maps to the same "
                         "path as another", s->idstr, s->instance_id);
            return FALSE;
        }
    }
    return TRUE;
}

static void
add_blob(Proto *dir, const char *name, json_object *o)
{
    char *parts[] = { (char *)name, NULL };
    Leaf *leaf = g_new0(Leaf, 1);

    leaf->kind = MFS_NODE_BLOB;
    leaf->blob = mfs_json_bytes(o);
    proto_add(dir, parts, leaf);
}

/* Made at each read: the summary counts present pages, which a mount must
 * not read every bitmap for (mr-bitmap.h) and which writes change. */
static GBytes *
summary_bytes(const MrFile *file)
{
    return mfs_json_bytes(mr_summary_json(file));
}

static void
add_generated(Proto *dir, const char *name, GBytes *(*generate)(const MrFile *))
{
    char *parts[] = { (char *)name, NULL };
    Leaf *leaf = g_new0(Leaf, 1);

    leaf->kind = MFS_NODE_BLOB;
    leaf->generate = generate;
    proto_add(dir, parts, leaf);
}

/* superio/pc87312.json, superio/vt82c686b.json, superio/vt8231.json. */
static gboolean
add_superio(Proto *superio, MrFile *file, GError **err)
{
    DsPc87312 pc;
    GError *local = NULL;
    const char *via_name = NULL;
    json_object *via;

    if (ds_pc87312_load(file, &pc, &local))
        add_blob(superio, MFS_PC87312_NODE, ds_pc87312_json(&pc));
    if (local) {
        g_propagate_error(err, local);
        return FALSE;
    }
    via = ds_via_json(file, &via_name, &local);
    if (via)
        add_blob(superio, via_name, via);
    if (local) {
        g_propagate_error(err, local);
        return FALSE;
    }
    return TRUE;
}

MfsTree *
mfs_tree_new(MrFile *file, GError **err)
{
    g_autoptr(MfsTree) t = g_new0(MfsTree, 1);
    Proto *top = proto_new("");
    Proto *ram = proto_new("ram"), *devices = proto_new("devices");
    Proto *superio = proto_new("superio");
    gboolean ok;

    t->file = file;
    g_mutex_init(&t->blob_lock);
    t->nodes = g_ptr_array_new_with_free_func(node_free);
    t->root = node_new(MFS_NODE_DIR, "");
    g_ptr_array_add(t->nodes, t->root);
    t->root->ino = MFS_ROOT_INO;
    t->root->parent = t->root;

    g_hash_table_insert(top->dirs, ram->name, ram);
    g_hash_table_insert(top->dirs, devices->name, devices);
    g_hash_table_insert(top->dirs, superio->name, superio);
    add_generated(top, "snapshot.json", summary_bytes);
    ok = add_blocks(ram, file, err) && add_devices(devices, file, err) &&
         add_superio(superio, file, err);
    if (ok)
        ok = proto_build(t, top, t->root, err);
    proto_free(top);
    return ok ? g_steal_pointer(&t) : NULL;
}

GBytes *
mfs_tree_blob(MfsTree *t, const MfsNode *n)
{
    GBytes *b;

    if (n->generate)
        return n->generate(t->file);
    g_mutex_lock(&t->blob_lock);
    b = g_bytes_ref(n->blob);
    g_mutex_unlock(&t->blob_lock);
    return b;
}

void
mfs_tree_set_blob(MfsTree *t, MfsNode *n, GBytes *blob)
{
    GBytes *old;

    g_mutex_lock(&t->blob_lock);
    old = n->blob;
    n->blob = blob;
    g_mutex_unlock(&t->blob_lock);
    g_bytes_unref(old);
}

void
mfs_tree_free(MfsTree *t)
{
    if (t == NULL)
        return;
    if (t->nodes)
        g_ptr_array_unref(t->nodes);
    g_mutex_clear(&t->blob_lock);
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
