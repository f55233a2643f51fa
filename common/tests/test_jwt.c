/* test_jwt.c - ES256 token signing and strict verification (no I/O beyond key generation). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>
#include <openssl/bn.h>
#include <openssl/ecdsa.h>
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

/* ---- kid, iss, aud, key sets, low-S ---- */

static const char b64tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* base64url without padding; caller frees */
static char *b64(const unsigned char *in, size_t len)
{
    char *out = malloc(len * 4 / 3 + 4);
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;

    assert_non_null(out);
    for (size_t i = 0; i < len; i++) {
        acc = (acc << 8 | in[i]) & 0xffff;
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out[o++] = b64tab[acc >> bits & 63];
        }
    }
    if (bits)
        out[o++] = b64tab[acc << (6 - bits) & 63];
    out[o] = '\0';
    return out;
}

static size_t unb64(const char *in, unsigned char *out)
{
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;

    for (; *in; in++) {
        acc = (acc << 6 | (unsigned)(strchr(b64tab, *in) - b64tab)) & 0xffff;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    return o;
}

/* A P-256 key pair as PEM texts (caller frees both) and as the EVP_PKEY in *@ret_pkey. */
static void gen_pem(char **ret_priv, char **ret_pub, EVP_PKEY **ret_pkey)
{
    EVP_PKEY *pkey = EVP_EC_gen("P-256");
    BIO *bio;
    char *data;
    long len;

    assert_non_null(pkey);
    bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL);
    len = BIO_get_mem_data(bio, &data);
    *ret_priv = strndup(data, (size_t)len);
    BIO_free(bio);
    bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(bio, pkey);
    len = BIO_get_mem_data(bio, &data);
    *ret_pub = strndup(data, (size_t)len);
    BIO_free(bio);
    *ret_pkey = pkey;
}

static struct jwt_key *load(const char *pem)
{
    char err[128];
    struct jwt_key *key = jwt_key_from_pem(pem, strlen(pem), err, sizeof(err));

    if (!key)
        fail_msg("jwt_key_from_pem: %s", err);
    return key;
}

/* A token with any @header and @claims, signed (low-S) by @pkey; caller frees. */
static char *forge(EVP_PKEY *pkey, const char *header, const char *claims)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char der[80], raw[64];
    const unsigned char *p = der;
    size_t derlen = sizeof(der);
    char *h = b64((const unsigned char *)header, strlen(header));
    char *c = b64((const unsigned char *)claims, strlen(claims)), *sig, *tok;
    size_t n = strlen(h) + strlen(c) + 100;
    ECDSA_SIG *es;
    BIGNUM *order = BN_new(), *half = BN_new(), *s = BN_new();

    tok = malloc(n);
    snprintf(tok, n, "%s.%s", h, c);
    assert_int_equal(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, pkey), 1);
    assert_int_equal(EVP_DigestSign(md, der, &derlen, (unsigned char *)tok, strlen(tok)), 1);
    es = d2i_ECDSA_SIG(NULL, &p, (long)derlen);
    assert_non_null(es);
    BN_hex2bn(&order, "FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551");
    BN_rshift1(half, order);
    BN_copy(s, ECDSA_SIG_get0_s(es));
    if (BN_cmp(s, half) > 0)
        BN_sub(s, order, s);
    BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, 32);
    BN_bn2binpad(s, raw + 32, 32);
    sig = b64(raw, 64);
    snprintf(tok + strlen(tok), n - strlen(tok), ".%s", sig);
    free(sig);
    free(h);
    free(c);
    BN_free(order);
    BN_free(half);
    BN_free(s);
    ECDSA_SIG_free(es);
    EVP_MD_CTX_free(md);
    return tok;
}

