/* mramfs-info: what a mapped-ram migration file holds (see mramfs-info(1)).
 * Every string of the snapshot it prints (and the file's own name) goes
 * through mr_escape_text(): no byte of the file reaches the terminal raw. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli-common.h"
#include "ds-decode.h"
#include "ds-guestmap.h"
#include "ds-vmcore.h"
#include "mr-error.h"
#include "mr-file.h"
#include "mr-read.h"
#include "mr-summary.h"

static char *
human_size(guint64 n)
{
    return g_format_size_full(n, G_FORMAT_SIZE_IEC_UNITS);
}

/* One line of text output, escaped whole (it carries names of the
 * snapshot), then a newline. */
static void line(const char *fmt, ...) G_GNUC_PRINTF(1, 2);

static void
line(const char *fmt, ...)
{
    va_list ap;
    g_autofree char *raw = NULL, *e = NULL;

    va_start(ap, fmt);
    raw = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    e = mr_escape_text(raw, -1);
    puts(e);
}

/* Prints a string of the snapshot, escaped, after a prefix. */
static void
put_text(const char *prefix, const char *s)
{
    g_autofree char *e = mr_escape_text(s, -1);

    fputs(prefix, stdout);
    fputs(e, stdout);
}

/* The libvirt header around the stream: the domain's name comes from its
 * XML, bytes of the file. */
static void
print_libvirt(const MrLibvirtHeader *h)
{
    g_autofree char *xml = human_size(h->xml_len);
    g_autofree char *name = h->domain_name ? g_strdup_printf("\"%s\"", h->domain_name)
                                           : g_strdup("(unknown)");

    line("libvirt:       save image of domain %s (format %s, was running: "
         "%s, domain XML %s)", name, mr_libvirt_format_name(h->format),
         h->was_running ? "yes" : "no", xml);
}

/* Returns the exit status: a bitmap that can no longer be read whole (the
 * file shrank under us) is said on stderr. */
static int
print_table(const MrFile *f)
{
    int status;
    g_autofree char *fsize = human_size(f->file_size);
    g_autofree char *ram = human_size(f->ram_total);
    g_autofree char *path = mr_escape_text(f->path, -1);
    guint64 present_total = 0;
    GPtrArray *problems = g_ptr_array_new_with_free_func(g_free);

    printf("file:          %s (%s)\n", path, fsize);
    if (f->libvirt)
        print_libvirt(f->libvirt);
    if (f->stream_offset)
        printf("stream offset: 0x%" G_GINT64_MODIFIER "x\n", f->stream_offset);
    put_text("machine:       ", f->machine ? f->machine : "(none)");
    putchar('\n');
    printf("page size:     %" G_GINT64_MODIFIER "u\n", f->page_size);
    printf("capabilities: ");
    for (guint i = 0; i < f->capabilities->len; i++)
        put_text(" ", g_ptr_array_index(f->capabilities, i));
    printf("\nguest RAM:     %s in %u blocks\n\n", ram, f->blocks->len);

    printf("%-28s %12s %10s %12s %12s %12s %12s\n", "RAM BLOCK", "SIZE",
           "PRESENT", "STORED", "HEADER", "BITMAP", "PAGES");
    for (guint i = 0; i < f->blocks->len; i++) {
        const MrRamBlock *b = g_ptr_array_index(f->blocks, i);
        GError *err = NULL;
        guint64 present;
        gboolean counted = mr_block_count_present(b, &present, &err);
        g_autofree char *name = mr_escape_text(b->idstr, -1);
        g_autofree char *size = human_size(b->used_length);
        g_autofree char *stored = counted ? human_size(present * b->page_size)
                                          : g_strdup("?");

        if (!counted)
            g_ptr_array_add(problems, g_strdup(err->message));
        g_clear_error(&err);
        present_total += present;
        if (!b->stored) {
            printf("%-28s %12s %10s %12s %#12" G_GINT64_MODIFIER "x %12s %12s\n",
                   name, size, "-", "not stored", b->header_offset, "-", "-");
            continue;
        }
        printf("%-28s %12s %10" G_GINT64_MODIFIER "u%s %12s %#12"
               G_GINT64_MODIFIER "x %#12" G_GINT64_MODIFIER "x %#12"
               G_GINT64_MODIFIER "x\n", name, size, present, counted ? "" : "?",
               stored, b->header_offset, b->bitmap_offset, b->pages_offset);
    }
    printf("%-28s %12s %10" G_GINT64_MODIFIER "u\n\n", "total", ram,
           present_total);

    if (!f->devices_bounded) {
        printf("device sections: from 0x%" G_GINT64_MODIFIER "x, not "
               "decodable without a vmdesc\n", f->devices_offset);
    } else {
        printf("%-36s %5s %4s %12s %8s\n", "DEVICE SECTION", "INST", "VER",
               "OFFSET", "SIZE");
        for (guint i = 0; i < f->devices->len; i++) {
            const MrSection *s = g_ptr_array_index(f->devices, i);
            g_autofree char *name = mr_escape_text(s->idstr, -1);
            printf("%-36s %5u %4u %#12" G_GINT64_MODIFIER "x %8"
                   G_GINT64_MODIFIER "u\n", name, s->instance_id,
                   s->version_id, s->offset, s->end_offset - s->offset);
        }
    }
    if (f->has_vmdesc)
        printf("\nvmdesc:        %" G_GINT64_MODIFIER "u bytes of JSON at 0x%"
               G_GINT64_MODIFIER "x\n", f->vmdesc_size, f->vmdesc_json_offset);
    else
        printf("\nvmdesc:        none\n");
    /* Messages are escaped where they are made (mr-error.h). */
    for (guint i = 0; i < f->warnings->len; i++)
        printf("warning: %s\n", (char *)g_ptr_array_index(f->warnings, i));
    for (guint i = 0; i < problems->len; i++)
        fprintf(stderr, "mramfs-info: %s\n", (char *)g_ptr_array_index(problems, i));
    status = problems->len ? cli_exit_status(CLI_INFO, CLI_UNREADABLE)
                           : cli_exit_status(CLI_INFO, CLI_OK);
    g_ptr_array_unref(problems);
    return status;
}

