/* Bounding device sections without a vmdesc (docs/FORMAT.md §8.2), by their
 * footers: each FULL section ends with 7e + its be32 section id, followed
 * by the next FULL header or, at the very end of the file, the EOF byte.
 * A chain that does not reach the last byte of the file is a truncated
 * file, which is refused (a cut that happens to end on 0x00 would
 * otherwise look complete).  The sections found have no description:
 * their fields cannot be decoded. */
#include <string.h>

#include "mr-parse.h"

#define SCAN_CHUNK (1024u * 1024)

typedef struct {
    guint32 id;
    char *idstr;
    guint32 instance_id, version_id;
    guint64 body;
} Header;

/* A FULL header at pos, plausible as QEMU writes them. */
static gboolean
read_header(MrFile *f, guint64 pos, Header *h)
{
    guint8 buf[4 + 1 + 255 + 8 + 1];
    guint64 avail = f->file_size - pos;
    gsize n = (gsize)MIN((guint64)sizeof(buf), avail);
    guint8 len;
    GError *err = NULL;

    if (avail < 1 + 4 + 1 + 1 + 8 ||
        !mr_pread_exact(f->fd, f->path, buf, n, pos, "section header", &err)) {
        g_clear_error(&err);
        return FALSE;
    }
    if (buf[0] != MR_REC_SECTION_FULL)
        return FALSE;
    len = buf[5];
    if (len == 0 || (gsize)6 + len + 8 > n ||
        !mr_is_printable((const char *)buf + 6, len))
        return FALSE;
    /* Byte by byte: buf + 1 is not aligned for a guint32 load. */
    h->id = (guint32)buf[1] << 24 | (guint32)buf[2] << 16 |
            (guint32)buf[3] << 8 | buf[4];
    h->idstr = g_strndup((const char *)buf + 6, len);
    h->instance_id = (guint32)buf[6 + len] << 24 | (guint32)buf[7 + len] << 16 |
                     (guint32)buf[8 + len] << 8 | buf[9 + len];
    h->version_id = (guint32)buf[10 + len] << 24 | (guint32)buf[11 + len] << 16 |
                    (guint32)buf[12 + len] << 8 | buf[13 + len];
    h->body = pos + 6 + len + 8;
    return TRUE;
}

/* The first footer of section id at or after `from` that is followed by a
 * record that fits: a FULL header, or EOF as the file's last byte. */
static gboolean
find_footer(MrFile *f, guint64 from, guint32 id, guint64 *footer,
            GError **err)
{
    g_autofree guint8 *buf = g_malloc(SCAN_CHUNK + 6);
    guint8 want[5] = { MR_REC_SECTION_FOOTER, id >> 24, id >> 16, id >> 8, id };

    for (guint64 base = from; base + 6 <= f->file_size; base += SCAN_CHUNK) {
        gsize n = (gsize)MIN((guint64)SCAN_CHUNK + 5, f->file_size - base);

        if (!mr_pread_exact(f->fd, f->path, buf, n, base, "device sections", err))
            return FALSE;
        for (gsize i = 0; i + 6 <= n; i++) {
            guint64 next = base + i + 5;
            Header h = { 0 };

            if (memcmp(buf + i, want, sizeof(want)) != 0)
                continue;
            if (buf[i + 5] == MR_REC_EOF && next == f->file_size - 1) {
                *footer = base + i;
                return TRUE;
            }
            if (read_header(f, next, &h)) {
                g_free(h.idstr);
                *footer = base + i;
                return TRUE;
            }
        }
    }
    *footer = 0;
    return TRUE;
}

gboolean
mr_scan_devices_by_footer(MrFile *f, GError **err)
{
    guint64 pos = f->devices_offset;

    for (;;) {
        Header h = { 0 };
        guint64 footer;
        MrSection *s;

        if (!read_header(f, pos, &h)) {
            mr_set_error(err, MR_ERROR_INVALID, f->path, pos,
                         "expected a device section (FULL record) here, "
                         "found none");
            return FALSE;
        }
        if (!find_footer(f, h.body, h.id, &footer, err)) {
            g_free(h.idstr);
            return FALSE;
        }
        if (footer == 0) {
            mr_set_error(err, MR_ERROR_TRUNCATED, f->path, pos,
                         "device section \"%s\" (id %u) has no footer before "
                         "the end of the file: the file is truncated (and "
                         "has no vmdesc)", h.idstr, h.id);
            g_free(h.idstr);
            return FALSE;
        }
        s = g_new0(MrSection, 1);
        s->section_id = h.id;
        s->idstr = h.idstr;
        s->instance_id = h.instance_id;
        s->version_id = h.version_id;
        s->offset = pos;
        s->body_offset = h.body;
        s->body_size = footer - h.body;
        s->has_footer = TRUE;
        s->end_offset = footer + 5;
        g_ptr_array_add(f->devices, s);
        pos = s->end_offset;
        if (pos == f->file_size - 1) {
            f->eof_offset = pos;
            return TRUE;
        }
    }
}
