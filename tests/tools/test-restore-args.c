/* mramfs-restore's judgement of a QEMU command line (restore-args.h): the
 * RAM sizes QEMU reads from -m (the expected values are what QEMU 10.0.2's
 * query-memory-size-summary reported for each), its version line, and
 * every refusal with the words that tell the user what to change. */
#include <string.h>

#include "restore-args.h"
#include "test-helpers.h"

#include "mr-lazy.h"

#define MiB (1ull << 20)
#define GiB (1ull << 30)

static void
test_ram_size_reads_every_form_of_dash_m(void)
{
    static const struct {
        const char *arg;
        gboolean has_size;
        guint64 bytes;
    } ok[] = {
        { "4096", TRUE, 4 * GiB },           /* no unit: MiB */
        { "4G", TRUE, 4 * GiB },
        { "4g", TRUE, 4 * GiB },
        { "512M", TRUE, 512 * MiB },
        { "size=4G,slots=2,maxmem=8G", TRUE, 4 * GiB },
        { "4G,slots=2,maxmem=8G", TRUE, 4 * GiB },
        { "size=512", TRUE, 512 * MiB },
        { "1.5G", TRUE, 1536 * MiB },
        { "1.0001G", TRUE, 1073856512 },     /* QEMU: cut, then 8 KiB up */
        { "4097k", TRUE, 4202496 },
        { "3.3333M", TRUE, 3497984 },
        { "1.00000000001G", TRUE, GiB },
        { "slots=2,maxmem=8G", FALSE, 0 },
    };
    static const char *const bad[] = {
        "0x100", "1.5", "1e3", "1.5B", "4Q", "", "size=", "0", "G",
        "99999999999999999999", "17179869184G",
    };

    for (guint i = 0; i < G_N_ELEMENTS(ok); i++) {
        g_autoptr(GError) err = NULL;
        gboolean has = !ok[i].has_size;
        guint64 bytes = 0;
        gboolean r = restore_parse_ram_size(ok[i].arg, &has, &bytes, &err);

        MRT_CHECK(r && has == ok[i].has_size && (!has || bytes == ok[i].bytes),
                  "-m %s: got %s, has_size %d, %" G_GUINT64_FORMAT " bytes; "
                  "want %" G_GUINT64_FORMAT, ok[i].arg,
                  r ? "ok" : err->message, has, bytes, ok[i].bytes);
    }
    for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) err = NULL;
        gboolean has;
        guint64 bytes;
        gboolean r = restore_parse_ram_size(bad[i], &has, &bytes, &err);

        MRT_CHECK(!r && g_error_matches(err, RESTORE_ERROR, RESTORE_ERROR_REFUSED) &&
                  strstr(err->message, "not a RAM size") != NULL,
                  "-m \"%s\" refused: %s", bad[i], r ? "(accepted)" : err->message);
    }
}

static void
test_qemu_version_line_and_the_mapped_ram_minimum(void)
{
    g_autoptr(GError) err = NULL;
    guint ma = 0, mi = 0;

    CU_ASSERT(restore_parse_qemu_version(
        "QEMU emulator version 10.0.2 (Debian 1:10.0.2+ds-2~bpo12+1)\n"
        "Copyright (c) 2003-2025 Fabrice Bellard and the QEMU Project "
        "developers\n", &ma, &mi, &err));
    CU_ASSERT(ma == 10 && mi == 0);
    CU_ASSERT(restore_check_qemu_version("q", 10, 0, &err));
    CU_ASSERT(restore_check_qemu_version("q", 9, 0, &err));
    CU_ASSERT(restore_parse_qemu_version("QEMU emulator version 8.2.2\n", &ma, &mi, &err));
    CU_ASSERT(ma == 8 && mi == 2);
    CU_ASSERT_FALSE(restore_check_qemu_version("/usr/bin/q", 8, 2, &err));
    MRT_CHECK(err && strstr(err->message, "/usr/bin/q is QEMU 8.2") &&
              strstr(err->message, "9.0 or later"), "message: %s",
              err ? err->message : "(none)");
    g_clear_error(&err);
    CU_ASSERT_FALSE(restore_parse_qemu_version("bash: qemu: not found\n", &ma,
                                               &mi, &err));
    MRT_CHECK(err && strstr(err->message, "bash: qemu: not found"),
              "message: %s", err ? err->message : "(none)");
}

typedef struct {
    const char *args; /* space-separated */
    const char *needle; /* in the message; NULL: accepted */
} ArgCase;

