/* crypto.c - auth-service's secrets (see crypto.h): libargon2 and OpenSSL at one place. */
#include "crypto.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <argon2.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

int crypto_password_hash(const char *password, size_t len, char out[CRYPTO_ENCODED_MAX])
{
    unsigned char salt[CRYPTO_SALT_LEN];
    size_t need = argon2_encodedlen(CRYPTO_ARGON2_T, CRYPTO_ARGON2_M_KIB, CRYPTO_ARGON2_P,
                                    CRYPTO_SALT_LEN, CRYPTO_HASH_LEN, Argon2_id);
    int rc;

    if (need > CRYPTO_ENCODED_MAX)
        return -EINVAL;
    if (RAND_bytes(salt, sizeof(salt)) != 1)
        return -EIO;
    rc = argon2id_hash_encoded(CRYPTO_ARGON2_T, CRYPTO_ARGON2_M_KIB, CRYPTO_ARGON2_P, password, len,
                               salt, sizeof(salt), CRYPTO_HASH_LEN, out, CRYPTO_ENCODED_MAX);
    OPENSSL_cleanse(salt, sizeof(salt));
    return rc == ARGON2_OK ? 0 : -EINVAL;
}

bool crypto_password_verify(const char *encoded, const char *password, size_t len)
{
    if (!encoded || strncmp(encoded, "$argon2id$", 10) != 0)
        return false;
    return argon2id_verify(encoded, password, len) == ARGON2_OK;
}

/* Base64 of @len bytes with the 64 characters of @tab, without padding. */
static void crypto__b64(const char *tab, const unsigned char *in, size_t len, char *out)
{
    size_t o = 0, i = 0;

    for (; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = tab[v >> 18 & 63];
        out[o++] = tab[v >> 12 & 63];
        out[o++] = tab[v >> 6 & 63];
        out[o++] = tab[v & 63];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = tab[v >> 18 & 63];
        out[o++] = tab[v >> 12 & 63];
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = tab[v >> 18 & 63];
        out[o++] = tab[v >> 12 & 63];
        out[o++] = tab[v >> 6 & 63];
    }
    out[o] = '\0';
}

void crypto_b64url(const unsigned char *in, size_t len, char *out)
{
    crypto__b64("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", in, len, out);
}

int crypto_password_dummy(char out[CRYPTO_ENCODED_MAX])
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    unsigned char raw[CRYPTO_SALT_LEN + CRYPTO_HASH_LEN];
    char salt[4 * CRYPTO_SALT_LEN / 3 + 4], hash[4 * CRYPTO_HASH_LEN / 3 + 4];
    int n;

    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return -EIO;
    /* the encoding argon2 writes: standard base64 without padding */
    crypto__b64(b64, raw, CRYPTO_SALT_LEN, salt);
    crypto__b64(b64, raw + CRYPTO_SALT_LEN, CRYPTO_HASH_LEN, hash);
    OPENSSL_cleanse(raw, sizeof(raw));
    n = snprintf(out, CRYPTO_ENCODED_MAX, "$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", ARGON2_VERSION_13,
                 CRYPTO_ARGON2_M_KIB, CRYPTO_ARGON2_T, CRYPTO_ARGON2_P, salt, hash);
    return n > 0 && n < CRYPTO_ENCODED_MAX ? 0 : -EINVAL;
}

int crypto_refresh_new(char out[CRYPTO_REFRESH_LEN])
{
    unsigned char raw[CRYPTO_REFRESH_BYTES];

    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return -EIO;
    crypto_b64url(raw, sizeof(raw), out);
    OPENSSL_cleanse(raw, sizeof(raw));
    return 0;
}

void crypto_sha256_hex(const char *s, size_t len, char out[CRYPTO_DIGEST_HEX_LEN])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[SHA256_DIGEST_LENGTH];

    SHA256((const unsigned char *)s, len, md);
    for (size_t i = 0; i < sizeof(md); i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[2 * sizeof(md)] = '\0';
}

bool crypto_secret_equal(const char *given, const char *expected)
{
    unsigned char a[SHA256_DIGEST_LENGTH], b[SHA256_DIGEST_LENGTH];

    if (!given || !expected)
        return false;
    SHA256((const unsigned char *)given, strlen(given), a);
    SHA256((const unsigned char *)expected, strlen(expected), b);
    return CRYPTO_memcmp(a, b, sizeof(a)) == 0;
}

void crypto_admin_user_id(const char *email, char out[37])
{
    /* auth-service's namespace for name-based ids (a fixed random UUID) */
    static const unsigned char ns[16] = {0x6f, 0x1c, 0x2e, 0x4a, 0x93, 0x0b, 0x4d, 0x5e,
                                         0xa8, 0x21, 0x7c, 0x55, 0x0e, 0x3d, 0x91, 0xb7};
    unsigned char md[EVP_MAX_MD_SIZE] = {0};
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned int mdlen = 0;

    /* RFC 9562 version 5: SHA-1 over namespace || name, first 16 bytes */
    if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) != 1 ||
        EVP_DigestUpdate(ctx, ns, sizeof(ns)) != 1 ||
        EVP_DigestUpdate(ctx, email, strlen(email)) != 1 ||
        EVP_DigestFinal_ex(ctx, md, &mdlen) != 1) {
        /* only on memory exhaustion; SHA256() needs no allocation and is still stable */
        SHA256((const unsigned char *)email, strlen(email), md);
    }
    EVP_MD_CTX_free(ctx);
    md[6] = (unsigned char)((md[6] & 0x0f) | 0x50); /* version 5 */
    md[8] = (unsigned char)((md[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", md[0],
             md[1], md[2], md[3], md[4], md[5], md[6], md[7], md[8], md[9], md[10], md[11], md[12],
             md[13], md[14], md[15]);
}
