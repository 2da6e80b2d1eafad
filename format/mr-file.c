/* mr_file_open(): the top-level record loop of docs/FORMAT.md §11 and the checks
 * that span records (R1, R13-R15).  Record bodies are parsed in mr-config.c,
 * mr-ram.c and mr-devwalk.c. */
#include "mr-file.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mr-devwalk.h"
#include "mr-parse.h"

/* Other programs' headers before the stream (libvirt's is read, see
 * mr-libvirt.c); they are a few KiB to MiB. */
#define MR_MAGIC_SEARCH_LIMIT (64u * 1024 * 1024)

void
mr_file_warn(MrFile *f, guint64 offset, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    g_ptr_array_add(f->warnings, mr_format_message(f->path, offset, fmt, ap));
    va_end(ap);
}

gboolean
mr_is_printable(const char *s, gsize len)
{
    for (gsize i = 0; i < len; i++)
        if ((guchar)s[i] < 0x20 || (guchar)s[i] > 0x7e)
            return FALSE;
    return TRUE;
}

static void
block_free(gpointer p)
{
    MrRamBlock *b = p;

    g_free(b->idstr);
    mr_bitmap_free(b->bitmap);
    g_free(b);
}

static void
section_free(gpointer p)
{
    MrSection *s = p;

    g_free(s->idstr);
    g_free(s);
}

void
mr_file_close(MrFile *f)
{
    if (f == NULL)
        return;
    if (f->fd >= 0)
        close(f->fd);
    g_free(f->path);
    g_free(f->machine);
    g_ptr_array_unref(f->capabilities);
    g_ptr_array_unref(f->blocks);
    g_ptr_array_unref(f->devices);
    g_array_unref(f->commands);
    g_ptr_array_unref(f->warnings);
    mr_libvirt_header_free(f->libvirt);
    if (f->vmdesc)
        json_object_put(f->vmdesc);
    g_free(f);
}

MrRamBlock *
mr_file_find_block(const MrFile *f, const char *idstr)
{
    for (guint i = 0; i < f->blocks->len; i++) {
        MrRamBlock *b = g_ptr_array_index(f->blocks, i);
        if (g_str_equal(b->idstr, idstr))
            return b;
    }
    return NULL;
}

gboolean
mr_block_bitmap_ok(const MrRamBlock *b, GError **err)
{
    return b->bitmap == NULL || mr_bitmap_ok(b->bitmap, err);
}

static gboolean
check_magic_at(MrFile *f, guint64 off, GError **err)
{
    guint32 hdr[2];

    if (off > f->file_size || f->file_size - off < sizeof(hdr)) {
        mr_set_error(err, MR_ERROR_TRUNCATED, f->path, off,
                     "file too short for a migration header "
                     "(8 bytes expected, file size 0x%" G_GINT64_MODIFIER "x)",
                     f->file_size);
        return FALSE;
    }
    if (!mr_pread_exact(f->fd, f->path, hdr, sizeof(hdr), off,
                        "file header", err))
        return FALSE;
    if (GUINT32_FROM_BE(hdr[0]) != MR_FILE_MAGIC) {
        mr_set_error(err, MR_ERROR_INVALID, f->path, off,
                     "expected the magic \"QEVM\" (51 45 56 4d), found "
                     "0x%08x: not a QEMU migration stream",
                     GUINT32_FROM_BE(hdr[0]));
        return FALSE;
    }
    if (GUINT32_FROM_BE(hdr[1]) != MR_FILE_VERSION) {
        mr_set_error(err, MR_ERROR_UNSUPPORTED, f->path, off + 4,
                     "migration stream version %u, expected 3%s",
                     GUINT32_FROM_BE(hdr[1]),
                     GUINT32_FROM_BE(hdr[1]) == 2 ? " (version 2 is obsolete)"
                                                  : "");
        return FALSE;
    }
    return TRUE;
}

