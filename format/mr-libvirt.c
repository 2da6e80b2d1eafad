/* libvirt's save-image header (mr-libvirt.h, docs/LIBVIRT.md): read before
 * the stream so that a libvirt image opens at its stream exactly, and every
 * image mramfs cannot read says what it is and how to save one it can. */
#include "mr-libvirt.h"

#include <string.h>

#include "mr-parse.h"

/* The domain XML is a few KiB; libvirt pads it with 64 KiB.  A header whose
 * XML runs longer is still opened, without the XML. */
#define MR_LIBVIRT_XML_MAX (4u * 1024 * 1024)

static const char *const format_names[] = {
    [MR_LIBVIRT_FORMAT_RAW] = "raw",
    [MR_LIBVIRT_FORMAT_GZIP] = "gzip",
    [MR_LIBVIRT_FORMAT_BZIP2] = "bzip2",
    [MR_LIBVIRT_FORMAT_XZ] = "xz",
    [MR_LIBVIRT_FORMAT_LZOP] = "lzop",
    [MR_LIBVIRT_FORMAT_ZSTD] = "zstd",
    [MR_LIBVIRT_FORMAT_SPARSE] = "sparse",
};

const char *
mr_libvirt_format_name(guint32 format)
{
    return format < G_N_ELEMENTS(format_names) ? format_names[format] : NULL;
}

void
mr_libvirt_header_free(MrLibvirtHeader *h)
{
    if (h == NULL)
        return;
    g_free(h->xml);
    g_free(h->domain_name);
    g_free(h);
}

json_object *
mr_libvirt_header_json(const MrLibvirtHeader *h)
{
    json_object *o = json_object_new_object();
    const char *name = mr_libvirt_format_name(h->format);

    json_object_object_add(o, "version", json_object_new_int64(h->version));
    json_object_object_add(o, "data_len", json_object_new_int64(h->data_len));
    json_object_object_add(o, "was_running",
                           json_object_new_int64(h->was_running));
    json_object_object_add(o, "format", name ? json_object_new_string(name)
                                             : json_object_new_int64(h->format));
    json_object_object_add(o, "cookie_offset",
                           json_object_new_int64(h->cookie_offset));
    json_object_object_add(o, "byte_order", json_object_new_string(
                               h->big_endian ? "big-endian" : "little-endian"));
    json_object_object_add(o, "stream_offset",
                           json_object_new_uint64(h->stream_offset));
    json_object_object_add(o, "xml_offset",
                           json_object_new_int64(MR_LIBVIRT_HEADER_SIZE));
    json_object_object_add(o, "xml_length", json_object_new_uint64(h->xml_len));
    json_object_object_add(o, "domain", h->domain_name
                           ? json_object_new_string(h->domain_name) : NULL);
    return o;
}

/* ---- the domain name ---------------------------------------------------- */

typedef struct {
    guint depth;
    gboolean in_name;
    GString *name;
    gboolean done;
} NameParse;

static void
name_start(GMarkupParseContext *ctx, const char *element, const char **names,
           const char **values, gpointer data, GError **err)
{
    NameParse *p = data;

    p->depth++;
    if (p->depth == 1 && !g_str_equal(element, "domain"))
        g_set_error(err, G_MARKUP_ERROR, G_MARKUP_ERROR_INVALID_CONTENT,
                    "the root element is <%s>, not <domain>", element);
    else if (p->depth == 2 && !p->done && g_str_equal(element, "name"))
        p->in_name = TRUE;
}

static void
name_end(GMarkupParseContext *ctx, const char *element, gpointer data,
         GError **err)
{
    NameParse *p = data;

    if (p->in_name && p->depth == 2) {
        p->in_name = FALSE;
        p->done = TRUE;
    }
    p->depth--;
}

static void
name_text(GMarkupParseContext *ctx, const char *text, gsize len, gpointer data,
          GError **err)
{
    NameParse *p = data;

    if (p->in_name)
        g_string_append_len(p->name, text, (gssize)len);
}

/* /domain/name, with XML escapes undone, then bytes that are not printable
 * UTF-8 escaped; NULL and a warning otherwise: the name is for showing, a
 * stream that opens is never refused for it. */
static char *
domain_name(MrFile *f, const MrLibvirtHeader *h)
{
    static const GMarkupParser parser = {
        .start_element = name_start,
        .end_element = name_end,
        .text = name_text,
    };
    NameParse p = { .name = g_string_new(NULL) };
    GMarkupParseContext *ctx = g_markup_parse_context_new(&parser, 0, &p, NULL);
    g_autoptr(GError) err = NULL;
    gboolean ok;

    ok = g_markup_parse_context_parse(ctx, h->xml, (gssize)h->xml_len, &err) &&
         g_markup_parse_context_end_parse(ctx, &err);
    g_markup_parse_context_free(ctx);
    if (!ok || !p.done || p.name->len == 0) {
        mr_file_warn(f, MR_LIBVIRT_HEADER_SIZE, "libvirt header: no domain "
                     "name in the domain XML (%s)",
                     !ok ? err->message : "no <name> under <domain>");
        g_string_free(p.name, TRUE);
        return NULL;
    }
    /* Shown in messages, text and JSON: escaped as every name of the
     * snapshot is (mr_escape_text()). */
    {
        char *name = mr_escape_text(p.name->str, (gssize)p.name->len);
        g_string_free(p.name, TRUE);
        return name;
    }
}

