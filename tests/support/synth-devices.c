#include "synth-devices.h"

#include <string.h>

const char ts_pc87312_desc[] =
    "{\"vmsd_name\":\"pc87312\",\"version\":1,\"fields\":["
    "{\"name\":\"read_id_step\",\"type\":\"uint8\",\"size\":1},"
    "{\"name\":\"selected_index\",\"type\":\"uint8\",\"size\":1},"
    "{\"name\":\"regs\",\"array_len\":3,\"type\":\"uint8\",\"size\":1}]}";

const char ts_pc87312_buffer_desc[] =
    "{\"vmsd_name\":\"pc87312\",\"version\":1,\"fields\":["
    "{\"name\":\"read_id_step\",\"type\":\"uint8\",\"size\":1},"
    "{\"name\":\"selected_index\",\"type\":\"uint8\",\"size\":1},"
    "{\"name\":\"regs\",\"type\":\"buffer\",\"size\":3}]}";

const char ts_serial_desc[] =
    "{\"vmsd_name\":\"serial\",\"version\":3,\"fields\":["
    "{\"name\":\"state\",\"type\":\"struct\",\"size\":3,\"struct\":{"
    "\"vmsd_name\":\"serial\",\"version\":3,\"fields\":["
    "{\"name\":\"divider\",\"type\":\"uint16\",\"size\":2},"
    "{\"name\":\"lcr\",\"type\":\"uint8\",\"size\":1}]}}]}";

const char ts_via_isa_desc[] =
    "{\"vmsd_name\":\"via-isa\",\"version\":1,\"fields\":["
    "{\"name\":\"dev\",\"type\":\"struct\",\"struct\":{"
    "\"vmsd_name\":\"PCIDevice\",\"version\":2,\"fields\":["
    "{\"name\":\"version_id\",\"type\":\"int32 le\",\"size\":4},"
    "{\"name\":\"config[0]\",\"type\":\"pci config\",\"size\":256},"
    "{\"name\":\"irq_state\",\"type\":\"pci irq state\",\"size\":16}]},"
    "\"size\":276}]}";

const char ts_short_via_isa_desc[] =
    "{\"vmsd_name\":\"via-isa\",\"version\":1,\"fields\":["
    "{\"name\":\"dev\",\"type\":\"struct\",\"struct\":{"
    "\"vmsd_name\":\"PCIDevice\",\"version\":2,\"fields\":["
    "{\"name\":\"version_id\",\"type\":\"int32 le\",\"size\":4},"
    "{\"name\":\"config[0]\",\"type\":\"pci config\",\"size\":64}]},"
    "\"size\":68}]}";

void
ts_via_isa_body(guint8 body[TS_VIA_ISA_BODY], guint16 device_id)
{
    guint8 *cfg = body + TS_VIA_CONFIG_AT;

    memset(body, 0, TS_VIA_ISA_BODY);
    body[3] = 2; /* PCIDevice version_id, int32 le */
    cfg[0] = 0x06, cfg[1] = 0x11;
    cfg[2] = (guint8)device_id, cfg[3] = (guint8)(device_id >> 8);
    cfg[8] = device_id == 0x8231 ? 0x10 : 0x40;
}

gboolean
ts_writer_add_device(MrWriter *w, const TsDevice *d, GError **err)
{
    return mr_writer_add_device(w, d->idstr, d->instance_id, d->version_id,
                                d->desc, d->body, d->len, FALSE, err);
}
