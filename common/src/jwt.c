/*
 * jwt.c - ES256 compact JWS access tokens on OpenSSL 3.
 *
 * The alg is fixed by the key, never taken from the token: a token whose header says anything
 * but ES256 is refused before its signature is looked at ("none", HS256 with the public key as
 * secret, …). JOSE signatures are the raw 64-byte r||s form, converted to and from DER here;
 * signing always writes the low-S form and verifying refuses the high-S one. A key set is a
 * small array searched by kid (see jwt.h).
 */
#include "common/jwt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <limits.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "common/util.h"

#define JWT_LEEWAY_S 60
#define JWT_MAX_LEN 8192
#define JWT_MAX_TIME 9007199254740991.0 /* 2^53 - 1: larger times are not exact in a double */

struct jwt_entry {
    EVP_PKEY *pkey;
    char kid[JWT_KID_LEN];
    bool has_private;
};

struct jwt_key {
    struct jwt_entry keys[JWT_MAX_KEYS];
    size_t nkeys;
    char issuer[JWT_MAX_ISSUER];
    char audience[JWT_MAX_ISSUER];
};

/* The order n of P-256 and floor(n / 2): a signature's s above the latter is the high-S form. */
static const unsigned char p256_n[32] = {
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51};
static const unsigned char p256_half_n[32] = {
    0x7f, 0xff, 0xff, 0xff, 0x80, 0x00, 0x00, 0x00, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xde, 0x73, 0x7d, 0x56, 0xd3, 0x8b, 0xcf, 0x42, 0x79, 0xdc, 0xe5, 0x61, 0x7e, 0x31, 0x92, 0xa8};

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static char *b64url_encode(const unsigned char *in, size_t len);

static void set_err(char *errbuf, size_t errlen, const char *msg)
{
    if (errbuf && errlen)
        util_strlcpy(errbuf, msg, errlen);
}

/* The kid of @pkey (see jwt.h) into @out. 0 or -EIO. */
static int key_kid(EVP_PKEY *pkey, char out[JWT_KID_LEN])
{
    unsigned char *der = NULL, md[SHA256_DIGEST_LENGTH];
    char *enc;
    int derlen = i2d_PUBKEY(pkey, &der);

    if (derlen <= 0)
        return -EIO;
    SHA256(der, (size_t)derlen, md);
    OPENSSL_free(der);
    enc = b64url_encode(md, 8);
    if (!enc)
        return -EIO;
    util_strlcpy(out, enc, JWT_KID_LEN);
    free(enc);
    return 0;
}

static struct jwt_key *key_new(void)
{
    struct jwt_key *key = calloc(1, sizeof(*key));

    if (key) {
        util_strlcpy(key->issuer, JWT_DEFAULT_ISSUER, sizeof(key->issuer));
        util_strlcpy(key->audience, JWT_DEFAULT_AUDIENCE, sizeof(key->audience));
    }
    return key;
}

static size_t key_index(const struct jwt_key *key, const char *kid)
{
    size_t i = 0;

    while (i < key->nkeys && strcmp(key->keys[i].kid, kid) != 0)
        i++;
    return i; /* key->nkeys when not found */
}

static const struct jwt_entry *key_find(const struct jwt_key *key, const char *kid)
{
    size_t i = key_index(key, kid);

    return i < key->nkeys ? &key->keys[i] : NULL;
}

static const struct jwt_entry *key_signer(const struct jwt_key *key)
{
    for (size_t i = 0; i < key->nkeys; i++) {
        if (key->keys[i].has_private)
            return &key->keys[i];
    }
    return NULL;
}

