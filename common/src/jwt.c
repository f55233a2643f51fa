/*
 * jwt.c - ES256 compact JWS access tokens on OpenSSL 3.
 *
 * The alg is fixed by the key, never taken from the token: a token whose header says anything
 * but ES256 is refused before its signature is looked at ("none", HS256 with the public key as
 * secret, …). JOSE signatures are the raw 64-byte r||s form, converted to and from DER here.
 */
#include "common/jwt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "common/util.h"

#define JWT_LEEWAY_S 60
#define JWT_MAX_LEN 8192

struct jwt_key {
    EVP_PKEY *pkey;
    int has_private;
};

static void set_err(char *errbuf, size_t errlen, const char *msg)
{
    if (errbuf && errlen)
        util_strlcpy(errbuf, msg, errlen);
}

struct jwt_key *jwt_key_from_pem(const char *pem, size_t len, char *errbuf, size_t errlen)
{
    struct jwt_key *key = NULL;
    EVP_PKEY *pkey = NULL;
    BIO *bio;
    int has_private = 1;
    char group[64];
    size_t glen = 0;

    bio = BIO_new_mem_buf(pem, (int)len);
    if (!bio) {
        set_err(errbuf, errlen, "out of memory");
        return NULL;
    }
    pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    if (!pkey) {
        has_private = 0;
        BIO_reset(bio);
        pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    }
    BIO_free(bio);
    if (!pkey) {
        set_err(errbuf, errlen, "not a PEM private or public key");
        return NULL;
    }
    if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_EC ||
        !EVP_PKEY_get_utf8_string_param(pkey, "group", group, sizeof(group), &glen) ||
        strcmp(group, "prime256v1") != 0) {
        set_err(errbuf, errlen, "key is not an EC P-256 key (ES256)");
        EVP_PKEY_free(pkey);
        return NULL;
    }
    key = calloc(1, sizeof(*key));
    if (!key) {
        EVP_PKEY_free(pkey);
        set_err(errbuf, errlen, "out of memory");
        return NULL;
    }
    key->pkey = pkey;
    key->has_private = has_private;
    return key;
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
    EVP_PKEY_free(key->pkey);
    free(key);
}

/* ---- base64url ---- */

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

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
        acc = acc << 6 | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits & 0xff);
        }
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
    rc = 0;
out:
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

    if (rawlen != 64)
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
    static const char header[] = "{\"alg\":\"ES256\",\"typ\":\"JWT\"}";
    cJSON *claims = NULL, *roles;
    char *claims_txt = NULL, *h64 = NULL, *c64 = NULL, *s64 = NULL, *token = NULL;
    char jti[UTIL_UUID_LEN];
    unsigned char sig[64];
    size_t len;
    int rc = -ENOMEM;

    if (!key || !key->has_private)
        return -EINVAL;
    claims = cJSON_CreateObject();
    if (!claims)
        goto out;
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
    rc = es256_sign(key->pkey, token, len, sig);
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

    if (!cJSON_IsNumber(v))
        return -EINVAL;
    *ret = (int64_t)v->valuedouble;
    return 0;
}

int jwt_verify(const struct jwt_key *key, const char *token, int64_t now, struct jwt_principal *ret,
               char *errbuf, size_t errlen)
{
    const char *dot1, *dot2;
    unsigned char *hdr = NULL, *body = NULL, *sig = NULL;
    size_t hdrlen, bodylen, siglen;
    cJSON *hjson = NULL, *claims = NULL;
    const cJSON *alg, *sub, *email, *roles, *jti, *r;
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
    if (es256_verify(key->pkey, token, (size_t)(dot2 - token), sig, siglen) < 0) {
        set_err(errbuf, errlen, "bad token signature");
        rc = -EPERM;
        goto out;
    }
    claims = cJSON_ParseWithLength((const char *)body, bodylen);
    if (!cJSON_IsObject(claims)) {
        set_err(errbuf, errlen, "malformed token claims");
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
