/* test_user.c - user-service domain rules: sign-up validation, status changes, access (no I/O). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../src/user.h"

static const struct user_signup good = {
    .email = "kim@example.com",
    .password = "correct horse",
    .name = "Kim Minsu",
    .phone = "010-1234-5678",
};

/* The message for @field among @errs, or NULL. */
static const char *error_for(const struct user_error *errs, size_t nerr, const char *field)
{
    for (size_t i = 0; i < nerr; i++) {
        if (strcmp(errs[i].field, field) == 0)
            return errs[i].message;
    }
    return NULL;
}

static void test_valid_signup_passes(void **state)
{
    struct user_error errs[8];
    size_t nerr = 99;

    (void)state;
    assert_int_equal(user_validate_signup(&good, errs, 8, &nerr), USER_OK);
    assert_int_equal(nerr, 0);
}

static void test_missing_fields_are_each_reported(void **state)
{
    struct user_signup s = {0};
    struct user_error errs[8];
    size_t nerr;

    (void)state;
    assert_int_equal(user_validate_signup(&s, errs, 8, &nerr), USER_INVALID);
    assert_int_equal(nerr, 4);
    assert_string_equal(error_for(errs, nerr, "email"), "is required");
    assert_string_equal(error_for(errs, nerr, "password"), "is required");
    assert_string_equal(error_for(errs, nerr, "name"), "is required");
    assert_string_equal(error_for(errs, nerr, "phone"), "is required");
}

static void test_errors_are_capped(void **state)
{
    struct user_signup s = {0};
    struct user_error errs[2];
    size_t nerr;

    (void)state;
    assert_int_equal(user_validate_signup(&s, errs, 2, &nerr), USER_INVALID);
    assert_int_equal(nerr, 2);
}

static void test_email_shapes(void **state)
{
    static const char *const ok[] = {
        "a@b.co",
        "first.last+tag@mail.example.kr",
        "x_y-z@sub-domain.example.com",
        "UPPER@EXAMPLE.COM",
    };
    static const char *const bad[] = {
        "",
        "plain",
        "@example.com",
        "a@",
        "a@b",
        "a@@b.com",
        "a@b@c.com",
        ".a@b.com",
        "a.@b.com",
        "a..b@c.com",
        "a b@c.com",
        "a@b..com",
        "a@-b.com",
        "a@b-.com",
        "a@.b.com",
        "a@b.com.",
        "a@b_c.com",
        "\"q\"@b.com",
        "a@[127.0.0.1]",
        "kim@exam ple.com",
        "k\xc3\xadm@example.com",
    };
    char longest[300];

    (void)state;
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        if (user_check_email(ok[i]))
            fail_msg("'%s' refused: %s", ok[i], user_check_email(ok[i]));
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (!user_check_email(bad[i]))
            fail_msg("'%s' accepted", bad[i]);
    }
    /* 65-byte local part */
    memset(longest, 'a', 65);
    strcpy(longest + 65, "@example.com");
    assert_non_null(user_check_email(longest));
    /* 255 bytes in all */
    memset(longest, 'a', 60);
    longest[60] = '@';
    for (size_t i = 61; i < 255; i++)
        longest[i] = (i % 10 == 0) ? '.' : 'b';
    longest[255] = '\0';
    assert_non_null(user_check_email(longest));
    assert_string_equal(user_check_email(NULL), "is required");
}

static void test_password_length_is_8_to_72_bytes(void **state)
{
    char pw[80];

    (void)state;
    memset(pw, 'p', sizeof(pw));
    pw[7] = '\0';
    assert_non_null(user_check_password(pw));
    pw[7] = 'p';
    pw[8] = '\0';
    assert_null(user_check_password(pw));
    pw[8] = 'p';
    pw[72] = '\0';
    assert_null(user_check_password(pw));
    pw[72] = 'p';
    pw[73] = '\0';
    assert_non_null(user_check_password(pw));
    /* bytes, not characters: 4 Hangul syllables are 12 bytes */
    assert_null(user_check_password("\xea\xb0\x80\xea\xb0\x80\xea\xb0\x80\xea\xb0\x80"));
}

static void test_password_never_echoed(void **state)
{
    struct user_signup s = good;
    struct user_error errs[8];
    size_t nerr;

    (void)state;
    s.password = "short";
    assert_int_equal(user_validate_signup(&s, errs, 8, &nerr), USER_INVALID);
    assert_int_equal(nerr, 1);
    assert_string_equal(errs[0].field, "password");
    assert_null(strstr(errs[0].message, "short"));
}