/* Adds @pkey (its reference is taken over, also on failure) to @key. */
static int key_add(struct jwt_key *key, EVP_PKEY *pkey, bool has_private, char *errbuf,
                   size_t errlen)
{
    const struct jwt_entry *signer;
    struct jwt_entry *e;
    char group[64], kid[JWT_KID_LEN] = "";
    size_t glen = 0;

    if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_EC ||
        !EVP_PKEY_get_utf8_string_param(pkey, "group", group, sizeof(group), &glen) ||
        strcmp(group, "prime256v1") != 0) {
        set_err(errbuf, errlen, "key is not an EC P-256 key (ES256)");
        goto bad;
    }
    if (key_kid(pkey, kid) < 0) {
        set_err(errbuf, errlen, "cannot encode a public key");
        goto bad;
    }
    signer = key_signer(key);
    if (has_private && signer && memcmp(signer->kid, kid, sizeof(kid)) != 0) {
        set_err(errbuf, errlen, "more than one private key");
        goto bad;
    }
    if (key_index(key, kid) < key->nkeys) { /* the same key again: keep the private form */
        e = &key->keys[key_index(key, kid)];
        if (has_private && !e->has_private) {
            EVP_PKEY_free(e->pkey);
            e->pkey = pkey;
            e->has_private = true;
        } else {
            EVP_PKEY_free(pkey);
        }
        return 0;
    }
    if (key->nkeys == JWT_MAX_KEYS) {
        set_err(errbuf, errlen, "more than 8 keys");
        goto bad;
    }
    e = &key->keys[key->nkeys++];
    e->pkey = pkey;
    e->has_private = has_private;
    memcpy(e->kid, kid, sizeof(kid));
    return 0;
bad:
    EVP_PKEY_free(pkey);
    return -EINVAL;
}

struct jwt_key *jwt_key_from_pem(const char *pem, size_t len, char *errbuf, size_t errlen)
{
    struct jwt_key *key = key_new();
    BIO *bio = key && len <= INT_MAX ? BIO_new_mem_buf(pem, (int)len) : NULL;
    char *name = NULL, *header = NULL;
    unsigned char *data = NULL;
    long dlen = 0;

    if (!bio) {
        set_err(errbuf, errlen, "out of memory");
        goto bad;
    }
    while (PEM_read_bio(bio, &name, &header, &data, &dlen) == 1) {
        const unsigned char *p = data;
        EVP_PKEY *pkey = NULL;
        bool priv = false, skip = strcmp(name, "EC PARAMETERS") == 0;

        if (strcmp(name, "PUBLIC KEY") == 0) {
            pkey = d2i_PUBKEY(NULL, &p, dlen);
        } else if (strcmp(name, "PRIVATE KEY") == 0 || strcmp(name, "EC PRIVATE KEY") == 0) {
            pkey = d2i_AutoPrivateKey(NULL, &p, dlen);
            priv = true;
        }
        OPENSSL_free(name);
        OPENSSL_free(header);
        OPENSSL_clear_free(data, (size_t)dlen);
        name = header = NULL;
        data = NULL;
        if (skip)
            continue;
        if (!pkey) {
            set_err(errbuf, errlen, "not a PEM private or public key");
            goto bad;
        }
        if (key_add(key, pkey, priv, errbuf, errlen) < 0)
            goto bad;
    }
    ERR_clear_error(); /* the end of the input is an error to PEM_read_bio */
    if (key->nkeys == 0) {
        set_err(errbuf, errlen, "not a PEM private or public key");
        goto bad;
    }
    BIO_free(bio);
    return key;
bad:
    ERR_clear_error();
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_clear_free(data, (size_t)dlen);
    BIO_free(bio);
    jwt_key_free(key);
    return NULL;
}

struct jwt_key *jwt_key_from_file(const char *path, char *errbuf, size_t errlen)
{
    struct jwt_key *key = NULL;
    char buf[16384];
    size_t n;
    FILE *f = fopen(path, "rb");

    if (!f) {
        snprintf(errbuf, errlen, "cannot open '%s': %s", path, strerror(errno));
        return NULL;
    }
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    key = jwt_key_from_pem(buf, n, errbuf, errlen);
    OPENSSL_cleanse(buf, sizeof(buf));
    return key;
}

void jwt_key_free(struct jwt_key *key)
{
    if (!key)
        return;
    for (size_t i = 0; i < key->nkeys; i++)
        EVP_PKEY_free(key->keys[i].pkey);
    free(key);
}

int jwt_key_merge(struct jwt_key *dst, const struct jwt_key *src, char *errbuf, size_t errlen)
{
    struct jwt_key tmp = *dst;

    /* into a copy first, so a failure leaves @dst as it was */
    for (size_t i = 0; i < tmp.nkeys; i++)
        EVP_PKEY_up_ref(tmp.keys[i].pkey);
    for (size_t i = 0; i < src->nkeys; i++) {
        EVP_PKEY_up_ref(src->keys[i].pkey);
        if (key_add(&tmp, src->keys[i].pkey, src->keys[i].has_private, errbuf, errlen) < 0) {
            for (size_t k = 0; k < tmp.nkeys; k++)
                EVP_PKEY_free(tmp.keys[k].pkey);
            return -EINVAL;
        }
    }
    for (size_t i = 0; i < dst->nkeys; i++)
        EVP_PKEY_free(dst->keys[i].pkey);
    *dst = tmp;
    return 0;
}