/* NAME is an idstr ("serial", "pci:05.0/via-isa") with an optional
 * ".INSTANCE", as the mount names device files. */
static gboolean
device_matches(const MrSection *s, const char *name)
{
    g_autofree char *with_inst = g_strdup_printf("%s.%u", s->idstr, s->instance_id);

    return g_str_equal(name, with_inst) ||
           (g_str_equal(name, s->idstr) && s->instance_id == 0);
}

static int
print_devices(MrFile *f, const char *only)
{
    json_object *out = json_object_new_array();
    g_autoptr(GError) err = NULL;
    int status = cli_exit_status(CLI_INFO, CLI_OK);

    for (guint i = 0; i < f->devices->len; i++) {
        MrSection *s = g_ptr_array_index(f->devices, i);
        json_object *d;

        if (only && !device_matches(s, only))
            continue;
        d = ds_decode_section(f, s, &err);
        if (d == NULL) {
            fprintf(stderr, "mramfs-info: %s\n", err->message);
            json_object_put(out);
            return cli_exit_status_of_error(CLI_INFO, err);
        }
        json_object_array_add(out, d);
    }
    if (only && json_object_array_length(out) == 0) {
        g_autofree char *path = mr_escape_text(f->path, -1);
        g_autofree char *name = mr_escape_text(only, -1);
        fprintf(stderr, "mramfs-info: %s: no device section \"%s\"\n", path,
                name);
        status = cli_exit_status(CLI_INFO, CLI_INVALID);
    } else {
        puts(json_object_to_json_string_ext(
            only ? json_object_array_get_idx(out, 0) : out,
            JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED));
    }
    json_object_put(out);
    return status;
}

/* "rule", or "rule via window via window" for ranges seen through
 * aliases (a PAM register selecting PCI, the SMRAM window). */
static char *
rule_text(json_object *why)
{
    json_object *r, *through, *dev, *bar;
    GString *s = g_string_new(json_object_object_get_ex(why, "rule", &r)
                              ? json_object_get_string(r) : "?");

    if (json_object_object_get_ex(why, "device", &dev)) {
        g_string_append_printf(s, " %s", json_object_get_string(dev));
        if (json_object_object_get_ex(why, "bar", &bar))
            g_string_append_printf(s, " BAR %s", json_object_get_string(bar));
    }

    if (json_object_object_get_ex(why, "through", &through)) {
        for (size_t i = json_object_array_length(through); i-- > 0;) {
            json_object *w = json_object_array_get_idx(through, i);
            if (json_object_object_get_ex(w, "rule", &r))
                g_string_append_printf(s, " via %s", json_object_get_string(r));
        }
    }
    return g_string_free(s, FALSE);
}

