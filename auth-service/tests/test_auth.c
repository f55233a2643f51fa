/* test_auth.c - auth-service domain rules: validation, claims, refresh decisions and login
 * throttling (no I/O). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../src/auth.h"

static void test_user_id(void **state)
{
    char long_id[80];

    (void)state;
    assert_true(auth_user_id_valid("3f2b8c1e-0d4a-4b5e-9c7f-1a2b3c4d5e6f"));
    assert_true(auth_user_id_valid("u"));
    assert_true(auth_user_id_valid("user_1.a-b"));
    assert_false(auth_user_id_valid(""));
    assert_false(auth_user_id_valid(NULL));
    assert_false(auth_user_id_valid("a/b"));
    assert_false(auth_user_id_valid("a b"));
    assert_false(auth_user_id_valid("caf\xc3\xa9"));
    memset(long_id, 'a', 64);
    long_id[64] = '\0';
    assert_true(auth_user_id_valid(long_id));
    long_id[64] = 'a';
    long_id[65] = '\0';
    assert_false(auth_user_id_valid(long_id));
}

static void test_email_shape(void **state)
{
    char local[80], addr[300];

    (void)state;
    assert_true(auth_email_valid("a@b.co"));
    assert_true(auth_email_valid("first.last+tag@mail.example.com"));
    assert_true(auth_email_valid("x_y@sub-domain.example.kr"));
    assert_false(auth_email_valid(""));
    assert_false(auth_email_valid(NULL));
    assert_false(auth_email_valid("plain"));
    assert_false(auth_email_valid("@example.com"));
    assert_false(auth_email_valid("a@"));
    assert_false(auth_email_valid("a@localhost"));
    assert_false(auth_email_valid("a@@b.com"));
    assert_false(auth_email_valid("a@b@c.com"));
    assert_false(auth_email_valid("a b@c.com"));
    assert_false(auth_email_valid(".a@b.com"));
    assert_false(auth_email_valid("a.@b.com"));
    assert_false(auth_email_valid("a..b@c.com"));
    assert_false(auth_email_valid("a@b..com"));
    assert_false(auth_email_valid("a@.b.com"));
    assert_false(auth_email_valid("a@b.com."));
    assert_false(auth_email_valid("a@-b.com"));
    assert_false(auth_email_valid("a@b-.com"));
    assert_false(auth_email_valid("a@b_c.com"));
    assert_false(auth_email_valid("a\n@b.com"));
    memset(local, 'a', 65);
    local[65] = '\0';
    snprintf(addr, sizeof(addr), "%s@b.com", local);
    assert_false(auth_email_valid(addr)); /* local part over 64 */
    local[64] = '\0';
    snprintf(addr, sizeof(addr), "%s@b.com", local);
    assert_true(auth_email_valid(addr));
}

static void test_password_length_in_bytes(void **state)
{
    char pw[80];

    (void)state;
    assert_false(auth_password_valid("1234567"));
    assert_true(auth_password_valid("12345678"));
    memset(pw, 'p', 72);
    pw[72] = '\0';
    assert_true(auth_password_valid(pw));
    pw[72] = 'p';
    pw[73] = '\0';
    assert_false(auth_password_valid(pw));
    /* 4 characters, 8 bytes of UTF-8 */
    assert_true(auth_password_valid("\xea\xb0\x80\xea\xb0\x80\xea\xb0\x80\xea\xb0\x80"));
    assert_false(auth_password_valid(NULL));
}

static void test_validate_credential_lists_every_field(void **state)
{
    struct auth_credential ok = {"u-1", "a@b.co", "secret-pass", NULL};
    struct auth_credential bad = {"", "nope", "short", "local"};
    struct auth_error errs[8];
    size_t nerr = 99;

    (void)state;
    assert_int_equal(auth_validate_credential(&ok, errs, 8, &nerr), AUTH_OK);
    assert_int_equal(nerr, 0);
    ok.provider = "GOOGLE";
    assert_int_equal(auth_validate_credential(&ok, errs, 8, &nerr), AUTH_OK);
    assert_int_equal(auth_validate_credential(&bad, errs, 8, &nerr), AUTH_INVALID);
    assert_int_equal(nerr, 4);
    assert_string_equal(errs[0].field, "userId");
    assert_string_equal(errs[1].field, "email");
    assert_string_equal(errs[2].field, "password");
    assert_string_equal(errs[3].field, "provider");
    /* room for fewer errors than there are: count is capped, still invalid */
    assert_int_equal(auth_validate_credential(&bad, errs, 2, &nerr), AUTH_INVALID);
    assert_int_equal(nerr, 2);
}

