/* libvirt's save-image header (docs/LIBVIRT.md): what `virsh save`,
 * `virsh managedsave` and libvirt's own save paths write before QEMU's
 * migration stream.
 *
 *   0   16  magic "LibvirtQemudSave" ("LibvirtQemudPart" while unfinished)
 *   16   4  version (2), in the saving host's byte order
 *   20   4  data_len: bytes from 92 to QEMU's stream
 *   24   4  was_running
 *   28   4  format (MrLibvirtFormat)
 *   32   4  cookie_offset: where the cookie starts within data, 0 if none
 *   36  56  unused (14 u32)
 *   92      the domain XML, NUL-terminated; the cookie; zero padding
 *   92 + data_len   QEMU's stream
 *
 * Only the "sparse" format holds a mapped-ram stream; every other format is
 * refused with a message that says how to save a readable image.
 */
#ifndef MR_LIBVIRT_H
#define MR_LIBVIRT_H

#include <glib.h>
#include <json-c/json.h>

#define MR_LIBVIRT_MAGIC "LibvirtQemudSave"
#define MR_LIBVIRT_PARTIAL_MAGIC "LibvirtQemudPart"
#define MR_LIBVIRT_MAGIC_LEN 16u
#define MR_LIBVIRT_HEADER_SIZE 92u
#define MR_LIBVIRT_VERSION 2u

/* The values of libvirt's virQEMUSaveFormat (on disk: never renumbered). */
typedef enum {
    MR_LIBVIRT_FORMAT_RAW = 0,
    MR_LIBVIRT_FORMAT_GZIP = 1,
    MR_LIBVIRT_FORMAT_BZIP2 = 2,
    MR_LIBVIRT_FORMAT_XZ = 3,
    MR_LIBVIRT_FORMAT_LZOP = 4,
    MR_LIBVIRT_FORMAT_ZSTD = 5,
    MR_LIBVIRT_FORMAT_SPARSE = 6,
} MrLibvirtFormat;

typedef struct {
    guint32 version;
    guint32 data_len;
    guint32 was_running;
    guint32 format;
    guint32 cookie_offset;
    gboolean big_endian;   /* the header came from a big-endian host */
    guint64 stream_offset; /* 92 + data_len */
    /* The domain XML as stored, without its NUL and the padding; NULL when
     * it could not be read (a warning says why). */
    char *xml;
    gsize xml_len;
    char *domain_name;     /* /domain/name of the XML; NULL if not found */
} MrLibvirtHeader;

void mr_libvirt_header_free(MrLibvirtHeader *h);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MrLibvirtHeader, mr_libvirt_header_free)

/* "raw", "gzip", ... "sparse"; NULL for a number libvirt never wrote. */
const char *mr_libvirt_format_name(guint32 format);

/* The header as JSON: version, data_len, was_running, format (its name, or
 * the number when unknown), cookie_offset, byte_order, stream_offset,
 * xml_offset, xml_length, domain (null when unknown). */
json_object *mr_libvirt_header_json(const MrLibvirtHeader *h);

#endif