/* The XML is what comes before the first NUL of its area (libvirt writes
 * it NUL-terminated, then the cookie or the padding). */
static gboolean
read_xml(MrFile *f, MrLibvirtHeader *h, GError **err)
{
    guint32 area = h->cookie_offset ? h->cookie_offset : h->data_len;
    gsize n = MIN(area, MR_LIBVIRT_XML_MAX);
    g_autofree char *buf = g_malloc(n + 1);
    const char *nul;

    if (!mr_pread_exact(f->fd, f->path, buf, n, MR_LIBVIRT_HEADER_SIZE,
                        "libvirt domain XML", err))
        return FALSE;
    buf[n] = '\0';
    nul = memchr(buf, '\0', n);
    if (nul == NULL && n < area) {
        mr_file_warn(f, MR_LIBVIRT_HEADER_SIZE, "libvirt header: the domain "
                     "XML is longer than %u bytes: not read",
                     MR_LIBVIRT_XML_MAX);
        return TRUE;
    }
    h->xml_len = nul ? (gsize)(nul - buf) : n;
    if (!g_utf8_validate(buf, (gssize)h->xml_len, NULL)) {
        mr_file_warn(f, MR_LIBVIRT_HEADER_SIZE, "libvirt header: the domain "
                     "XML is not UTF-8: not shown");
        h->xml_len = 0;
        return TRUE;
    }
    h->xml = g_steal_pointer(&buf);
    h->domain_name = domain_name(f, h);
    return TRUE;
}

/* ---- the header ------------------------------------------------------- */

static guint32
field(const guint8 *hdr, guint off, gboolean big_endian)
{
    guint32 v;

    memcpy(&v, hdr + off, sizeof(v));
    return big_endian ? GUINT32_FROM_BE(v) : GUINT32_FROM_LE(v);
}

static gboolean
check_version(MrFile *f, const guint8 *hdr, MrLibvirtHeader *h, GError **err)
{
    /* libvirt itself reads a version it does not know as the other byte
     * order; only 2 is valid in either. */
    h->big_endian = FALSE;
    h->version = field(hdr, 16, FALSE);
    if (h->version != MR_LIBVIRT_VERSION &&
        field(hdr, 16, TRUE) == MR_LIBVIRT_VERSION) {
        h->big_endian = TRUE;
        h->version = MR_LIBVIRT_VERSION;
    }
    if (h->version == MR_LIBVIRT_VERSION)
        return TRUE;
    mr_set_error(err, MR_ERROR_UNSUPPORTED, f->path, 16,
                 "libvirt save image header version %u (0x%08x), expected 2 "
                 "(the only version libvirt writes)", h->version, h->version);
    return FALSE;
}

static gboolean
check_lengths(MrFile *f, MrLibvirtHeader *h, GError **err)
{
    guint64 room = f->file_size - MR_LIBVIRT_HEADER_SIZE;

    if (h->data_len == 0) {
        mr_set_error(err, MR_ERROR_INVALID, f->path, 20,
                     "libvirt header: data_len is 0, expected the length of "
                     "the domain XML and its padding");
        return FALSE;
    }
    if (h->data_len > room) {
        mr_set_error(err, MR_ERROR_TRUNCATED, f->path, 20,
                     "libvirt header: data_len 0x%x puts QEMU's stream at 0x%"
                     G_GINT64_MODIFIER "x, past the end of the file (0x%"
                     G_GINT64_MODIFIER "x): the file is truncated or the header "
                     "is damaged", h->data_len, h->stream_offset, f->file_size);
        return FALSE;
    }
    if (h->cookie_offset >= h->data_len) {
        mr_set_error(err, MR_ERROR_INVALID, f->path, 32,
                     "libvirt header: cookie_offset 0x%x is not inside the "
                     "0x%x bytes of data_len", h->cookie_offset, h->data_len);
        return FALSE;
    }
    return TRUE;
}

/* Every format but sparse holds a stream mramfs cannot map: say which, and
 * how to save one it can. */
