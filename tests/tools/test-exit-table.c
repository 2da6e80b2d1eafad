/* The one exit-status table (tools/cli-common.c) is what each command's
 * man page says under EXIT STATUS: the same set of statuses, each
 * documented once.  Also, statuses are chosen by error code:
 * cli_outcome_of_error() on each MR_ERROR code.
 *
 *   test-exit-table COMMAND=MANPAGE...   (info, mount, check, restore)
 */
#include <stdio.h>
#include <string.h>

#include "cli-common.h"
#include "mr-error.h"

static int failed;

#define CHECK(ok, ...)                                                        \
    do {                                                                      \
        if (!(ok)) {                                                          \
            failed++;                                                         \
            printf("FAIL ");                                                  \
            printf(__VA_ARGS__);                                              \
            printf("\n");                                                     \
        }                                                                     \
    } while (0)

/* The statuses the page lists as ".B N" lines under EXIT STATUS. */
static GHashTable *
documented(const char *page)
{
    GHashTable *set = g_hash_table_new(g_direct_hash, g_direct_equal);
    g_autofree char *text = NULL;
    g_auto(GStrv) lines = NULL;
    gboolean in = FALSE;

    if (!g_file_get_contents(page, &text, NULL, NULL)) {
        CHECK(FALSE, "%s: cannot read", page);
        return set;
    }
    lines = g_strsplit(text, "\n", -1);
    for (guint i = 0; lines[i]; i++) {
        char *end;
        guint64 n;

        if (g_str_has_prefix(lines[i], ".SH"))
            in = strstr(lines[i], "EXIT STATUS") != NULL;
        if (!in || !g_str_has_prefix(lines[i], ".B "))
            continue;
        n = g_ascii_strtoull(lines[i] + 3, &end, 10);
        if (*end != '\0' || end == lines[i] + 3)
            continue;
        CHECK(!g_hash_table_contains(set, GUINT_TO_POINTER(n)),
              "%s: status %" G_GUINT64_FORMAT " documented twice", page, n);
        g_hash_table_add(set, GUINT_TO_POINTER(n));
    }
    return set;
}

int
main(int argc, char **argv)
{
    static const char *const names[CLI_NCOMMANDS] = { "info", "mount", "check",
                                                      "restore" };
    static const struct { MrErrorCode code; CliOutcome want; } by_code[] = {
        { MR_ERROR_IO, CLI_UNREADABLE }, { MR_ERROR_TRUNCATED, CLI_INVALID },
        { MR_ERROR_INVALID, CLI_INVALID }, { MR_ERROR_UNSUPPORTED, CLI_INVALID },
        { MR_ERROR_RANGE, CLI_INVALID }, { MR_ERROR_READONLY, CLI_UNREADABLE },
        { MR_ERROR_NOSPACE, CLI_UNREADABLE }, { MR_ERROR_REFUSED, CLI_USAGE },
        { MR_ERROR_BUSY, CLI_BUSY },
    };
    guint pages = 0;

    for (int a = 1; a < argc; a++) {
        const char *eq = strchr(argv[a], '=');
        g_autoptr(GHashTable) doc = NULL;
        g_autoptr(GHashTable) table = g_hash_table_new(g_direct_hash, g_direct_equal);
        int cmd = -1;

        for (int c = 0; eq && c < CLI_NCOMMANDS; c++)
            if (strncmp(argv[a], names[c], (size_t)(eq - argv[a])) == 0 &&
                strlen(names[c]) == (size_t)(eq - argv[a]))
                cmd = c;
        CHECK(cmd >= 0, "%s: expected COMMAND=MANPAGE", argv[a]);
        if (cmd < 0)
            continue;
        for (int o = 0; o < CLI_NOUTCOMES; o++) {
            int s = cli_exit_status((CliCommand)cmd, (CliOutcome)o);
            /* An outcome the command never has gives a status it has. */
            /* fsck's statuses are ORed: each is one bit. */
            CHECK(cmd != CLI_CHECK || (s & (s - 1)) == 0, "check: %d is not one bit", s);
            g_hash_table_add(table, GINT_TO_POINTER(s));
        }
        doc = documented(eq + 1);
        GHashTableIter it;
        gpointer k;
        g_hash_table_iter_init(&it, table);
        while (g_hash_table_iter_next(&it, &k, NULL))
            CHECK(g_hash_table_contains(doc, k), "%s: status %d of the table is "
                  "not in its man page %s", names[cmd], GPOINTER_TO_INT(k), eq + 1);
        g_hash_table_iter_init(&it, doc);
        while (g_hash_table_iter_next(&it, &k, NULL))
            CHECK(g_hash_table_contains(table, k), "%s: its man page lists status %d, "
                  "which the table never gives", names[cmd], GPOINTER_TO_INT(k));
        pages++;
    }
    for (gsize i = 0; i < G_N_ELEMENTS(by_code); i++) {
        GError *e = g_error_new_literal(MR_ERROR, by_code[i].code, "x");
        CHECK(cli_outcome_of_error(e) == by_code[i].want, "MR_ERROR code %d: "
              "outcome %d, expected %d", by_code[i].code, cli_outcome_of_error(e),
              by_code[i].want);
        g_error_free(e);
    }
    CHECK(pages == CLI_NCOMMANDS, "%u man pages given, %d commands", pages,
          CLI_NCOMMANDS);
    printf("%s: %u man pages against the exit-status table\n",
           failed ? "FAIL" : "ok", pages);
    return failed ? 1 : 0;
}