/* Offset 0 first; otherwise the first "QEVM" within the search limit. */
static gboolean
find_stream_start(MrFile *f, GError **err)
{
    static const guint8 magic[4] = { 'Q', 'E', 'V', 'M' };
    guint64 limit = MIN(f->file_size, (guint64)MR_MAGIC_SEARCH_LIMIT);
    g_autofree guint8 *buf = NULL;
    const gsize chunk = 1024 * 1024;
    GError *first_err = NULL;

    if (check_magic_at(f, 0, &first_err)) {
        f->stream_offset = 0;
        return TRUE;
    }
    if (!mr_refuse_foreign(f, err)) {
        g_clear_error(&first_err);
        return FALSE;
    }
    buf = g_malloc(chunk + sizeof(magic));
    for (guint64 base = 0; base < limit; base += chunk) {
        gsize n = (gsize)MIN((guint64)chunk + sizeof(magic) - 1, f->file_size - base);
        if (!mr_pread_exact(f->fd, f->path, buf, n, base, "magic search", err)) {
            g_clear_error(&first_err);
            return FALSE;
        }
        for (gsize i = 0; i + sizeof(magic) <= n && base + i < limit; i++) {
            if (memcmp(buf + i, magic, sizeof(magic)) != 0)
                continue;
            g_clear_error(&first_err);
            f->stream_offset = base + i;
            f->stream_offset_detected = TRUE;
            mr_file_warn(f, f->stream_offset,
                         "stream starts at 0x%" G_GINT64_MODIFIER "x, not at "
                         "0 (found by searching for the magic; pass the "
                         "offset to be explicit)", f->stream_offset);
            return check_magic_at(f, f->stream_offset, err);
        }
    }
    g_propagate_prefixed_error(err, first_err,
                               "no QEVM magic at 0 nor in the first 0x%"
                               G_GINT64_MODIFIER "x bytes: ", limit);
    return FALSE;
}

gboolean
mr_parse_footer(MrFile *f, MrCursor *c, guint32 section_id, const char *what,
                gboolean *has_footer, GError **err)
{
    guint8 type;
    guint32 id;
    guint64 at;

    *has_footer = FALSE;
    if (c->pos == c->limit)
        return TRUE;
    if (!mr_cursor_peek_u8(c, &type, what, err))
        return FALSE;
    if (type != MR_REC_SECTION_FOOTER)
        return TRUE;
    c->pos++;
    at = c->pos;
    if (!mr_cursor_be32(c, &id, what, err))
        return FALSE;
    if (id != section_id) {
        mr_set_error(err, MR_ERROR_INVALID, f->path, at,
                     "%s: footer names section id %u, expected %u", what, id,
                     section_id);
        return FALSE;
    }
    *has_footer = TRUE;
    return TRUE;
}

typedef struct {
    guint32 id;
    char *idstr;
    guint32 instance_id;
    guint32 version_id;
} SectionHeader;

static gboolean
parse_full_header(MrFile *f, MrCursor *c, SectionHeader *h, GError **err)
{
    guint8 len;
    guint64 at;

    if (!mr_cursor_be32(c, &h->id, "section id", err))
        return FALSE;
    at = c->pos;
    if (!mr_cursor_counted_string(c, &h->idstr, &len, "section idstr", err))
        return FALSE;
    if (len == 0 || !mr_is_printable(h->idstr, len)) {
        mr_set_error(err, MR_ERROR_INVALID, f->path, at,
                     "section %u: idstr is empty or not printable ASCII",
                     h->id);
        return FALSE;
    }
    return mr_cursor_be32(c, &h->instance_id, "section instance id", err) &&
           mr_cursor_be32(c, &h->version_id, "section version id", err);
}

typedef struct {
    gboolean ram_started;
    gboolean ram_ended;
    gboolean footers; /* whether the ram START had one, once ram_started */
    guint devices_walked;
} LoopState;

/* QEMU writes a footer after every section or after none (docs/FORMAT.md §6).
 * The ram START section, whose body needs no vmdesc to be bounded, tells
 * which; a device section that differs ended where its vmdesc sizes said,
 * not where the stream does (§13.4), even if a record byte follows. */
static gboolean
check_footer_mode(MrFile *f, const LoopState *st, gboolean has_footer,
                  guint64 at, const char *what, GError **err)
{
    if (has_footer == st->footers)
        return TRUE;
    mr_set_error(err, MR_ERROR_INVALID, f->path, at,
                 "%s: %s section footer here, unlike the ram section START: "
                 "the vmdesc sizes do not match the stream", what,
                 has_footer ? "a" : "no");
    return FALSE;
}