/* The same token with its signature's s replaced by n - s (the other valid ECDSA form). */
static char *high_s(const char *tok)
{
    const char *dot = strrchr(tok, '.');
    unsigned char raw[64];
    BIGNUM *order = BN_new(), *s;
    char *sig, *out;
    size_t n = strlen(tok) + 8;

    assert_int_equal(unb64(dot + 1, raw), 64);
    BN_hex2bn(&order, "FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551");
    s = BN_bin2bn(raw + 32, 32, NULL);
    BN_sub(s, order, s);
    BN_bn2binpad(s, raw + 32, 32);
    sig = b64(raw, 64);
    out = malloc(n);
    snprintf(out, n, "%.*s.%s", (int)(dot - tok), tok, sig);
    free(sig);
    BN_free(s);
    BN_free(order);
    return out;
}

static void test_high_s_twin_refused(void **state)
{
    struct jwt_key *pub, *priv = gen_key(&pub);
    struct jwt_principal p;
    char err[128];

    (void)state;
    /* whatever s OpenSSL drew, jwt_sign writes the low form and the twin is refused */
    for (int i = 0; i < 16; i++) {
        char *tok = sign(priv, "user-1", JWT_ROLE_USER, NOW, 900), *twin = high_s(tok);

        assert_int_equal(jwt_verify(pub, tok, NOW, &p, err, sizeof(err)), 0);
        assert_string_not_equal(tok, twin);
        assert_int_equal(jwt_verify(pub, twin, NOW, &p, err, sizeof(err)), -EPERM);
        assert_string_equal(err, "bad token signature");
        free(twin);
        free(tok);
    }
    jwt_key_free(pub);
    jwt_key_free(priv);
}

static void test_non_canonical_base64_refused(void **state)
{
    struct jwt_key *pub, *priv = gen_key(&pub);
    struct jwt_principal p;
    char err[128];
    char *tok = sign(priv, "user-1", JWT_ROLE_USER, NOW, 900);
    char *last = tok + strlen(tok) - 1;
    const char *pos = strchr(b64tab, *last);

    (void)state;
    /* 64 bytes take 86 characters: the last one carries 4 unused bits; setting one of them
     * decodes to the same bytes but must not verify */
    assert_int_equal(jwt_verify(pub, tok, NOW, &p, err, sizeof(err)), 0);
    *last = b64tab[(pos - b64tab) | 1];
    assert_int_equal(jwt_verify(pub, tok, NOW, &p, err, sizeof(err)), -EINVAL);
    free(tok);
    jwt_key_free(pub);
    jwt_key_free(priv);
}

static void test_issuer_and_audience(void **state)
{
    struct jwt_key *pub, *priv = gen_key(&pub);
    struct jwt_principal p;
    char err[128];
    char *tok = sign(priv, "u", JWT_ROLE_USER, NOW, 900), *dot = strchr(tok, '.');
    unsigned char claims[1024] = {0};
    char *part = strndup(dot + 1, (size_t)(strrchr(tok, '.') - dot - 1));
    cJSON *json;

    (void)state;
    /* the defaults are written */
    unb64(part, claims);
    free(part);
    json = cJSON_Parse((char *)claims);
    assert_string_equal(cJSON_GetObjectItem(json, "iss")->valuestring, JWT_DEFAULT_ISSUER);
    assert_string_equal(cJSON_GetObjectItem(json, "aud")->valuestring, JWT_DEFAULT_AUDIENCE);
    cJSON_Delete(json);
    assert_int_equal(jwt_verify(pub, tok, NOW, &p, err, sizeof(err)), 0);
    /* a verifier expecting another issuer or audience refuses it */
    assert_int_equal(jwt_key_set_issuer(pub, "someone-else", JWT_DEFAULT_AUDIENCE), 0);
    assert_int_equal(jwt_verify(pub, tok, NOW, &p, err, sizeof(err)), -EPERM);
    assert_string_equal(err, "token issuer not accepted");
    assert_int_equal(jwt_key_set_issuer(pub, JWT_DEFAULT_ISSUER, "other-system"), 0);
    assert_int_equal(jwt_verify(pub, tok, NOW, &p, err, sizeof(err)), -EPERM);
    assert_string_equal(err, "token audience not accepted");
    /* a signer set to the same values is accepted again */
    assert_int_equal(jwt_key_set_issuer(priv, JWT_DEFAULT_ISSUER, "other-system"), 0);
    free(tok);
    tok = sign(priv, "u", JWT_ROLE_USER, NOW, 900);
    assert_int_equal(jwt_verify(pub, tok, NOW, &p, err, sizeof(err)), 0);
    assert_int_equal(jwt_key_set_issuer(pub, "", "x"), -EINVAL);
    free(tok);
    jwt_key_free(pub);
    jwt_key_free(priv);
}