static void test_email_normalize(void **state)
{
    char out[16];

    (void)state;
    assert_int_equal(auth_email_normalize("Alice@Example.COM", out, sizeof(out)), -ENAMETOOLONG);
    assert_int_equal(auth_email_normalize("Al@Ex.COM", out, sizeof(out)), 0);
    assert_string_equal(out, "al@ex.com");
}

static void test_status_and_role_names(void **state)
{
    enum auth_status s;
    enum auth_role r;

    (void)state;
    assert_int_equal(auth_status_parse("ACTIVE", &s), 0);
    assert_int_equal(s, AUTH_STATUS_ACTIVE);
    assert_int_equal(auth_status_parse("BLOCKED", &s), 0);
    assert_int_equal(s, AUTH_STATUS_BLOCKED);
    assert_int_equal(auth_status_parse("INACTIVE", &s), 0);
    assert_int_equal(s, AUTH_STATUS_INACTIVE);
    assert_int_equal(auth_status_parse("active", &s), -EINVAL);
    assert_int_equal(auth_status_parse("DELETED", &s), -EINVAL);
    assert_int_equal(auth_status_parse(NULL, &s), -EINVAL);
    assert_false(auth_status_revokes(AUTH_STATUS_ACTIVE));
    assert_true(auth_status_revokes(AUTH_STATUS_INACTIVE));
    assert_true(auth_status_revokes(AUTH_STATUS_BLOCKED));
    assert_string_equal(auth_status_name(AUTH_STATUS_BLOCKED), "BLOCKED");
    assert_int_equal(auth_role_parse("ADMIN", &r), 0);
    assert_int_equal(r, AUTH_ROLE_ADMIN);
    assert_int_equal(auth_role_parse("ROLE_ADMIN", &r), -EINVAL);
    assert_string_equal(auth_role_name(AUTH_ROLE_USER), "USER");
}

static void test_principal_claims(void **state)
{
    struct jwt_principal p;
    char long_id[100];

    (void)state;
    assert_int_equal(auth_principal_build("u-1", "a@b.co", AUTH_ROLE_USER, &p), 0);
    assert_string_equal(p.sub, "u-1");
    assert_string_equal(p.email, "a@b.co");
    assert_int_equal(p.roles, JWT_ROLE_USER);
    assert_string_equal(p.jti, "");
    assert_int_equal(auth_principal_build("adm", "r@b.co", AUTH_ROLE_ADMIN, &p), 0);
    assert_int_equal(p.roles, JWT_ROLE_ADMIN);
    assert_int_equal(auth_principal_build("", "a@b.co", AUTH_ROLE_USER, &p), -EINVAL);
    memset(long_id, 'x', 99);
    long_id[99] = '\0';
    assert_int_equal(auth_principal_build(long_id, "a@b.co", AUTH_ROLE_USER, &p), -EINVAL);
}

static void test_refresh_decisions(void **state)
{
    struct auth_refresh_state s = {.expires_at = 1000};

    (void)state;
    assert_int_equal(auth_refresh_decide(&s, 999), AUTH_REFRESH_VALID);
    assert_int_equal(auth_refresh_decide(&s, 1000), AUTH_REFRESH_EXPIRED);
    s.used = true;
    assert_int_equal(auth_refresh_decide(&s, 999), AUTH_REFRESH_REUSED);
    /* a replayed token is theft even after it expired */
    assert_int_equal(auth_refresh_decide(&s, 5000), AUTH_REFRESH_REUSED);
    s.revoked = true;
    assert_int_equal(auth_refresh_decide(&s, 999), AUTH_REFRESH_REVOKED);
    s.used = false;
    assert_int_equal(auth_refresh_decide(&s, 999), AUTH_REFRESH_REVOKED);
}

static const struct auth_login_limits LIMITS = {
    .free_attempts = 3, .delay_base_s = 2, .delay_max_s = 60, .ip_max_per_minute = 1000};

