/*
 * undo.h - takes back the credentials of sign-ups that were not kept, in the background.
 *
 * When auth-service's answer to "create credential" was lost (timeout, 5xx) or our own commit
 * failed after its 201, auth-service may hold a credential without a profile, which would keep
 * that email taken forever. The sign-up handler answers the client at once and queues the
 * user id here; a thread sends the idempotent DELETE /api/auth/{userId}, retrying with backoff
 * while auth-service is unreachable. The queue is in memory: undos still pending at shutdown
 * (or after a crash) are logged, and an operator can send the same DELETE.
 */
#ifndef USER_UNDO_H
#define USER_UNDO_H

#include "auth_client.h"

struct undo_queue;

/* Starts the thread. @client is borrowed until undo_stop(). NULL on allocation failure. */
struct undo_queue *undo_start(struct auth_client *client, int max_attempts);

/* Queues @user_id (copied). Never blocks on the network. */
void undo_push(struct undo_queue *q, const char *user_id);

/* Stops after the call in flight (bounded by AUTH_TIMEOUT_MS), logs what is left, frees.
 * Accepts NULL. */
void undo_stop(struct undo_queue *q);

#endif