int jwt_key_set_issuer(struct jwt_key *key, const char *issuer, const char *audience)
{
    if (!issuer || !audience || !*issuer || !*audience || strlen(issuer) >= sizeof(key->issuer) ||
        strlen(audience) >= sizeof(key->audience))
        return -EINVAL;
    util_strlcpy(key->issuer, issuer, sizeof(key->issuer));
    util_strlcpy(key->audience, audience, sizeof(key->audience));
    return 0;
}

const char *jwt_key_signer_kid(const struct jwt_key *key)
{
    const struct jwt_entry *e = key ? key_signer(key) : NULL;

    return e ? e->kid : NULL;
}

bool jwt_key_has_kid(const struct jwt_key *key, const char *kid)
{
    return key && kid && key_find(key, kid) != NULL;
}

/* A coordinate of @pkey as 32 big-endian bytes, base64url; caller frees. */
static char *coord_b64(const EVP_PKEY *pkey, const char *name)
{
    unsigned char buf[32];
    BIGNUM *bn = NULL;
    char *out = NULL;

    if (EVP_PKEY_get_bn_param(pkey, name, &bn) == 1 &&
        BN_bn2binpad(bn, buf, sizeof(buf)) == (int)sizeof(buf))
        out = b64url_encode(buf, sizeof(buf));
    BN_free(bn);
    return out;
}

cJSON *jwt_key_jwks(const struct jwt_key *key)
{
    cJSON *jwks = cJSON_CreateObject();
    cJSON *keys = cJSON_AddArrayToObject(jwks, "keys");

    if (!jwks || !keys)
        goto bad;
    for (size_t i = 0; i < key->nkeys; i++) {
        char *x = coord_b64(key->keys[i].pkey, OSSL_PKEY_PARAM_EC_PUB_X);
        char *y = coord_b64(key->keys[i].pkey, OSSL_PKEY_PARAM_EC_PUB_Y);
        cJSON *jwk = cJSON_CreateObject();

        if (!x || !y || !jwk || !cJSON_AddItemToArray(keys, jwk)) {
            free(x);
            free(y);
            cJSON_Delete(jwk);
            goto bad;
        }
        cJSON_AddStringToObject(jwk, "kty", "EC");
        cJSON_AddStringToObject(jwk, "crv", "P-256");
        cJSON_AddStringToObject(jwk, "x", x);
        cJSON_AddStringToObject(jwk, "y", y);
        cJSON_AddStringToObject(jwk, "use", "sig");
        cJSON_AddStringToObject(jwk, "alg", "ES256");
        cJSON_AddStringToObject(jwk, "kid", key->keys[i].kid);
        free(x);
        free(y);
    }
    return jwks;
bad:
    cJSON_Delete(jwks);
    return NULL;
}

/* ---- base64url ---- */

static char *b64url_encode(const unsigned char *in, size_t len)
{
    char *out = malloc(len * 4 / 3 + 4);
    size_t o = 0, i;

    if (!out)
        return NULL;
    for (i = 0; i + 2 < len; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
        out[o++] = b64url[v >> 18 & 63];
        out[o++] = b64url[v >> 12 & 63];
        out[o++] = b64url[v >> 6 & 63];
        out[o++] = b64url[v & 63];
    }
    if (len - i == 1) {
        unsigned v = (unsigned)in[i] << 16;
        out[o++] = b64url[v >> 18 & 63];
        out[o++] = b64url[v >> 12 & 63];
    } else if (len - i == 2) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;
        out[o++] = b64url[v >> 18 & 63];
        out[o++] = b64url[v >> 12 & 63];
        out[o++] = b64url[v >> 6 & 63];
    }
    out[o] = '\0';
    return out;
}

static int b64url_val(char c)
{
    const char *p = c ? strchr(b64url, c) : NULL;
    return p ? (int)(p - b64url) : -1;
}

