#include "restore-args.h"

#include <json-c/json.h>
#include <string.h>

G_DEFINE_QUARK(mramfs-restore-error-quark, restore_error)

/* The first version with the mapped-ram capability. */
#define QEMU_MIN_MAJOR 9
#define QEMU_MIN_MINOR 0
/* QEMU rounds the RAM size up to this (hw/core/machine.c). */
#define RAM_SIZE_ALIGN 8192u

void
restore_set_error(GError **err, RestoreErrorCode code, const char *fmt, ...)
{
    g_autofree char *msg = NULL;
    va_list ap;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error_literal(err, RESTORE_ERROR, code, msg);
}

#define refuse(err, ...) restore_set_error((err), RESTORE_ERROR_REFUSED, __VA_ARGS__)

/* One size as QEMU's qemu_strtosz reads it: decimal digits, a fraction only
 * with a unit, a unit B/K/M/G/T/P/E in either case; no unit means MiB on
 * -m.  QEMU refuses hex and exponents there, and so do we. */
static gboolean
parse_size(const char *s, guint64 *out)
{
    static const char units[] = "BKMGTPE";
    guint64 whole = 0, frac = 0, frac_scale = 1, mul;
    const char *p = s, *u;
    gboolean fraction = FALSE;

    if (!g_ascii_isdigit(*p))
        return FALSE;
    for (; g_ascii_isdigit(*p); p++) {
        if (whole > (G_MAXUINT64 - 9) / 10)
            return FALSE;
        whole = whole * 10 + (guint64)(*p - '0');
    }
    if (*p == '.') {
        fraction = TRUE;
        for (p++; g_ascii_isdigit(*p); p++) {
            /* Digits past the 18th cannot change a whole number of bytes. */
            if (frac_scale < 1000000000000000000ull) {
                frac = frac * 10 + (guint64)(*p - '0');
                frac_scale *= 10;
            }
        }
    }
    if (*p == '\0') {
        if (fraction)
            return FALSE;
        mul = 1u << 20;
    } else {
        u = strchr(units, g_ascii_toupper(*p));
        if (u == NULL || p[1] != '\0')
            return FALSE;
        mul = (guint64)1 << (10 * (u - units));
    }
    if (whole > G_MAXUINT64 / mul)
        return FALSE;
    /* Fractional bytes are refused; a fraction of a larger unit is cut to
     * whole bytes (frac < 10^18 and mul <= 2^60 fit in 128 bits). */
    if (fraction && mul == 1)
        return FALSE;
    frac = (guint64)((unsigned __int128)frac * mul / frac_scale);
    if (whole * mul > G_MAXUINT64 - frac)
        return FALSE;
    *out = whole * mul + frac;
    return TRUE;
}

gboolean
restore_parse_ram_size(const char *arg, gboolean *has_size, guint64 *bytes,
                       GError **err)
{
    g_auto(GStrv) items = g_strsplit(arg, ",", -1);
    const char *size = *arg ? NULL : arg;

    *has_size = FALSE;
    for (guint i = 0; items[i]; i++) {
        const char *eq = strchr(items[i], '=');
        if (eq == NULL && i == 0)
            size = items[i]; /* "4G,slots=2": size is implied first */
        else if (eq && (gsize)(eq - items[i]) == 4 &&
                 strncmp(items[i], "size", 4) == 0)
            size = eq + 1;
    }
    if (size == NULL)
        return TRUE;
    if (!parse_size(size, bytes) || *bytes == 0) {
        refuse(err, "-m %s: \"%s\" is not a RAM size QEMU takes (a number "
               "of MiB, or with a unit: 4G, 1.5G, 512M)", arg, size);
        return FALSE;
    }
    *bytes = (*bytes + RAM_SIZE_ALIGN - 1) / RAM_SIZE_ALIGN * RAM_SIZE_ALIGN;
    *has_size = TRUE;
    return TRUE;
}