static gboolean
parse_device(MrFile *f, MrCursor *c, LoopState *st, guint64 rec_off,
             SectionHeader *h, GError **err)
{
    g_autofree char *what = g_strdup_printf("section \"%s\" (id %u, instance "
                                            "%u)", h->idstr, h->id,
                                            h->instance_id);
    MrSection *s;
    json_object *devs, *desc;

    if (!f->has_vmdesc) {
        if (!st->ram_started) {
            mr_set_error(err, MR_ERROR_UNSUPPORTED, f->path, rec_off,
                         "%s comes before the ram section and the file has "
                         "no vmdesc to bound it with", what);
            return FALSE;
        }
        f->devices_bounded = FALSE;
        f->devices_offset = rec_off;
        return TRUE;
    }
    devs = json_object_object_get(f->vmdesc, "devices");
    if (st->devices_walked >= json_object_array_length(devs)) {
        mr_set_error(err, MR_ERROR_INVALID, f->path, rec_off,
                     "%s: the vmdesc lists only %zu devices", what,
                     json_object_array_length(devs));
        return FALSE;
    }
    desc = json_object_array_get_idx(devs, st->devices_walked);
    s = g_new0(MrSection, 1);
    s->section_id = h->id;
    s->idstr = g_steal_pointer(&h->idstr);
    s->instance_id = h->instance_id;
    s->version_id = h->version_id;
    s->offset = rec_off;
    s->body_offset = c->pos;
    s->before_ram = !st->ram_started;
    s->desc = desc;
    g_ptr_array_add(f->devices, s);
    st->devices_walked++;
    if (!mr_devwalk_section(f, c, s, NULL, NULL, err))
        return FALSE;
    s->body_size = c->pos - s->body_offset;
    if (!mr_parse_footer(f, c, s->section_id, what, &s->has_footer, err))
        return FALSE;
    if (!s->has_footer && !mr_devwalk_next_is_record(c)) {
        mr_set_error(err, MR_ERROR_INVALID, f->path, c->pos,
                     "%s: its vmdesc description ends here, but the next "
                     "byte is neither a section footer nor a record: the "
                     "vmdesc sizes do not match the stream", what);
        return FALSE;
    }
    s->end_offset = c->pos;
    if (st->ram_started)
        return check_footer_mode(f, st, s->has_footer,
                                 s->body_offset + s->body_size, what, err);
    return TRUE;
}

static gboolean
parse_section(MrFile *f, MrCursor *c, LoopState *st, guint8 type,
              guint64 rec_off, gboolean *stop, GError **err)
{
    SectionHeader h = { 0 };
    gboolean ok = FALSE, footer;

    if (!parse_full_header(f, c, &h, err))
        goto out;
    if (g_str_equal(h.idstr, "ram")) {
        if (type != MR_REC_SECTION_START || st->ram_started) {
            mr_set_error(err, MR_ERROR_INVALID, f->path, rec_off,
                         "unexpected %s record for the ram section",
                         type == MR_REC_SECTION_START ? "second START" : "FULL");
            goto out;
        }
        if (h.version_id != 4) {
            mr_set_error(err, MR_ERROR_UNSUPPORTED, f->path, rec_off,
                         "ram section version %u, expected 4", h.version_id);
            goto out;
        }
        if (!f->cap_mapped_ram) {
            mr_set_error(err, MR_ERROR_INVALID, f->path, rec_off,
                         "the ram section starts here but the configuration "
                         "does not list the mapped-ram capability: not a "
                         "mapped-ram file (its pages are a record stream)");
            goto out;
        }
        st->ram_started = TRUE;
        f->ram_section_id = h.id;
        f->ram_offset = rec_off;
        ok = mr_parse_ram_start(f, c, err) &&
             mr_parse_footer(f, c, h.id, "ram section START", &footer, err);
        if (ok)
            f->footers = st->footers = footer;
        /* Early-setup sections came before the footer mode was known. */
        for (guint i = 0; ok && i < f->devices->len; i++) {
            MrSection *s = g_ptr_array_index(f->devices, i);
            g_autofree char *what = g_strdup_printf(
                "section \"%s\" (id %u, instance %u)", s->idstr,
                s->section_id, s->instance_id);
            ok = check_footer_mode(f, st, s->has_footer,
                                   s->body_offset + s->body_size, what, err);
        }
        goto out;
    }
    if (type == MR_REC_SECTION_START) {
        mr_set_error(err, MR_ERROR_UNSUPPORTED, f->path, rec_off,
                     "iterable section \"%s\" (id %u): only \"ram\" is "
                     "expected in a mapped-ram file", h.idstr, h.id);
        goto out;
    }
    ok = parse_device(f, c, st, rec_off, &h, err);
    if (ok && !f->devices_bounded)
        *stop = TRUE;
out:
    g_free(h.idstr);
    return ok;
}