static gboolean
check_format(MrFile *f, const MrLibvirtHeader *h, GError **err)
{
    const char *name = mr_libvirt_format_name(h->format);
    const char *what;

    if (h->format == MR_LIBVIRT_FORMAT_SPARSE)
        return TRUE;
    if (name == NULL) {
        mr_set_error(err, MR_ERROR_UNSUPPORTED, f->path, 28,
                     "libvirt header: save image format %u, expected one "
                     "libvirt writes (0 raw to 6 sparse)", h->format);
        return FALSE;
    }
    what = h->format == MR_LIBVIRT_FORMAT_RAW
        ? "a plain migration stream, whose pages are a record stream"
        : "a compressed migration stream";
    mr_set_error(err, MR_ERROR_UNSUPPORTED, f->path, 28,
                 "a libvirt save image in the \"%s\" format (%s); mramfs "
                 "reads only the \"sparse\" format (a mapped-ram stream). "
                 "Save the domain with `virsh save DOMAIN FILE --image-format "
                 "sparse`, or set save_image_format = \"sparse\" in "
                 "qemu.conf for managedsave and `virsh save`", name, what);
    return FALSE;
}

static gboolean
check_stream_start(MrFile *f, const MrLibvirtHeader *h,
                   const MrOpenOptions *opts, GError **err)
{
    guint8 magic[4];
    const char *foreign;

    if (opts->has_stream_offset && opts->stream_offset != h->stream_offset) {
        mr_set_error(err, MR_ERROR_INVALID, f->path, 20,
                     "libvirt header: data_len 0x%x puts QEMU's stream at 0x%"
                     G_GINT64_MODIFIER "x, not at the offset given (0x%"
                     G_GINT64_MODIFIER "x)", h->data_len, h->stream_offset,
                     opts->stream_offset);
        return FALSE;
    }
    if (f->file_size - h->stream_offset < sizeof(magic)) {
        mr_set_error(err, MR_ERROR_TRUNCATED, f->path, h->stream_offset,
                     "libvirt header: QEMU's stream should start here "
                     "(92 + data_len 0x%x), but the file ends at 0x%"
                     G_GINT64_MODIFIER "x", h->data_len, f->file_size);
        return FALSE;
    }
    if (!mr_pread_exact(f->fd, f->path, magic, sizeof(magic), h->stream_offset,
                        "stream magic", err))
        return FALSE;
    if (memcmp(magic, "QEVM", sizeof(magic)) == 0)
        return TRUE;
    foreign = mr_foreign_describe(magic, sizeof(magic));
    mr_set_error(err, MR_ERROR_INVALID, f->path, h->stream_offset,
                 "libvirt header: QEMU's stream should start here (92 + "
                 "data_len 0x%x), expected the magic \"QEVM\" (51 45 56 4d), "
                 "found %02x %02x %02x %02x%s%s: the header does not match "
                 "the file", h->data_len, magic[0], magic[1], magic[2],
                 magic[3], foreign ? ", " : "", foreign ? foreign : "");
    return FALSE;
}

gboolean
mr_libvirt_probe(MrFile *f, const MrOpenOptions *opts, GError **err)
{
    guint8 hdr[MR_LIBVIRT_HEADER_SIZE];
    g_autoptr(MrLibvirtHeader) h = NULL;

    if (f->file_size < MR_LIBVIRT_MAGIC_LEN)
        return TRUE;
    if (!mr_pread_exact(f->fd, f->path, hdr, MR_LIBVIRT_MAGIC_LEN, 0,
                        "file header", err))
        return FALSE;
    if (memcmp(hdr, MR_LIBVIRT_PARTIAL_MAGIC, MR_LIBVIRT_MAGIC_LEN) == 0) {
        mr_set_error(err, MR_ERROR_INVALID, f->path, 0,
                     "an unfinished libvirt save image (magic \"%s\", "
                     "expected \"%s\"): the save failed or is still running",
                     MR_LIBVIRT_PARTIAL_MAGIC, MR_LIBVIRT_MAGIC);
        return FALSE;
    }
    if (memcmp(hdr, MR_LIBVIRT_MAGIC, MR_LIBVIRT_MAGIC_LEN) != 0)
        return TRUE;
    if (f->file_size < MR_LIBVIRT_HEADER_SIZE) {
        mr_set_error(err, MR_ERROR_TRUNCATED, f->path, MR_LIBVIRT_MAGIC_LEN,
                     "libvirt save image header: 92 bytes expected, the file "
                     "has 0x%" G_GINT64_MODIFIER "x", f->file_size);
        return FALSE;
    }
    if (!mr_pread_exact(f->fd, f->path, hdr, sizeof(hdr), 0,
                        "libvirt header", err))
        return FALSE;
    h = g_new0(MrLibvirtHeader, 1);
    if (!check_version(f, hdr, h, err))
        return FALSE;
    h->data_len = field(hdr, 20, h->big_endian);
    h->was_running = field(hdr, 24, h->big_endian);
    h->format = field(hdr, 28, h->big_endian);
    h->cookie_offset = field(hdr, 32, h->big_endian);
    h->stream_offset = (guint64)MR_LIBVIRT_HEADER_SIZE + h->data_len;
    if (!check_lengths(f, h, err) || !check_format(f, h, err) ||
        !check_stream_start(f, h, opts, err) || !read_xml(f, h, err))
        return FALSE;
    f->libvirt = g_steal_pointer(&h);
    return TRUE;
}
