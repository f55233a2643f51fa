/*
 * hash_pool.h - Argon2id on a small fixed pool of threads with a bounded queue.
 *
 * Each Argon2id hash or verification needs a CRYPTO_ARGON2_M_KIB (19 MiB) buffer. Done on the
 * HTTP threads, memory grew with their number (and glibc kept a buffer per thread's arena);
 * here at most @threads buffers exist at once, whatever the number of requests, and a
 * request beyond @threads running plus @queue waiting is refused at once (-EBUSY: the handler
 * answers 503 with Retry-After) instead of queueing without bound. The caller blocks until
 * its job is done; jobs run in arrival order.
 *
 * The buffers go back to the OS when a job ends: auth_hash_malloc_tune() (called before any
 * thread) fixes glibc's mmap threshold below their size, so each one is its own mapping,
 * unmapped by free(), and never parked in an arena.
 */
#ifndef AUTH_HASH_POOL_H
#define AUTH_HASH_POOL_H

#include <stdbool.h>
#include <stddef.h>

#include "crypto.h"

struct hash_pool;

/* Starts @threads workers with room for @queue waiting jobs. NULL with a reason in @errbuf.
 * Caller owns: hash_pool_free(). */
struct hash_pool *hash_pool_new(int threads, int queue, char *errbuf, size_t errlen);

/* Runs the queued jobs to the end, stops the workers, frees @hp. No caller may still submit.
 * Accepts NULL. */
void hash_pool_free(struct hash_pool *hp);

/* crypto_password_hash() on the pool: 0, -EBUSY (the queue is full: nothing done), or its
 * errors. */
int hash_pool_hash(struct hash_pool *hp, const char *password, size_t len,
                   char out[CRYPTO_ENCODED_MAX]);

/* crypto_password_verify() on the pool: 0 with *@ret_ok set, or -EBUSY (nothing done). */
int hash_pool_verify(struct hash_pool *hp, const char *encoded, const char *password, size_t len,
                     bool *ret_ok);

/* Jobs waiting now (not yet running). */
int hash_pool_waiting(struct hash_pool *hp);

/* glibc: allocations from 1 MiB up are mmapped and unmapped on free (the Argon2 buffers), and
 * the threshold no longer grows after such a free. Call before any thread starts. */
void auth_hash_malloc_tune(void);

#endif