static int
print_map(MrFile *f, gboolean json)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(DsGuestMap) m = ds_guest_map_new(f, &err);
    json_object *vmcore = NULL, *o, *blocks, *why;

    if (m == NULL) {
        fprintf(stderr, "mramfs-info: %s\n", err->message);
        return cli_exit_status_of_error(CLI_INFO, err);
    }
    /* Whether guest/vmcore is there, as the mount decides it. */
    mr_vfile_free(ds_vmcore_offer(f, m, &vmcore));
    if (json) {
        o = ds_guest_map_json(m);
        json_object_object_add(o, "vmcore", vmcore);
        puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
                                                   JSON_C_TO_STRING_SPACED));
        json_object_put(o);
        return cli_exit_status(CLI_INFO, CLI_OK);
    }
    line("guest-physical map of %s (machine %s)", f->path,
         f->machine ? f->machine : "(none)");
    line("%s", "");
    line("%-18s %-18s %10s %-4s %-28s %12s  %s", "START", "END", "SIZE",
         "KIND", "RAM BLOCK", "BLOCK OFFSET", "RULE");
    for (guint i = 0; i < m->ranges->len; i++) {
        const DsGuestRange *r = &g_array_index(m->ranges, DsGuestRange, i);
        g_autofree char *size = human_size(r->length);
        g_autofree char *rule = rule_text(r->why);
        g_autofree char *boff = g_strdup_printf("0x%" G_GINT64_MODIFIER "x",
                                                r->block_offset);
        line("0x%016" G_GINT64_MODIFIER "x 0x%016" G_GINT64_MODIFIER "x %10s "
             "%-4s %-28s %12s  %s", r->gpa, r->gpa + r->length - 1, size,
             r->kind == DS_RANGE_ROM ? "rom" : "ram", r->block->idstr, boff, rule);
    }
    if (json_object_array_length(m->missing) > 0) {
        line("%s", "");
        line("%s", "missing (left out of the map):");
    }
    for (size_t i = 0; i < json_object_array_length(m->missing); i++) {
        json_object *e = json_object_array_get_idx(m->missing, i), *w, *y;
        json_object_object_get_ex(e, "what", &w);
        json_object_object_get_ex(e, "why", &y);
        line("  %s: %s", json_object_get_string(w), json_object_get_string(y));
    }
    line("%s", "");
    if (json_object_object_get_ex(vmcore, "why", &why))
        line("guest/vmcore: none: %s", json_object_get_string(why));
    else
        line("%s", "guest/vmcore: the ELF core of QEMU's dump-guest-memory");
    json_object_put(vmcore);
    if (json_object_object_get_ex(m->machine, "blocks", &blocks)) {
        gboolean header = FALSE;
        json_object_object_foreach(blocks, name, note) {
            json_object *mapped, *text;
            if (!json_object_object_get_ex(note, "mapped", &mapped) ||
                json_object_get_boolean(mapped) ||
                !json_object_object_get_ex(note, "note", &text))
                continue;
            if (!header) {
                line("%s", "");
                line("%s", "RAM blocks not in the map:");
            }
            header = TRUE;
            line("  %s: %s", name, json_object_get_string(text));
        }
    }
    return cli_exit_status(CLI_INFO, CLI_OK);
}

int
main(int argc, char **argv)
{
    gboolean json = FALSE, devices = FALSE, map = FALSE;
    g_autofree char *device = NULL;
    g_auto(CliOpenArgs) args = { 0 };
    GOptionEntry entries[] = {
        { "json", 'j', 0, G_OPTION_ARG_NONE, &json,
          "Print one JSON object instead of tables", NULL },
        { "devices", 'D', 0, G_OPTION_ARG_NONE, &devices,
          "Print every device section decoded, as JSON", NULL },
        { "device", 'd', 0, G_OPTION_ARG_STRING, &device,
          "Print one device section decoded (IDSTR or IDSTR.INSTANCE)", "NAME" },
        { "map", 'm', 0, G_OPTION_ARG_NONE, &map,
          "Print the guest-physical memory map (with --json: as JSON)", NULL },
        G_OPTION_ENTRY_NULL
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new("FILE");
    g_autoptr(GError) err = NULL;
    g_autoptr(MrFile) f = NULL;
    MrOpenOptions opts = { 0 };
    int status;

    g_option_context_set_summary(ctx, "Show what a QEMU mapped-ram migration "
                                 "file holds: machine, RAM blocks, devices.");
    g_option_context_add_main_entries(ctx, entries, NULL);
    cli_add_open_entries(ctx, &args);
    status = cli_parse_one_file(ctx, CLI_INFO, &argc, &argv, &args, &opts);
    if (status >= 0)
        return status;
    f = mr_file_open(argv[1], &opts, &err);
    if (f == NULL) {
        fprintf(stderr, "mramfs-info: %s\n", err->message);
        return cli_exit_status_of_error(CLI_INFO, err);
    }
    if (devices || device)
        return print_devices(f, device);
    if (map)
        status = print_map(f, json);
    else if (json) {
        json_object *o = mr_summary_json(f);
        puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
                                                   JSON_C_TO_STRING_SPACED));
        json_object_put(o);
        status = cli_exit_status(CLI_INFO, CLI_OK);
    } else {
        status = print_table(f);
    }
    if (fflush(stdout) != 0)
        status = cli_exit_status(CLI_INFO, CLI_UNREADABLE);
    return status;
}
