/*
 * jwt.h - access tokens: compact JWS, ES256 (ECDSA P-256 + SHA-256) via OpenSSL.
 *
 * Only auth-service signs (with the private key it alone holds); every service verifies with
 * auth-service's public key. Verification is strict: the header must say alg ES256 (never
 * "none", never HS*), the signature must match, "exp" must be in the future and "iat" not in
 * the future (60 s leeway), "sub" must be present. Claims: sub, email, roles ["USER"|"ADMIN"],
 * iat, exp, jti.
 */
#ifndef COMMON_JWT_H
#define COMMON_JWT_H

#include <stddef.h>
#include <stdint.h>

enum jwt_role { JWT_ROLE_USER = 1u << 0, JWT_ROLE_ADMIN = 1u << 1 };

struct jwt_principal {
    char sub[64]; /* user id */
    char email[256];
    unsigned roles; /* JWT_ROLE_* bits */
    char jti[64];
    int64_t exp; /* epoch seconds */
};

struct jwt_key;

/* Loads a PEM public key (verify only) or private key (sign and verify) from @pem.
 * Returns NULL with a reason in @errbuf if it is not an EC P-256 key. Caller owns: jwt_key_free. */
struct jwt_key *jwt_key_from_pem(const char *pem, size_t len, char *errbuf, size_t errlen);

/* Same, reading the PEM from @path. */
struct jwt_key *jwt_key_from_file(const char *path, char *errbuf, size_t errlen);

void jwt_key_free(struct jwt_key *key);

/*
 * Verifies @token at time @now (epoch seconds) and fills @ret on success.
 * Returns 0; -EINVAL malformed; -EPERM bad signature or wrong alg; -ETIMEDOUT expired.
 * A short reason for the client goes to @errbuf.
 */
int jwt_verify(const struct jwt_key *key, const char *token, int64_t now, struct jwt_principal *ret,
               char *errbuf, size_t errlen);

/*
 * Signs a token for @p valid from @now for @ttl_s seconds (p->exp is ignored; jti generated
 * when empty). @key must hold the private key. Caller owns *@ret_token: free().
 * Returns 0, -EINVAL (no private key), -EIO (OpenSSL failure), -ENOMEM.
 */
int jwt_sign(const struct jwt_key *key, const struct jwt_principal *p, int64_t now, int64_t ttl_s,
             char **ret_token);

/* Role names as in tokens ("USER", "ADMIN"); unknown names are ignored. */
unsigned jwt_roles_parse(const char *const *names, size_t n);

#endif