static void test_name_counts_characters_not_bytes(void **state)
{
    char name[256] = "";

    (void)state;
    assert_null(user_check_name("\xea\xb9\x80\xeb\xaf\xbc\xec\x88\x98")); /* 김민수 */
    for (int i = 0; i < 50; i++)
        strcat(name, "\xea\xb0\x80"); /* 50 × 가 = 150 bytes */
    assert_null(user_check_name(name));
    strcat(name, "\xea\xb0\x80");
    assert_string_equal(user_check_name(name), "must be at most 50 characters");
    assert_string_equal(user_check_name(""), "is required");
    assert_string_equal(user_check_name("   "), "must not be blank");
    assert_non_null(user_check_name("tab\there"));
    assert_non_null(user_check_name("bad \xff utf8"));
    assert_non_null(user_check_name("overlong \xc0\xaf"));
    assert_non_null(user_check_name("cut \xea\xb0"));
}

static void test_phone_is_010_xxxx_xxxx(void **state)
{
    static const char *const bad[] = {
        "01012345678",    "011-1234-5678",    "010-123-5678",
        "010-12345-678",  "010-1234-567a",    "010 1234 5678",
        "010-1234-56789", "+82-10-1234-5678", "",
    };

    (void)state;
    assert_null(user_check_phone("010-1234-5678"));
    assert_null(user_check_phone("010-0000-0000"));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (!user_check_phone(bad[i]))
            fail_msg("'%s' accepted", bad[i]);
    }
}

static void test_update_needs_something_valid(void **state)
{
    struct user_error errs[4];
    size_t nerr;

    (void)state;
    assert_int_equal(user_validate_update(NULL, NULL, false, errs, 4, &nerr), USER_INVALID);
    assert_int_equal(nerr, 1);
    assert_int_equal(user_validate_update("New Name", NULL, false, errs, 4, &nerr), USER_OK);
    assert_int_equal(user_validate_update(NULL, NULL, true, errs, 4, &nerr), USER_OK);
    assert_int_equal(user_validate_update("", "010-1", false, errs, 4, &nerr), USER_INVALID);
    assert_int_equal(nerr, 2);
    assert_non_null(error_for(errs, nerr, "name"));
    assert_non_null(error_for(errs, nerr, "phone"));
}

static void test_status_names_round_trip(void **state)
{
    enum user_status st;

    (void)state;
    for (int i = USER_ACTIVE; i <= USER_BLOCKED; i++) {
        assert_int_equal(user_status_parse(user_status_name((enum user_status)i), &st), 0);
        assert_int_equal(st, i);
    }
    assert_int_equal(user_status_parse("active", &st), -EINVAL);
    assert_int_equal(user_status_parse("DELETED", &st), -EINVAL);
    assert_int_equal(user_status_parse(NULL, &st), -EINVAL);
    assert_null(user_status_name((enum user_status)7));
}

static void test_a_user_may_only_close_an_active_account(void **state)
{
    (void)state;
    assert_int_equal(user_status_change(USER_ACTIVE, USER_INACTIVE, false), USER_OK);
    assert_int_equal(user_status_change(USER_INACTIVE, USER_INACTIVE, false), USER_NOOP);
    assert_int_equal(user_status_change(USER_ACTIVE, USER_BLOCKED, false), USER_FORBIDDEN);
    assert_int_equal(user_status_change(USER_INACTIVE, USER_ACTIVE, false), USER_FORBIDDEN);
    assert_int_equal(user_status_change(USER_BLOCKED, USER_ACTIVE, false), USER_FORBIDDEN);
    assert_int_equal(user_status_change(USER_BLOCKED, USER_INACTIVE, false), USER_FORBIDDEN);
}

static void test_an_admin_may_set_any_status(void **state)
{
    (void)state;
    for (int from = USER_ACTIVE; from <= USER_BLOCKED; from++) {
        for (int to = USER_ACTIVE; to <= USER_BLOCKED; to++) {
            enum user_outcome want = from == to ? USER_NOOP : USER_OK;
            assert_int_equal(user_status_change((enum user_status)from, (enum user_status)to, true),
                             want);
        }
    }
}

static void test_access_is_self_or_admin(void **state)
{
    const char *a = "0b7e0c1e-3f4e-4b8e-9a52-1d2c3b4a5f60";
    const char *b = "9a0f7c1e-3f4e-4b8e-9a52-1d2c3b4a5f61";

    (void)state;
    assert_true(user_can_access(a, false, a));
    assert_false(user_can_access(a, false, b));
    assert_true(user_can_access(a, true, b));
    assert_false(user_can_access("", false, ""));
    assert_false(user_can_access(NULL, false, a));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_signup_passes),
        cmocka_unit_test(test_missing_fields_are_each_reported),
        cmocka_unit_test(test_errors_are_capped),
        cmocka_unit_test(test_email_shapes),
        cmocka_unit_test(test_password_length_is_8_to_72_bytes),
        cmocka_unit_test(test_password_never_echoed),
        cmocka_unit_test(test_name_counts_characters_not_bytes),
        cmocka_unit_test(test_phone_is_010_xxxx_xxxx),
        cmocka_unit_test(test_update_needs_something_valid),
        cmocka_unit_test(test_status_names_round_trip),
        cmocka_unit_test(test_a_user_may_only_close_an_active_account),
        cmocka_unit_test(test_an_admin_may_set_any_status),
        cmocka_unit_test(test_access_is_self_or_admin),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
