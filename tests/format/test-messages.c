/* mr_escape_text() and the messages made with it (mr-error.h): every byte
 * of a snapshot that is not printable UTF-8 comes out as \xNN. */
#include <string.h>

#include "test-helpers.h"

static void
check_escape(const char *in, gssize len, const char *want)
{
    g_autofree char *got = mr_escape_text(in, len);
    g_autofree char *twice = mr_escape_text(got, -1);

    MRT_CHECK_STR(got, want);
    MRT_CHECK_STR(twice, want);
    MRT_CHECK(mr_text_is_plain(in, len) == g_str_equal(got, in) ||
              (len >= 0 && memchr(in, 0, (gsize)len)),
              "is_plain agrees for \"%s\"", want);
}

static void
test_escape_keeps_printable_utf8_and_escapes_the_rest(void)
{
    check_escape("pc.ram /rom@etc", -1, "pc.ram /rom@etc");
    check_escape("caf\xc3\xa9 \xe2\x82\xac", -1, "caf\xc3\xa9 \xe2\x82\xac");
    check_escape("\x1b]0;PWNED\x07\x1b[31m", -1, "\\x1b]0;PWNED\\x07\\x1b[31m");
    check_escape("tab\there\nnl\x7f", -1, "tab\\x09here\\x0anl\\x7f");
    /* U+009B is CSI to a terminal that takes C1 controls. */
    check_escape("a\xc2\x9b" "31m", -1, "a\\xc2\\x9b31m");
    /* A flipped byte, a sequence cut short, an overlong form. */
    check_escape("d\xffv", -1, "d\\xffv");
    check_escape("end\xc3", -1, "end\\xc3");
    check_escape("\xc0\xaf", -1, "\\xc0\\xaf");
    check_escape("a\0b", 3, "a\\x00b");
}

static void
test_messages_escape_what_they_carry(void)
{
    g_autoptr(GError) err = NULL;

    mr_set_error(&err, MR_ERROR_INVALID, "/snap.mig", 0x10, "device \"%s\"",
                 "\x1b[31mred\xff");
    MRT_CHECK_STR(err->message,
                  "/snap.mig: offset 0x10: device \"\\x1b[31mred\\xff\"");
}

static const MrtTest message_tests[] = {
    MRT_TEST(test_escape_keeps_printable_utf8_and_escapes_the_rest),
    MRT_TEST(test_messages_escape_what_they_carry),
    MRT_END,
};

int
main(int argc, char **argv)
{
    static const MrtSuite suites[] = {
        { "messages", message_tests },
        { NULL, NULL },
    };

    return mrt_main(argc, argv, suites);
}
