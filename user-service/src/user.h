/*
 * user.h - user-service domain rules, pure C (no I/O, no JSON, no database).
 *
 * A user signs up with an email, a password (kept by auth-service only; user-service checks its
 * length and forgets it), a display name and a Korean mobile number "010-XXXX-XXXX". A user is
 * ACTIVE, INACTIVE (closed the account themselves) or BLOCKED (by an administrator); only an
 * administrator may move a user out of BLOCKED or back to ACTIVE.
 */
#ifndef USER_H
#define USER_H

#include <stdbool.h>
#include <stddef.h>

#define USER_EMAIL_MAX 254 /* bytes, RFC 5321 path limit */
#define USER_EMAIL_LOCAL_MAX 64
#define USER_PASSWORD_MIN 8  /* bytes */
#define USER_PASSWORD_MAX 72 /* bytes: Argon2 takes more, but bcrypt-era clients expect 72 */
#define USER_NAME_MAX 50     /* characters (UTF-8 code points) */
#define USER_PHONE_LEN 13    /* "010-1234-5678" */

enum user_status {
    USER_ACTIVE = 0,
    USER_INACTIVE,
    USER_BLOCKED,
};

/* A validation problem on one field. */
struct user_error {
    char field[32];
    char message[128];
};

enum user_outcome {
    USER_OK = 0,
    USER_INVALID,   /* field errors */
    USER_NOOP,      /* the status change asks for the status the user already has */
    USER_FORBIDDEN, /* the actor may not make this status change */
};

/* A sign-up request; every field may be NULL (missing) when validating. */
struct user_signup {
    const char *email;
    const char *password;
    const char *name;
    const char *phone;
};

/* Each returns NULL when @s is acceptable, else a message for the client (a static string).
 * NULL @s is "is required". */
const char *user_check_email(const char *s);
const char *user_check_password(const char *s);
const char *user_check_name(const char *s);
const char *user_check_phone(const char *s);

/*
 * Checks a sign-up request. Writes up to @maxerr errors into @errs and their count into
 * *@nerr. Returns USER_OK or USER_INVALID. The password never appears in an error.
 */
enum user_outcome user_validate_signup(const struct user_signup *s, struct user_error *errs,
                                       size_t maxerr, size_t *nerr);

/*
 * Checks a profile update: @name and @phone may be NULL (unchanged), but not both NULL together
 * with @has_status false (nothing to change). Same error contract as user_validate_signup().
 */
enum user_outcome user_validate_update(const char *name, const char *phone, bool has_status,
                                       struct user_error *errs, size_t maxerr, size_t *nerr);

/* "ACTIVE", "INACTIVE", "BLOCKED" (static strings); NULL for an unknown value. */
const char *user_status_name(enum user_status status);

/* Parses a status name (exact, upper case). 0 or -EINVAL. */
int user_status_parse(const char *s, enum user_status *ret_status);

/*
 * May @from become @to? A user closing their own account (@by_admin false) may only go from
 * ACTIVE to INACTIVE; an administrator may set any status. Returns USER_OK, USER_NOOP when
 * @from == @to, or USER_FORBIDDEN.
 */
enum user_outcome user_status_change(enum user_status from, enum user_status to, bool by_admin);

/* May the caller @sub (with ADMIN role when @is_admin) read or change user @id? */
bool user_can_access(const char *sub, bool is_admin, const char *id);

#endif