static void test_login_free_attempts_then_growing_delays(void **state)
{
    struct auth_login_pair pair = {0};
    struct auth_login_ip ip = {0};
    int64_t now = 1000;

    (void)state;
    for (int i = 0; i < 3; i++)
        assert_int_equal(auth_login_reserve(&LIMITS, &pair, &ip, now), 0);
    assert_int_equal(pair.failures, 3);
    /* the 4th waits 2 s after the last, then 4, 8, 16, 32, and never more than 60 */
    assert_int_equal(auth_login_reserve(&LIMITS, &pair, &ip, now), 2);
    assert_int_equal(auth_login_reserve(&LIMITS, &pair, &ip, now + 1), 1);
    assert_int_equal(pair.failures, 3); /* a refused attempt changes nothing */
    now += 2;
    assert_int_equal(auth_login_reserve(&LIMITS, &pair, &ip, now), 0);
    assert_int_equal(auth_login_reserve(&LIMITS, &pair, &ip, now), 4);
    now += 4;
    assert_int_equal(auth_login_reserve(&LIMITS, &pair, &ip, now), 0);
    assert_int_equal(auth_login_reserve(&LIMITS, &pair, &ip, now), 8);
    assert_int_equal(auth_login_delay(&LIMITS, 0), 0);
    assert_int_equal(auth_login_delay(&LIMITS, 2), 0);
    assert_int_equal(auth_login_delay(&LIMITS, 3), 2);
    assert_int_equal(auth_login_delay(&LIMITS, 7), 32);
    assert_int_equal(auth_login_delay(&LIMITS, 8), 60);
    assert_int_equal(auth_login_delay(&LIMITS, 1000000), 60);
}

static void test_login_parallel_attempts_check_at_most_the_free_ones(void **state)
{
    struct auth_login_pair pair = {0};
    struct auth_login_ip ip = {0};
    int allowed = 0;

    (void)state;
    /* 50 attempts in the same second, each decided on the state the previous one stored */
    for (int i = 0; i < 50; i++)
        allowed += auth_login_reserve(&LIMITS, &pair, &ip, 5000) == 0;
    assert_int_equal(allowed, 3);
}

static void test_login_pairs_are_forgotten_when_quiet(void **state)
{
    struct auth_login_pair pair = {.failures = 9, .last_at = 100};
    struct auth_login_ip ip = {0};

    (void)state;
    assert_true(auth_login_reserve(&LIMITS, &pair, &ip, 110) > 0);
    assert_int_equal(auth_login_reserve(&LIMITS, &pair, &ip, 100 + AUTH_LOGIN_FORGET_S), 0);
    assert_int_equal(pair.failures, 1);
}

static void test_login_address_limit_per_minute(void **state)
{
    const struct auth_login_limits lim = {
        .free_attempts = 100, .delay_base_s = 1, .delay_max_s = 60, .ip_max_per_minute = 5};
    struct auth_login_ip ip = {0};
    int64_t now = 7000;

    (void)state;
    /* different emails from one address share its budget */
    for (int i = 0; i < 5; i++) {
        struct auth_login_pair pair = {0};
        assert_int_equal(auth_login_reserve(&lim, &pair, &ip, now + i), 0);
    }
    {
        struct auth_login_pair pair = {0};
        assert_int_equal(auth_login_reserve(&lim, &pair, &ip, now + 10), 50);
        assert_int_equal(pair.failures, 0);
        /* the next minute starts over */
        assert_int_equal(auth_login_reserve(&lim, &pair, &ip, now + 60), 0);
        assert_int_equal(ip.attempts, 1);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_user_id),
        cmocka_unit_test(test_email_shape),
        cmocka_unit_test(test_password_length_in_bytes),
        cmocka_unit_test(test_validate_credential_lists_every_field),
        cmocka_unit_test(test_email_normalize),
        cmocka_unit_test(test_status_and_role_names),
        cmocka_unit_test(test_principal_claims),
        cmocka_unit_test(test_refresh_decisions),
        cmocka_unit_test(test_login_free_attempts_then_growing_delays),
        cmocka_unit_test(test_login_parallel_attempts_check_at_most_the_free_ones),
        cmocka_unit_test(test_login_pairs_are_forgotten_when_quiet),
        cmocka_unit_test(test_login_address_limit_per_minute),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