gboolean
restore_parse_qemu_version(const char *text, guint *major, guint *minor,
                           GError **err)
{
    const char *p = strstr(text, "version ");
    guint64 ma, mi;
    char *end;

    if (p == NULL)
        goto bad;
    p += strlen("version ");
    ma = g_ascii_strtoull(p, &end, 10);
    if (end == p || *end != '.')
        goto bad;
    p = end + 1;
    mi = g_ascii_strtoull(p, &end, 10);
    if (end == p || ma > 1000 || mi > 1000)
        goto bad;
    *major = (guint)ma;
    *minor = (guint)mi;
    return TRUE;
bad:
    refuse(err, "cannot read a version in QEMU's \"%.*s\" (expected "
           "\"QEMU emulator version X.Y.Z\")",
           (int)strcspn(text, "\n"), text);
    return FALSE;
}

gboolean
restore_check_qemu_version(const char *binary, guint major, guint minor,
                           GError **err)
{
    if (major * 1000 + minor >= QEMU_MIN_MAJOR * 1000 + QEMU_MIN_MINOR)
        return TRUE;
    refuse(err, "%s is QEMU %u.%u: lazy restore needs the mapped-ram "
           "capability of QEMU %d.%d or later", binary, major, minor,
           QEMU_MIN_MAJOR, QEMU_MIN_MINOR);
    return FALSE;
}

/* QEMU takes "-opt" and "--opt" alike. */
static const char *
option_name(const char *a)
{
    if (a[0] != '-' || a[1] == '\0')
        return NULL;
    return a[1] == '-' ? a + 2 : a + 1;
}

/* QEMU's boolean spellings of "on". */
static gboolean
is_on(const char *v)
{
    return v == NULL || g_str_equal(v, "on") || g_str_equal(v, "yes") ||
           g_str_equal(v, "true") || g_str_equal(v, "y");
}

/* The keys of a QEMU keyval/QemuOpts string, ",," being a literal ','.
 * The first item without '=' is stored under `implied`.  A bare "key" is
 * stored with a NULL value (QemuOpts reads it as key=on). */
static GHashTable *
split_opts(const char *s, const char *implied)
{
    GHashTable *h = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    GString *item = g_string_new(NULL);
    gboolean first = TRUE;

    for (const char *p = s;; p++) {
        if (*p == ',' && p[1] == ',') {
            g_string_append_c(item, ',');
            p++;
            continue;
        }
        if (*p != ',' && *p != '\0') {
            g_string_append_c(item, *p);
            continue;
        }
        char *eq = strchr(item->str, '=');
        if (eq)
            g_hash_table_replace(h, g_strndup(item->str, (gsize)(eq - item->str)),
                                 g_strdup(eq + 1));
        else if (first && implied)
            g_hash_table_replace(h, g_strdup(implied), g_strdup(item->str));
        else if (item->len)
            g_hash_table_replace(h, g_strdup(item->str), NULL);
        first = FALSE;
        g_string_truncate(item, 0);
        if (*p == '\0')
            break;
    }
    g_string_free(item, TRUE);
    return h;
}