/* Decodes @len chars of @in; caller frees *@ret (NUL-terminated for convenience). */
static int b64url_decode(const char *in, size_t len, unsigned char **ret, size_t *ret_len)
{
    unsigned char *out;
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;

    if (len % 4 == 1)
        return -EINVAL;
    out = malloc(len * 3 / 4 + 2);
    if (!out)
        return -ENOMEM;
    for (size_t i = 0; i < len; i++) {
        int v = b64url_val(in[i]);
        if (v < 0) {
            free(out);
            return -EINVAL;
        }
        acc = (acc << 6 | (unsigned)v) & 0xfff;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits & 0xff);
        }
    }
    /* the unused low bits of the last character must be zero: one encoding per value */
    if (acc & ((1u << bits) - 1)) {
        free(out);
        return -EINVAL;
    }
    out[o] = '\0';
    *ret = out;
    *ret_len = o;
    return 0;
}

/* ---- signatures ---- */

static int es256_sign(EVP_PKEY *pkey, const char *data, size_t len, unsigned char raw[64])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char der[80];
    const unsigned char *p = der;
    size_t derlen = sizeof(der);
    ECDSA_SIG *sig = NULL;
    BIGNUM *n = NULL, *low = NULL;
    int rc = -EIO;

    if (!md)
        return -ENOMEM;
    if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, pkey) != 1 ||
        EVP_DigestSign(md, der, &derlen, (const unsigned char *)data, len) != 1)
        goto out;
    sig = d2i_ECDSA_SIG(NULL, &p, (long)derlen);
    if (!sig)
        goto out;
    if (BN_bn2binpad(ECDSA_SIG_get0_r(sig), raw, 32) != 32 ||
        BN_bn2binpad(ECDSA_SIG_get0_s(sig), raw + 32, 32) != 32)
        goto out;
    if (memcmp(raw + 32, p256_half_n, 32) > 0) {
        /* (r, n - s) is the same signature in the low-S form that verifiers insist on */
        n = BN_bin2bn(p256_n, 32, NULL);
        low = BN_new();
        if (!n || !low || !BN_sub(low, n, ECDSA_SIG_get0_s(sig)) ||
            BN_bn2binpad(low, raw + 32, 32) != 32)
            goto out;
    }
    rc = 0;
out:
    BN_free(low);
    BN_free(n);
    ECDSA_SIG_free(sig);
    EVP_MD_CTX_free(md);
    return rc;
}

static int es256_verify(EVP_PKEY *pkey, const char *data, size_t len, const unsigned char *raw,
                        size_t rawlen)
{
    EVP_MD_CTX *md = NULL;
    ECDSA_SIG *sig = NULL;
    BIGNUM *r = NULL, *s = NULL;
    unsigned char *der = NULL;
    int derlen, rc = -EPERM;

    /* s above n/2 is the high-S twin of a valid signature: refused, one token one spelling */
    if (rawlen != 64 || memcmp(raw + 32, p256_half_n, 32) > 0)
        return -EPERM;
    sig = ECDSA_SIG_new();
    r = BN_bin2bn(raw, 32, NULL);
    s = BN_bin2bn(raw + 32, 32, NULL);
    if (!sig || !r || !s || ECDSA_SIG_set0(sig, r, s) != 1) {
        BN_free(r);
        BN_free(s);
        rc = -ENOMEM;
        goto out;
    }
    r = s = NULL; /* now owned by sig */
    derlen = i2d_ECDSA_SIG(sig, &der);
    if (derlen <= 0)
        goto out;
    md = EVP_MD_CTX_new();
    if (!md)
        goto out;
    if (EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pkey) == 1 &&
        EVP_DigestVerify(md, der, (size_t)derlen, (const unsigned char *)data, len) == 1)
        rc = 0;
out:
    OPENSSL_free(der);
    ECDSA_SIG_free(sig);
    EVP_MD_CTX_free(md);
    return rc;
}

/* ---- tokens ---- */

static const char *const role_names[] = {"USER", "ADMIN"};

unsigned jwt_roles_parse(const char *const *names, size_t n)
{
    unsigned roles = 0;

    for (size_t i = 0; i < n; i++) {
        for (size_t r = 0; r < 2; r++) {
            if (names[i] && strcmp(names[i], role_names[r]) == 0)
                roles |= 1u << r;
        }
    }
    return roles;
}