static gboolean
parse_part_end(MrFile *f, MrCursor *c, LoopState *st, guint8 type,
               guint64 rec_off, GError **err)
{
    const char *what = type == MR_REC_SECTION_PART ? "ram section PART"
                                                   : "ram section END";
    guint32 id;
    gboolean footer;

    if (!mr_cursor_be32(c, &id, "section id", err))
        return FALSE;
    if (!st->ram_started || id != f->ram_section_id || st->ram_ended) {
        mr_set_error(err, MR_ERROR_INVALID, f->path, rec_off,
                     "%s record for section id %u, which has no open START "
                     "(open: %s)", type == MR_REC_SECTION_PART ? "PART" : "END",
                     id, st->ram_started && !st->ram_ended ? "ram" : "none");
        return FALSE;
    }
    if (type == MR_REC_SECTION_END)
        st->ram_ended = TRUE;
    else
        f->parts++;
    return mr_parse_ram_eos(f, c, what, err) &&
           mr_parse_footer(f, c, id, what, &footer, err);
}

static gboolean
parse_command(MrFile *f, MrCursor *c, guint64 rec_off, GError **err)
{
    MrCommand cmd = { .offset = rec_off };

    if (!mr_cursor_be16(c, &cmd.cmd, "command number", err) ||
        !mr_cursor_be16(c, &cmd.len, "command length", err))
        return FALSE;
    if (!mr_cursor_seek(c, c->pos + cmd.len, "end of command data", err))
        return FALSE;
    g_array_append_val(f->commands, cmd);
    return TRUE;
}

static gboolean
parse_records(MrFile *f, GError **err)
{
    MrCursor c;
    LoopState st = { 0 };
    guint64 limit = f->has_vmdesc ? f->vmdesc_offset : f->file_size;
    gboolean ok = FALSE, stop = FALSE;

    mr_cursor_init(&c, f->fd, f->path, f->stream_offset + 8, limit);
    f->walk_budget = (guint64)MR_DEVWALK_FILE_STEPS + 1;
    for (gboolean first = TRUE; !stop; first = FALSE) {
        guint64 rec_off = c.pos;
        guint8 type;

        if (rec_off == limit) {
            mr_set_error(err, MR_ERROR_TRUNCATED, f->path, rec_off,
                         "stream ends without an EOF record (0x00): the save "
                         "was interrupted or the file is truncated");
            goto out;
        }
        if (!mr_cursor_u8(&c, &type, "record type", err))
            goto out;
        switch (type) {
        case MR_REC_CONFIGURATION:
            if (!first) {
                mr_set_error(err, MR_ERROR_INVALID, f->path, rec_off,
                             "CONFIGURATION record is not the first record");
                goto out;
            }
            if (!mr_parse_config(f, &c, err))
                goto out;
            break;
        case MR_REC_SECTION_START:
        case MR_REC_SECTION_FULL:
            if (!parse_section(f, &c, &st, type, rec_off, &stop, err))
                goto out;
            break;
        case MR_REC_SECTION_PART:
        case MR_REC_SECTION_END:
            if (!parse_part_end(f, &c, &st, type, rec_off, err))
                goto out;
            break;
        case MR_REC_COMMAND:
            if (!parse_command(f, &c, rec_off, err))
                goto out;
            break;
        case MR_REC_EOF:
            f->eof_offset = rec_off;
            stop = TRUE;
            break;
        default:
            mr_set_error(err, MR_ERROR_INVALID, f->path, rec_off,
                         "unexpected byte 0x%02x where a record starts "
                         "(expected a section, a command or EOF)", type);
            goto out;
        }
    }
    if (!st.ram_started) {
        mr_set_error(err, MR_ERROR_INVALID, f->path, c.pos,
                     "the stream has no ram section");
        goto out;
    }
    if (!st.ram_ended) {
        /* Without a vmdesc the loop stopped at the first device section. */
        mr_set_error(err, MR_ERROR_INVALID, f->path,
                     f->devices_bounded ? f->eof_offset : f->devices_offset,
                     "the ram section has no END record before the device sections or EOF");
        goto out;
    }
    ok = TRUE;
out:
    f->walk_budget = 0;
    mr_cursor_clear(&c);
    return ok;
}

/* The checks that need the whole stream: where EOF sits relative to the
 * vmdesc and the end of file (R14, R15), and the vmdesc device count. */