/* -object in its dotted or JSON form: qom-type, id and share. */
static gboolean
check_object(const char *arg, const MrRamBlock *lazy, GError **err)
{
    g_autofree char *type = NULL, *id = NULL;
    gboolean share = FALSE;

    if (arg[0] == '{') {
        json_object *o = json_tokener_parse(arg), *v;
        if (o == NULL || !json_object_is_type(o, json_type_object)) {
            json_object_put(o);
            return TRUE; /* QEMU says what is wrong with it */
        }
        if (json_object_object_get_ex(o, "qom-type", &v))
            type = g_strdup(json_object_get_string(v));
        if (json_object_object_get_ex(o, "id", &v))
            id = g_strdup(json_object_get_string(v));
        if (json_object_object_get_ex(o, "share", &v))
            share = json_object_get_boolean(v) ||
                    (json_object_is_type(v, json_type_string) &&
                     is_on(json_object_get_string(v)));
        json_object_put(o);
    } else {
        g_autoptr(GHashTable) h = split_opts(arg, "qom-type");
        gpointer v;
        type = g_strdup(g_hash_table_lookup(h, "qom-type"));
        id = g_strdup(g_hash_table_lookup(h, "id"));
        share = g_hash_table_lookup_extended(h, "share", NULL, &v) && is_on(v);
    }
    if (type == NULL || !g_str_has_prefix(type, "memory-backend"))
        return TRUE;
    if (share) {
        refuse(err, "-object %s: share=on: mramfs-restore maps guest RAM "
               "privately from a read-only mount, and a shared backend would "
               "write guest RAM back into the snapshot; remove share=on", arg);
        return FALSE;
    }
    if (lazy && id && g_str_equal(id, lazy->idstr)) {
        refuse(err, "-object %s: mramfs-restore adds the memory backend "
               "\"%s\" itself (mapped from the mount); remove this one", arg,
               lazy->idstr);
        return FALSE;
    }
    return TRUE;
}

static gboolean
check_machine(const char *arg, GError **err)
{
    g_autoptr(GHashTable) h = split_opts(arg, "type");

    if (g_hash_table_contains(h, "memory-backend")) {
        refuse(err, "-machine %s: mramfs-restore sets the machine's memory "
               "backend itself; remove memory-backend=", arg);
        return FALSE;
    }
    return TRUE;
}

gboolean
restore_check_args(const MrFile *f, const MrRamBlock *lazy,
                   char *const *args, GError **err)
{
    const char *ram_arg = NULL;
    guint64 ram_size = 0;

    /* Values of options we do not know are skipped one by one: only a
     * value spelled exactly like one of the options below could be taken
     * for it. */
    for (guint i = 0; args[i]; i++) {
        const char *opt = option_name(args[i]), *val = args[i + 1];
        gboolean has_size;
        guint64 size;

        if (opt == NULL)
            continue;
        if (g_str_equal(opt, "incoming")) {
            refuse(err, "%s: mramfs-restore adds -incoming itself (the "
                   "snapshot through the mount); remove it", args[i]);
            return FALSE;
        }
        if (g_str_equal(opt, "daemonize")) {
            refuse(err, "-daemonize: mramfs-restore must wait for QEMU to "
                   "unmount the snapshot when it exits; remove it");
            return FALSE;
        }
        if (g_str_equal(opt, "mem-path")) {
            refuse(err, "-mem-path: guest RAM is mapped from the mount; "
                   "remove it");
            return FALSE;
        }
        if (!g_str_equal(opt, "m") && !g_str_equal(opt, "object") &&
            !g_str_equal(opt, "machine") && !g_str_equal(opt, "M"))
            continue;
        if (val == NULL) {
            refuse(err, "%s needs an argument", args[i]);
            return FALSE;
        }
        i++;
        if (g_str_equal(opt, "object")) {
            if (!check_object(val, lazy, err))
                return FALSE;
        } else if (g_str_equal(opt, "m")) {
            if (!restore_parse_ram_size(val, &has_size, &size, err))
                return FALSE;
            if (has_size) {
                ram_arg = val; /* the last one wins, as in QEMU */
                ram_size = size;
            }
        } else if (!check_machine(val, err)) {
            return FALSE;
        }
    }
    if (lazy && ram_arg && ram_size != lazy->used_length) {
        refuse(err, "-m %s is 0x%" G_GINT64_MODIFIER "x bytes, but the "
               "snapshot %s was saved with 0x%" G_GINT64_MODIFIER "x bytes "
               "of RAM (ram block \"%s\", -m %" G_GUINT64_FORMAT "M): give "
               "the -m it was saved with", ram_arg, ram_size, f->path,
               lazy->used_length, lazy->idstr, lazy->used_length >> 20);
        return FALSE;
    }
    return TRUE;
}