int jwt_sign(const struct jwt_key *key, const struct jwt_principal *p, int64_t now, int64_t ttl_s,
             char **ret_token)
{
    const struct jwt_entry *signer = key ? key_signer(key) : NULL;
    char header[64 + JWT_KID_LEN];
    cJSON *claims = NULL, *roles;
    char *claims_txt = NULL, *h64 = NULL, *c64 = NULL, *s64 = NULL, *token = NULL;
    char jti[UTIL_UUID_LEN];
    unsigned char sig[64];
    size_t len;
    int rc = -ENOMEM;

    if (!signer)
        return -EINVAL;
    snprintf(header, sizeof(header), "{\"alg\":\"ES256\",\"typ\":\"JWT\",\"kid\":\"%s\"}",
             signer->kid);
    claims = cJSON_CreateObject();
    if (!claims)
        goto out;
    cJSON_AddStringToObject(claims, "iss", key->issuer);
    cJSON_AddStringToObject(claims, "aud", key->audience);
    cJSON_AddStringToObject(claims, "sub", p->sub);
    if (p->email[0])
        cJSON_AddStringToObject(claims, "email", p->email);
    roles = cJSON_AddArrayToObject(claims, "roles");
    for (size_t r = 0; r < 2; r++) {
        if (roles && (p->roles & (1u << r)))
            cJSON_AddItemToArray(roles, cJSON_CreateString(role_names[r]));
    }
    cJSON_AddNumberToObject(claims, "iat", (double)now);
    cJSON_AddNumberToObject(claims, "exp", (double)(now + ttl_s));
    if (p->jti[0]) {
        cJSON_AddStringToObject(claims, "jti", p->jti);
    } else {
        util_uuid(jti);
        cJSON_AddStringToObject(claims, "jti", jti);
    }
    claims_txt = cJSON_PrintUnformatted(claims);
    if (!claims_txt)
        goto out;
    h64 = b64url_encode((const unsigned char *)header, strlen(header));
    c64 = b64url_encode((const unsigned char *)claims_txt, strlen(claims_txt));
    if (!h64 || !c64)
        goto out;
    len = strlen(h64) + 1 + strlen(c64);
    token = malloc(len + 1 + 90);
    if (!token)
        goto out;
    snprintf(token, len + 1, "%s.%s", h64, c64);
    rc = es256_sign(signer->pkey, token, len, sig);
    if (rc < 0)
        goto out;
    rc = -ENOMEM;
    s64 = b64url_encode(sig, sizeof(sig));
    if (!s64)
        goto out;
    snprintf(token + len, 90, ".%s", s64);
    *ret_token = token;
    token = NULL;
    rc = 0;
out:
    free(token);
    free(s64);
    free(c64);
    free(h64);
    cJSON_free(claims_txt);
    cJSON_Delete(claims);
    return rc;
}

static int claim_int(const cJSON *claims, const char *name, int64_t *ret)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(claims, name);

    if (!cJSON_IsNumber(v) || !(v->valuedouble >= -JWT_MAX_TIME && v->valuedouble <= JWT_MAX_TIME))
        return -EINVAL;
    *ret = (int64_t)v->valuedouble;
    return 0;
}

/* Whether claim @name is the string @want, or (for "aud") an array of strings holding it. */
static bool claim_is(const cJSON *claims, const char *name, const char *want)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(claims, name), *it;

    if (cJSON_IsString(v))
        return strcmp(v->valuestring, want) == 0;
    if (!cJSON_IsArray(v) || strcmp(name, "aud") != 0)
        return false;
    cJSON_ArrayForEach (it, v) {
        if (cJSON_IsString(it) && strcmp(it->valuestring, want) == 0)
            return true;
    }
    return false;
}