static gboolean
check_tail(MrFile *f, GError **err)
{
    if (!f->devices_bounded) {
        guint8 last;

        if (!mr_pread_exact(f->fd, f->path, &last, 1, f->file_size - 1,
                            "last byte", err))
            return FALSE;
        if (last != MR_REC_EOF) {
            mr_set_error(err, MR_ERROR_TRUNCATED, f->path, f->file_size - 1,
                         "the file ends with 0x%02x, neither the EOF record "
                         "nor a vmdesc that ends the file: the save was "
                         "interrupted, the file is truncated, or bytes were "
                         "appended", last);
            return FALSE;
        }
        if (f->footers) {
            if (!mr_scan_devices_by_footer(f, err))
                return FALSE;
            f->devices_bounded = TRUE;
            mr_file_warn(f, f->devices_offset,
                         "no vmdesc: %u device sections found by their "
                         "footers; their fields cannot be decoded",
                         f->devices->len);
            return TRUE;
        }
        f->eof_offset = f->file_size - 1;
        mr_file_warn(f, f->devices_offset,
                     "no vmdesc and no section footers: the device sections "
                     "from here to the EOF record cannot be bounded or "
                     "decoded");
        return TRUE;
    }
    if (f->has_vmdesc) {
        json_object *devs = json_object_object_get(f->vmdesc, "devices");
        if (f->eof_offset + 1 != f->vmdesc_offset) {
            mr_set_error(err, MR_ERROR_INVALID, f->path, f->eof_offset + 1,
                         "%" G_GINT64_MODIFIER "u bytes between the EOF "
                         "record and the vmdesc at 0x%" G_GINT64_MODIFIER "x",
                         f->vmdesc_offset - f->eof_offset - 1, f->vmdesc_offset);
            return FALSE;
        }
        if (json_object_array_length(devs) != f->devices->len) {
            mr_set_error(err, MR_ERROR_INVALID, f->path, f->vmdesc_json_offset,
                         "the vmdesc lists %zu devices but the stream has %u "
                         "device sections", json_object_array_length(devs),
                         f->devices->len);
            return FALSE;
        }
        return TRUE;
    }
    if (f->eof_offset + 1 != f->file_size) {
        mr_set_error(err, MR_ERROR_INVALID, f->path, f->eof_offset + 1,
                     "%" G_GINT64_MODIFIER "u unexpected bytes after the EOF "
                     "record (no vmdesc found at the end of the file)",
                     f->file_size - f->eof_offset - 1);
        return FALSE;
    }
    return TRUE;
}

MrFile *
mr_file_open(const char *path, const MrOpenOptions *opts, GError **err)
{
    static const MrOpenOptions defaults = { 0 };
    g_autoptr(MrFile) f = g_new0(MrFile, 1);
    struct stat st;

    if (opts == NULL)
        opts = &defaults;
    f->path = g_strdup(path);
    f->writable = opts->writable;
    f->bitmap_order = opts->bitmap_order;
    f->capabilities = g_ptr_array_new_with_free_func(g_free);
    f->blocks = g_ptr_array_new_with_free_func(block_free);
    f->devices = g_ptr_array_new_with_free_func(section_free);
    f->commands = g_array_new(FALSE, TRUE, sizeof(MrCommand));
    f->warnings = g_ptr_array_new_with_free_func(g_free);
    f->devices_bounded = TRUE;
    f->fd = open(path, (opts->writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
    if (f->fd < 0) {
        mr_set_error(err, MR_ERROR_IO, path, MR_NO_OFFSET, "cannot open: %s",
                     g_strerror(errno));
        return NULL;
    }
    if (fstat(f->fd, &st) < 0) {
        mr_set_error(err, MR_ERROR_IO, path, MR_NO_OFFSET, "cannot stat: %s",
                     g_strerror(errno));
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        mr_set_error(err, MR_ERROR_INVALID, path, MR_NO_OFFSET,
                     "not a regular file");
        return NULL;
    }
    f->file_size = (guint64)st.st_size;
    if (!mr_libvirt_probe(f, opts, err))
        return NULL;
    if (f->libvirt || opts->has_stream_offset) {
        f->stream_offset = f->libvirt ? f->libvirt->stream_offset
                                      : opts->stream_offset;
        if (!check_magic_at(f, f->stream_offset, err))
            return NULL;
    } else if (!find_stream_start(f, err)) {
        return NULL;
    }
    if (!mr_vmdesc_load(f, err) || !parse_records(f, err) ||
        !check_tail(f, err))
        return NULL;
    return g_steal_pointer(&f);
}
