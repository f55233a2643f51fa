/*
 * crypto.h - auth-service's secrets: Argon2id password hashes (libargon2), opaque refresh
 * tokens and their SHA-256 digests, the service-credential comparison, the bootstrap admin's
 * derived user id (OpenSSL). The JWKS document comes from jwt_key_jwks() (common/jwt.h).
 *
 * Functions return 0 or a negative errno; nothing here logs. No secret is ever written
 * anywhere but the caller's buffers.
 */
#ifndef AUTH_CRYPTO_H
#define AUTH_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

/* Argon2id parameters (OWASP's minimum: 19 MiB, 2 passes, 1 lane). */
#define CRYPTO_ARGON2_T 2
#define CRYPTO_ARGON2_M_KIB 19456
#define CRYPTO_ARGON2_P 1
#define CRYPTO_SALT_LEN 16
#define CRYPTO_HASH_LEN 32
#define CRYPTO_ENCODED_MAX 128 /* room for "$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>" */

#define CRYPTO_REFRESH_BYTES 32
#define CRYPTO_REFRESH_LEN 44    /* base64url of 32 bytes (43) + NUL */
#define CRYPTO_DIGEST_HEX_LEN 65 /* SHA-256 as 64 hex digits + NUL */

/* Hashes @password (@len bytes) with a fresh random salt into @out as an encoded
 * "$argon2id$…" string. 0, -EIO (no randomness), -EINVAL (argon2 refused). */
int crypto_password_hash(const char *password, size_t len, char out[CRYPTO_ENCODED_MAX]);

/* An encoded Argon2id hash with the parameters above, a random salt and a random hash value
 * instead of a password's: verifying against it costs exactly what a real one does, and no
 * password matches it. Made without running Argon2 (nothing to wait for at start). 0 or -EIO. */
int crypto_password_dummy(char out[CRYPTO_ENCODED_MAX]);

/* 1 when @password matches @encoded, 0 when not (also for a malformed @encoded). Takes about
 * as long whatever the answer. */
bool crypto_password_verify(const char *encoded, const char *password, size_t len);

/* A new refresh token: CRYPTO_REFRESH_BYTES random bytes, base64url without padding.
 * 0 or -EIO. */
int crypto_refresh_new(char out[CRYPTO_REFRESH_LEN]);

/* SHA-256 of @s as lower-case hex (what the database stores instead of a token). */
void crypto_sha256_hex(const char *s, size_t len, char out[CRYPTO_DIGEST_HEX_LEN]);

/* Constant-time equality of two strings of any lengths (compares their SHA-256 digests with
 * CRYPTO_memcmp, so neither content nor length leaks through timing). NULL never matches. */
bool crypto_secret_equal(const char *given, const char *expected);

/* A stable user id for @email (already normalised): a name-based (version 5, SHA-1) UUID in
 * auth-service's own namespace, lower case, into @out (37 bytes). */
void crypto_admin_user_id(const char *email, char out[37]);

/* Base64url without padding of @len bytes into @out (room for 4 * ceil(len / 3) + 1). */
void crypto_b64url(const unsigned char *in, size_t len, char *out);

#endif