int jwt_verify(const struct jwt_key *key, const char *token, int64_t now, struct jwt_principal *ret,
               char *errbuf, size_t errlen)
{
    const char *dot1, *dot2;
    unsigned char *hdr = NULL, *body = NULL, *sig = NULL;
    size_t hdrlen, bodylen, siglen;
    cJSON *hjson = NULL, *claims = NULL;
    const cJSON *alg, *kid, *sub, *email, *roles, *jti, *r;
    const struct jwt_entry *entry;
    struct jwt_principal p;
    int64_t exp, iat;
    int rc = -EINVAL;

    memset(&p, 0, sizeof(p));
    if (!key || !token || strlen(token) > JWT_MAX_LEN) {
        set_err(errbuf, errlen, "malformed token");
        return -EINVAL;
    }
    dot1 = strchr(token, '.');
    dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    if (!dot1 || !dot2 || strchr(dot2 + 1, '.')) {
        set_err(errbuf, errlen, "malformed token");
        return -EINVAL;
    }
    if (b64url_decode(token, (size_t)(dot1 - token), &hdr, &hdrlen) < 0 ||
        b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), &body, &bodylen) < 0 ||
        b64url_decode(dot2 + 1, strlen(dot2 + 1), &sig, &siglen) < 0) {
        set_err(errbuf, errlen, "malformed token encoding");
        goto out;
    }
    hjson = cJSON_ParseWithLength((const char *)hdr, hdrlen);
    alg = cJSON_GetObjectItemCaseSensitive(hjson, "alg");
    if (!cJSON_IsString(alg) || strcmp(alg->valuestring, "ES256") != 0) {
        set_err(errbuf, errlen, "token algorithm not accepted");
        rc = -EPERM;
        goto out;
    }
    kid = cJSON_GetObjectItemCaseSensitive(hjson, "kid");
    if (!cJSON_IsString(kid)) {
        set_err(errbuf, errlen, "token has no key id");
        rc = -EPERM;
        goto out;
    }
    entry = key_find(key, kid->valuestring);
    if (!entry) {
        set_err(errbuf, errlen, "unknown token key id");
        rc = -EPERM;
        goto out;
    }
    if (es256_verify(entry->pkey, token, (size_t)(dot2 - token), sig, siglen) < 0) {
        set_err(errbuf, errlen, "bad token signature");
        rc = -EPERM;
        goto out;
    }
    claims = cJSON_ParseWithLength((const char *)body, bodylen);
    if (!cJSON_IsObject(claims)) {
        set_err(errbuf, errlen, "malformed token claims");
        goto out;
    }
    if (!claim_is(claims, "iss", key->issuer)) {
        set_err(errbuf, errlen, "token issuer not accepted");
        rc = -EPERM;
        goto out;
    }
    if (!claim_is(claims, "aud", key->audience)) {
        set_err(errbuf, errlen, "token audience not accepted");
        rc = -EPERM;
        goto out;
    }
    sub = cJSON_GetObjectItemCaseSensitive(claims, "sub");
    if (!cJSON_IsString(sub) || !*sub->valuestring || strlen(sub->valuestring) >= sizeof(p.sub)) {
        set_err(errbuf, errlen, "token has no subject");
        goto out;
    }
    if (claim_int(claims, "exp", &exp) < 0 || claim_int(claims, "iat", &iat) < 0) {
        set_err(errbuf, errlen, "token lacks exp or iat");
        goto out;
    }
    if (exp + JWT_LEEWAY_S < now) {
        set_err(errbuf, errlen, "token expired");
        rc = -ETIMEDOUT;
        goto out;
    }
    if (iat > now + JWT_LEEWAY_S) {
        set_err(errbuf, errlen, "token issued in the future");
        goto out;
    }
    util_strlcpy(p.sub, sub->valuestring, sizeof(p.sub));
    email = cJSON_GetObjectItemCaseSensitive(claims, "email");
    if (cJSON_IsString(email))
        util_strlcpy(p.email, email->valuestring, sizeof(p.email));
    jti = cJSON_GetObjectItemCaseSensitive(claims, "jti");
    if (cJSON_IsString(jti))
        util_strlcpy(p.jti, jti->valuestring, sizeof(p.jti));
    roles = cJSON_GetObjectItemCaseSensitive(claims, "roles");
    cJSON_ArrayForEach (r, roles) {
        if (cJSON_IsString(r)) {
            const char *name = r->valuestring;
            p.roles |= jwt_roles_parse(&name, 1);
        }
    }
    p.exp = exp;
    *ret = p;
    rc = 0;
out:
    cJSON_Delete(claims);
    cJSON_Delete(hjson);
    free(sig);
    free(body);
    free(hdr);
    return rc;
}
