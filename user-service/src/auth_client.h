/*
 * auth_client.h - user-service's synchronous client of auth-service's internal API (libcurl).
 *
 * Two calls, both authenticated with the service credential in "X-Service-Token":
 *   POST  /api/auth                    {userId, email, password, provider}  → 201
 *   PATCH /api/auth/{userId}/status    {status}                             → 204
 *   DELETE /api/auth/{userId}                                               → 204
 * Each call has a connect timeout and a total timeout; a call whose connection could not be
 * made is tried once more (nothing reached auth-service, so repeating it is safe). Answers are
 * mapped to an outcome the handlers turn into problems. Thread-safe: every call uses its own
 * curl handle. curl_global_init() must have run (main, before threads).
 */
#ifndef USER_AUTH_CLIENT_H
#define USER_AUTH_CLIENT_H

#include <stddef.h>

enum auth_outcome {
    AUTH_OK = 0,      /* 201 / 204 */
    AUTH_CONFLICT,    /* 409: email or user id already has a credential */
    AUTH_UNAVAILABLE, /* no connection, timed out, or 503 */
    AUTH_FAILED,      /* any other answer (401 bad service token, 400, 5xx, …) */
};

struct auth_client_opts {
    const char *base_url;      /* "http://127.0.0.1:8089"; borrowed for the client's life */
    const char *service_token; /* borrowed for the client's life */
    long timeout_ms;           /* total per attempt; connect timeout is derived from it */
};

struct auth_client;

/* Caller owns: auth_client_free(). NULL on allocation failure only. */
struct auth_client *auth_client_new(const struct auth_client_opts *opts);
void auth_client_free(struct auth_client *client);

/*
 * Creates the credential of @user_id. The request body holding @password is wiped after the
 * call. @detail (may be NULL) receives a short reason for logs (never the password). When
 * auth-service answers 503 with Retry-After (its hashing pool is full), the seconds (at most
 * 3600) go into *@ret_retry_after_s (may be NULL; left alone without one).
 */
enum auth_outcome auth_client_create(struct auth_client *client, const char *user_id,
                                     const char *email, const char *password, const char *provider,
                                     char *detail, size_t detaillen, long *ret_retry_after_s);

/* Sets the credential's status ("ACTIVE", "INACTIVE", "BLOCKED"). */
enum auth_outcome auth_client_set_status(struct auth_client *client, const char *user_id,
                                         const char *status, char *detail, size_t detaillen);

/* Deletes the credential of @user_id (idempotent): the undo of a sign-up whose outcome was
 * unknown (timeout after sending) or whose profile could not be committed. */
enum auth_outcome auth_client_delete(struct auth_client *client, const char *user_id, char *detail,
                                     size_t detaillen);

#endif
