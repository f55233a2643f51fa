/* test_jwt.c - ES256 token signing and strict verification (no I/O beyond key generation). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "common/jwt.h"

#define NOW 1800000000LL

/* Generates a P-256 key pair; returns the private key as a jwt_key and the public one in *pub. */
static struct jwt_key *gen_key(struct jwt_key **pub)
{
    EVP_PKEY *pkey = EVP_EC_gen("P-256");
    BIO *bio = BIO_new(BIO_s_mem());
    char *data;
    long len;
    char err[128];
    struct jwt_key *priv;

    assert_non_null(pkey);
    PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL);
    len = BIO_get_mem_data(bio, &data);
    priv = jwt_key_from_pem(data, (size_t)len, err, sizeof(err));
    assert_non_null(priv);
    BIO_free(bio);
    bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(bio, pkey);
    len = BIO_get_mem_data(bio, &data);
    *pub = jwt_key_from_pem(data, (size_t)len, err, sizeof(err));
    assert_non_null(*pub);
    BIO_free(bio);
    EVP_PKEY_free(pkey);
    return priv;
}

static char *sign(struct jwt_key *priv, const char *sub, unsigned roles, int64_t iat, int64_t ttl)
{
    struct jwt_principal p = {0};
    char *tok = NULL;

    strcpy(p.sub, sub);
    strcpy(p.email, "a@example.com");
    p.roles = roles;
    assert_int_equal(jwt_sign(priv, &p, iat, ttl, &tok), 0);
    return tok;
}

static void test_round_trip(void **state)
{
    struct jwt_key *pub, *priv = gen_key(&pub);
    struct jwt_principal p;
    char err[128];
    char *tok = sign(priv, "user-1", JWT_ROLE_ADMIN | JWT_ROLE_USER, NOW, 900);

    (void)state;
    assert_int_equal(jwt_verify(pub, tok, NOW + 10, &p, err, sizeof(err)), 0);
    assert_string_equal(p.sub, "user-1");
    assert_string_equal(p.email, "a@example.com");
    assert_int_equal(p.roles, JWT_ROLE_ADMIN | JWT_ROLE_USER);
    assert_int_equal(p.exp, NOW + 900);
    assert_int_equal(strlen(p.jti), 36);
    free(tok);
    jwt_key_free(pub);
    jwt_key_free(priv);
}

static void test_expired_and_future(void **state)
{
    struct jwt_key *pub, *priv = gen_key(&pub);
    struct jwt_principal p;
    char err[128];
    char *tok = sign(priv, "u", JWT_ROLE_USER, NOW - 3600, 900);
    char *fut = sign(priv, "u", JWT_ROLE_USER, NOW + 3600, 900);

    (void)state;
    assert_int_equal(jwt_verify(pub, tok, NOW, &p, err, sizeof(err)), -ETIMEDOUT);
    assert_string_equal(err, "token expired");
    assert_int_equal(jwt_verify(pub, fut, NOW, &p, err, sizeof(err)), -EINVAL);
    free(tok);
    free(fut);
    jwt_key_free(pub);
    jwt_key_free(priv);
}

static void test_other_key_refused(void **state)
{
    struct jwt_key *pub1, *priv1 = gen_key(&pub1);
    struct jwt_key *pub2, *priv2 = gen_key(&pub2);
    struct jwt_principal p;
    char err[128];
    char *tok = sign(priv2, "u", JWT_ROLE_ADMIN, NOW, 900);

    (void)state;
    assert_int_equal(jwt_verify(pub1, tok, NOW, &p, err, sizeof(err)), -EPERM);
    free(tok);
    jwt_key_free(pub1);
    jwt_key_free(priv1);
    jwt_key_free(pub2);
    jwt_key_free(priv2);
}

