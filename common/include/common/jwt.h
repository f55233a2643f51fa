/*
 * jwt.h - access tokens: compact JWS, ES256 (ECDSA P-256 + SHA-256) via OpenSSL.
 *
 * Only auth-service signs (with the private key it alone holds); every service verifies with
 * a key set: the public keys in JWT_PUBLIC_KEY_FILE (one or more PEM blocks). During a key
 * rotation the set holds the old and the new key; the token's "kid" header picks the key.
 *
 * A token's header is {"alg":"ES256","typ":"JWT","kid":…}; its claims are iss, aud, sub,
 * email, roles ["USER"|"ADMIN"], iat, exp, jti. Verification is strict:
 *   - the header says alg ES256 (never "none", never HS*) and names a kid of the set;
 *   - the signature is 64 bytes r||s in the low-S form (s <= n/2: the high-S twin of a valid
 *     signature is refused, so one token has one spelling), base64url in canonical form;
 *   - iss and aud equal the set's issuer and audience (jwt_key_set_issuer; by default
 *     JWT_DEFAULT_ISSUER / JWT_DEFAULT_AUDIENCE), "sub" is present, "exp" is in the future and
 *     "iat" not in the future (60 s leeway).
 *
 * kid: the base64url of the first 8 bytes of SHA-256 of the key's DER SubjectPublicKeyInfo
 * (11 characters), computed from the key itself, so the same key has the same kid everywhere.
 */
#ifndef COMMON_JWT_H
#define COMMON_JWT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cJSON; /* cjson/cJSON.h; not included here so that domain code can use jwt.h */

#define JWT_DEFAULT_ISSUER "commerce-auth"
#define JWT_DEFAULT_AUDIENCE "commerce"
#define JWT_MAX_KEYS 8     /* keys in one set */
#define JWT_KID_LEN 12     /* 11 characters + NUL */
#define JWT_MAX_ISSUER 128 /* bytes of iss / aud, NUL included */

enum jwt_role { JWT_ROLE_USER = 1u << 0, JWT_ROLE_ADMIN = 1u << 1 };

struct jwt_principal {
    char sub[64]; /* user id */
    char email[256];
    unsigned roles; /* JWT_ROLE_* bits */
    char jti[64];
    int64_t exp; /* epoch seconds */
};

/* A key set: up to JWT_MAX_KEYS EC P-256 keys, at most one of them private (the signer),
 * plus the issuer and audience that tokens carry. */
struct jwt_key;

/*
 * Loads every PEM key in @pem ("PUBLIC KEY", "PRIVATE KEY", "EC PRIVATE KEY"; "EC PARAMETERS"
 * blocks are skipped). A key given twice (e.g. a private key and its public key) counts once.
 * Returns NULL with a reason in @errbuf when there is no key, a key is not EC P-256, there is
 * more than one private key or more than JWT_MAX_KEYS keys. Caller owns: jwt_key_free.
 */
struct jwt_key *jwt_key_from_pem(const char *pem, size_t len, char *errbuf, size_t errlen);

/* Same, reading the PEM from @path. */
struct jwt_key *jwt_key_from_file(const char *path, char *errbuf, size_t errlen);

void jwt_key_free(struct jwt_key *key);

/* Adds the keys of @src to @dst (shared, not copied; @src stays the caller's). Same rules as
 * jwt_key_from_pem. 0, or -EINVAL with a reason in @errbuf (then @dst is unchanged). */
int jwt_key_merge(struct jwt_key *dst, const struct jwt_key *src, char *errbuf, size_t errlen);

/* Sets the iss and aud written by jwt_sign and required by jwt_verify (copied). -EINVAL when
 * one is empty or longer than JWT_MAX_ISSUER - 1 bytes. */
int jwt_key_set_issuer(struct jwt_key *key, const char *issuer, const char *audience);

/* The kid of the set's private key, or NULL when it has none. Borrowed from @key. */
const char *jwt_key_signer_kid(const struct jwt_key *key);

/* Whether a key with @kid is in the set. */
bool jwt_key_has_kid(const struct jwt_key *key, const char *kid);

/* The set's public keys as a JWKS document {"keys":[{"kty":"EC","crv":"P-256","x","y",
 * "use":"sig","alg":"ES256","kid"}, …]}. Caller owns: cJSON_Delete(). NULL on failure. */
struct cJSON *jwt_key_jwks(const struct jwt_key *key);

/*
 * Verifies @token at time @now (epoch seconds) and fills @ret on success.
 * Returns 0; -EINVAL malformed; -EPERM bad signature, wrong alg, missing or unknown kid,
 * high-S signature, wrong iss or aud; -ETIMEDOUT expired. A short reason for the client goes
 * to @errbuf.
 */
int jwt_verify(const struct jwt_key *key, const char *token, int64_t now, struct jwt_principal *ret,
               char *errbuf, size_t errlen);

/*
 * Signs a token for @p valid from @now for @ttl_s seconds with the set's private key (p->exp
 * is ignored; jti generated when empty), carrying its kid, issuer and audience. Caller owns
 * *@ret_token: free(). Returns 0, -EINVAL (no private key), -EIO (OpenSSL failure), -ENOMEM.
 */
int jwt_sign(const struct jwt_key *key, const struct jwt_principal *p, int64_t now, int64_t ttl_s,
             char **ret_token);

/* Role names as in tokens ("USER", "ADMIN"); unknown names are ignored. */
unsigned jwt_roles_parse(const char *const *names, size_t n);

#endif