static void
check_cases(const MrFile *f, const MrRamBlock *lazy, const ArgCase *cases,
            guint n)
{
    for (guint i = 0; i < n; i++) {
        g_autoptr(GError) err = NULL;
        g_auto(GStrv) args = g_strsplit(cases[i].args, " ", -1);
        gboolean r = restore_check_args(f, lazy, args, &err);

        if (cases[i].needle == NULL)
            MRT_CHECK(r, "accepted: %s (%s)", cases[i].args,
                      err ? err->message : "");
        else
            MRT_CHECK(!r && g_error_matches(err, RESTORE_ERROR,
                                            RESTORE_ERROR_REFUSED) &&
                      strstr(err->message, cases[i].needle) != NULL,
                      "refused with \"%s\": %s (%s)", cases[i].needle,
                      cases[i].args, r ? "accepted" : err->message);
    }
}

static void
test_args_refuse_what_cannot_restore_lazily(void)
{
    /* mrt_writer_pc(): pc.ram of 8 MiB. */
    g_autofree char *path = mrt_write_pc("restore-args.mig", NULL);
    g_autoptr(MrFile) f = MRT_OPEN(path, NULL);
    MrRamBlock *lazy;
    static const ArgCase cases[] = {
        { "-M pc -m 8", NULL },
        { "-M pc -m 8M -S -nodefaults", NULL },
        { "-M pc --m size=8M,slots=2,maxmem=1G", NULL },
        { "-M pc", NULL },                              /* the backend's size */
        { "-M pc -m 16 -m 8", NULL },                   /* the last one wins */
        { "-M pc -m slots=2,maxmem=1G", NULL },
        { "-M pc -m 16", "-m 16 is 0x1000000 bytes" },
        { "-M pc -m 16", "saved with 0x800000 bytes of RAM (ram block \"pc.ram\", -m 8M)" },
        { "-M pc -m 8 -m 1.5G", "-m 1.5G" },
        { "-M pc -m 0x8", "not a RAM size" },
        { "-M pc -m", "-m needs an argument" },
        { "-M pc -m 8 -incoming defer", "adds -incoming itself" },
        { "-M pc -m 8 --incoming file:/x", "adds -incoming itself" },
        { "-M pc -m 8 -daemonize", "-daemonize" },
        { "-M pc -m 8 -mem-path /dev/hugepages", "-mem-path" },
        { "-M pc,memory-backend=m0 -m 8", "remove memory-backend=" },
        { "-machine type=q35,memory-backend=m0", "remove memory-backend=" },
        { "-M pc -object memory-backend-memfd,id=m1,size=8M,share=on", "share=on" },
        { "-M pc -object memory-backend-file,id=m1,size=8M,mem-path=/x,share=yes", "share=on" },
        { "-M pc -object qom-type=memory-backend-ram,id=m1,size=8M,share", "share=on" },
        { "-M pc -object {\"qom-type\":\"memory-backend-memfd\",\"id\":\"m1\",\"size\":8388608,\"share\":true}", "share=on" },
        { "-M pc -object memory-backend-ram,id=m1,size=8M,share=off", NULL },
        { "-M pc -object memory-backend-ram,id=pc.ram,size=8M", "adds the memory backend \"pc.ram\" itself" },
        /* Not memory backends, and ",," is a ',' inside a value. */
        { "-M pc -object secret,id=s0,data=share=on", NULL },
        { "-M pc -object memory-backend-file,id=m1,size=8M,mem-path=/a,,share=on", NULL },
        { "-M pc -name share=on -append console=ttyS0", NULL },
    };

    CU_ASSERT_FATAL(f != NULL);
    lazy = mr_lazy_block(f);
    CU_ASSERT_FATAL(lazy != NULL);
    check_cases(f, lazy, cases, G_N_ELEMENTS(cases));
}

static void
test_args_without_a_lazy_block_leave_the_ram_size_to_qemu(void)
{
    g_autofree char *path = mrt_write_pc("restore-args-none.mig", NULL);
    g_autoptr(MrFile) f = MRT_OPEN(path, NULL);
    static const ArgCase cases[] = {
        { "-M 40p -m 64", NULL },
        { "-M 40p -m 64 -incoming defer", "adds -incoming itself" },
        { "-M 40p -object memory-backend-ram,id=pc.ram,size=8M", NULL },
    };

    CU_ASSERT_FATAL(f != NULL);
    check_cases(f, NULL, cases, G_N_ELEMENTS(cases));
}

static const MrtTest restore_tests[] = {
    MRT_TEST(test_ram_size_reads_every_form_of_dash_m),
    MRT_TEST(test_qemu_version_line_and_the_mapped_ram_minimum),
    MRT_TEST(test_args_refuse_what_cannot_restore_lazily),
    MRT_TEST(test_args_without_a_lazy_block_leave_the_ram_size_to_qemu),
    MRT_END,
};

int
main(int argc, char **argv)
{
    static const MrtSuite suites[] = {
        { "mramfs-restore arguments", restore_tests },
        { NULL, NULL },
    };

    return mrt_main(argc, argv, suites);
}