static void test_alg_none_and_hs256_refused(void **state)
{
    struct jwt_key *pub, *priv = gen_key(&pub);
    struct jwt_principal p;
    char err[128];
    /* {"alg":"none","typ":"JWT"} . {"sub":"x","roles":["ADMIN"],"iat":1800000000,"exp":1900000000}
     * . */
    const char *none =
        "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0."
        "eyJzdWIiOiJ4Iiwicm9sZXMiOlsiQURNSU4iXSwiaWF0IjoxODAwMDAwMDAwLCJleHAiOjE5MDAwMDAwMDB9.";
    /* same claims, {"alg":"HS256"} header, garbage signature */
    const char *hs =
        "eyJhbGciOiJIUzI1NiJ9."
        "eyJzdWIiOiJ4Iiwicm9sZXMiOlsiQURNSU4iXSwiaWF0IjoxODAwMDAwMDAwLCJleHAiOjE5MDAwMDAwMDB9."
        "c2lnbmF0dXJl";

    (void)state;
    assert_int_equal(jwt_verify(pub, none, NOW, &p, err, sizeof(err)), -EPERM);
    assert_string_equal(err, "token algorithm not accepted");
    assert_int_equal(jwt_verify(pub, hs, NOW, &p, err, sizeof(err)), -EPERM);
    jwt_key_free(pub);
    jwt_key_free(priv);
}

static void test_tampered_payload_refused(void **state)
{
    struct jwt_key *pub, *priv = gen_key(&pub);
    struct jwt_principal p;
    char err[128];
    char *tok = sign(priv, "user-1", JWT_ROLE_USER, NOW, 900);
    char *dot = strchr(tok, '.');

    (void)state;
    /* flip one character of the claims */
    dot[3] = dot[3] == 'A' ? 'B' : 'A';
    assert_int_equal(jwt_verify(pub, tok, NOW, &p, err, sizeof(err)), -EPERM);
    free(tok);
    jwt_key_free(pub);
    jwt_key_free(priv);
}

static void test_malformed(void **state)
{
    struct jwt_key *pub, *priv = gen_key(&pub);
    struct jwt_principal p;
    char err[128];
    const char *bad[] = {"", "abc", "a.b", "a.b.c.d", "!!!.???.***", "e30.e30.e30"};

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_true(jwt_verify(pub, bad[i], NOW, &p, err, sizeof(err)) < 0);
    jwt_key_free(pub);
    jwt_key_free(priv);
}

static void test_public_key_cannot_sign_and_rsa_refused(void **state)
{
    struct jwt_key *pub, *priv = gen_key(&pub);
    struct jwt_principal p = {.sub = "x"};
    char *tok = NULL;
    char err[128];
    EVP_PKEY *rsa = EVP_RSA_gen(2048);
    BIO *bio = BIO_new(BIO_s_mem());
    char *data;
    long len;

    (void)state;
    assert_int_equal(jwt_sign(pub, &p, NOW, 60, &tok), -EINVAL);
    PEM_write_bio_PUBKEY(bio, rsa);
    len = BIO_get_mem_data(bio, &data);
    assert_null(jwt_key_from_pem(data, (size_t)len, err, sizeof(err)));
    assert_non_null(strstr(err, "P-256"));
    BIO_free(bio);
    EVP_PKEY_free(rsa);
    jwt_key_free(pub);
    jwt_key_free(priv);
}

static void test_roles_parse(void **state)
{
    const char *names[] = {"USER", "ROLE_ADMIN", "ADMIN", "x"};

    (void)state;
    /* "ROLE_ADMIN" is not a role: no double prefixing is accepted */
    assert_int_equal(jwt_roles_parse(names, 2), JWT_ROLE_USER);
    assert_int_equal(jwt_roles_parse(names, 4), JWT_ROLE_USER | JWT_ROLE_ADMIN);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_expired_and_future),
        cmocka_unit_test(test_other_key_refused),
        cmocka_unit_test(test_alg_none_and_hs256_refused),
        cmocka_unit_test(test_tampered_payload_refused),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_public_key_cannot_sign_and_rsa_refused),
        cmocka_unit_test(test_roles_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