static void test_claims_and_kid_required(void **state)
{
    char *priv_pem, *pub_pem, hdr[128], *tok;
    EVP_PKEY *pkey;
    struct jwt_key *pub, *priv;
    struct jwt_principal p;
    char err[128];
    const char *good = "{\"iss\":\"commerce-auth\",\"aud\":\"commerce\",\"sub\":\"u\","
                       "\"iat\":1800000000,\"exp\":1800000900}";
    const struct {
        const char *claims, *why;
    } bad[] = {
        {"{\"aud\":\"commerce\",\"sub\":\"u\",\"iat\":1800000000,\"exp\":1800000900}",
         "token issuer not accepted"},
        {"{\"iss\":\"commerce-auth\",\"sub\":\"u\",\"iat\":1800000000,\"exp\":1800000900}",
         "token audience not accepted"},
        {"{\"iss\":\"commerce-auth\",\"aud\":[\"x\"],\"sub\":\"u\",\"iat\":1800000000,"
         "\"exp\":1800000900}",
         "token audience not accepted"},
        {"{\"iss\":\"commerce-auth\",\"aud\":\"commerce\",\"sub\":\"u\",\"iat\":1800000000,"
         "\"exp\":1e300}",
         "token lacks exp or iat"},
    };

    (void)state;
    gen_pem(&priv_pem, &pub_pem, &pkey);
    pub = load(pub_pem);
    priv = load(priv_pem);
    snprintf(hdr, sizeof(hdr), "{\"alg\":\"ES256\",\"kid\":\"%s\"}", jwt_key_signer_kid(priv));
    /* the forged signer works with every claim right, and an aud array holding ours */
    tok = forge(pkey, hdr, good);
    assert_int_equal(jwt_verify(pub, tok, NOW, &p, err, sizeof(err)), 0);
    free(tok);
    tok = forge(pkey, hdr,
                "{\"iss\":\"commerce-auth\",\"aud\":[\"x\",\"commerce\"],\"sub\":\"u\","
                "\"iat\":1800000000,\"exp\":1800000900}");
    assert_int_equal(jwt_verify(pub, tok, NOW, &p, err, sizeof(err)), 0);
    free(tok);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        tok = forge(pkey, hdr, bad[i].claims);
        assert_true(jwt_verify(pub, tok, NOW, &p, err, sizeof(err)) < 0);
        assert_string_equal(err, bad[i].why);
        free(tok);
    }
    /* no kid, an unknown kid */
    tok = forge(pkey, "{\"alg\":\"ES256\",\"typ\":\"JWT\"}", good);
    assert_int_equal(jwt_verify(pub, tok, NOW, &p, err, sizeof(err)), -EPERM);
    assert_string_equal(err, "token has no key id");
    free(tok);
    tok = forge(pkey, "{\"alg\":\"ES256\",\"kid\":\"AAAAAAAAAAA\"}", good);
    assert_int_equal(jwt_verify(pub, tok, NOW, &p, err, sizeof(err)), -EPERM);
    assert_string_equal(err, "unknown token key id");
    free(tok);
    jwt_key_free(pub);
    jwt_key_free(priv);
    EVP_PKEY_free(pkey);
    free(priv_pem);
    free(pub_pem);
}

static void test_two_keys_during_a_rotation(void **state)
{
    char *priv1_pem, *pub1_pem, *priv2_pem, *pub2_pem, both[2048], err[128];
    EVP_PKEY *k1, *k2;
    struct jwt_key *priv1, *priv2, *set, *old_only, *signer;
    struct jwt_principal p;
    char *t1, *t2;
    cJSON *jwks;

    (void)state;
    gen_pem(&priv1_pem, &pub1_pem, &k1);
    gen_pem(&priv2_pem, &pub2_pem, &k2);
    priv1 = load(priv1_pem);
    priv2 = load(priv2_pem);
    old_only = load(pub1_pem);
    snprintf(both, sizeof(both), "%s%s", pub1_pem, pub2_pem);
    set = load(both);
    assert_string_not_equal(jwt_key_signer_kid(priv1), jwt_key_signer_kid(priv2));
    assert_null(jwt_key_signer_kid(set));
    assert_true(jwt_key_has_kid(set, jwt_key_signer_kid(priv1)));
    assert_true(jwt_key_has_kid(set, jwt_key_signer_kid(priv2)));
    t1 = sign(priv1, "u", JWT_ROLE_USER, NOW, 900);
    t2 = sign(priv2, "u", JWT_ROLE_USER, NOW, 900);
    /* both keys verify during the rotation; the old set alone knows only the old key */
    assert_int_equal(jwt_verify(set, t1, NOW, &p, err, sizeof(err)), 0);
    assert_int_equal(jwt_verify(set, t2, NOW, &p, err, sizeof(err)), 0);
    assert_int_equal(jwt_verify(old_only, t1, NOW, &p, err, sizeof(err)), 0);
    assert_int_equal(jwt_verify(old_only, t2, NOW, &p, err, sizeof(err)), -EPERM);
    assert_string_equal(err, "unknown token key id");
    jwks = jwt_key_jwks(set);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(jwks, "keys")), 2);
    assert_string_equal(
        cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(jwks, "keys"), 1), "kid")
            ->valuestring,
        jwt_key_signer_kid(priv2));
    cJSON_Delete(jwks);
    /* a signer merged with the verify set: signs with its own key, publishes both, once */
    signer = load(priv2_pem);
    assert_int_equal(jwt_key_merge(signer, set, err, sizeof(err)), 0);
    assert_string_equal(jwt_key_signer_kid(signer), jwt_key_signer_kid(priv2));
    jwks = jwt_key_jwks(signer);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(jwks, "keys")), 2);
    {
        char *text = cJSON_PrintUnformatted(jwks);
        assert_null(strstr(text, "\"d\"")); /* never the private scalar */
        cJSON_free(text);
    }
    cJSON_Delete(jwks);
    /* two private keys in one set are refused, and the merge leaves the set as it was */
    assert_int_equal(jwt_key_merge(signer, priv1, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "more than one private key");
    assert_string_equal(jwt_key_signer_kid(signer), jwt_key_signer_kid(priv2));
    snprintf(both, sizeof(both), "%s%s", priv1_pem, priv2_pem);
    assert_null(jwt_key_from_pem(both, strlen(both), err, sizeof(err)));
    free(t1);
    free(t2);
    jwt_key_free(signer);
    jwt_key_free(set);
    jwt_key_free(old_only);
    jwt_key_free(priv1);
    jwt_key_free(priv2);
    EVP_PKEY_free(k1);
    EVP_PKEY_free(k2);
    free(priv1_pem);
    free(pub1_pem);
    free(priv2_pem);
    free(pub2_pem);
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
        cmocka_unit_test(test_high_s_twin_refused),
        cmocka_unit_test(test_non_canonical_base64_refused),
        cmocka_unit_test(test_issuer_and_audience),
        cmocka_unit_test(test_claims_and_kid_required),
        cmocka_unit_test(test_two_keys_during_a_rotation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
