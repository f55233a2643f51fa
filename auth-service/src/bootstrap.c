/* bootstrap.c - what auth-service prepares at start: the dummy hash and the ADMIN account
 * (neither runs Argon2 unless the account is missing). */
#include <errno.h>
#include <string.h>

#include <openssl/crypto.h>

#include "app.h"
#include "auth.h"
#include "common/log.h"
#include "crypto.h"
#include "hash_pool.h"
#include "store_auth.h"

/* The hash unknown emails are verified against (crypto_password_dummy: no Argon2 run). */
int auth_dummy_hash(struct auth_app *app)
{
    return crypto_password_dummy(app->dummy_hash);
}

/* Creates the ADMIN credential from ADMIN_EMAIL / ADMIN_PASSWORD when missing. An existing
 * one is left as it is and nothing is hashed: its stored hash is verified at login. */
int auth_bootstrap_admin(struct auth_app *app)
{
    const struct auth_config *cfg = app->cfg;
    char email[AUTH_MAX_EMAIL + 1], user_id[37], hash[CRYPTO_ENCODED_MAX];
    struct store_credential cred;
    struct db_conn *conn;
    char err[256];
    int rc;

    if (!cfg->admin_email && !cfg->admin_password)
        return 0;
    if (!cfg->admin_email || !cfg->admin_password) {
        log_warnx("ADMIN_EMAIL and ADMIN_PASSWORD go together: no admin account created");
        return 0;
    }
    if (auth_email_normalize(cfg->admin_email, email, sizeof(email)) < 0 ||
        !auth_email_valid(email)) {
        log_errorx("ADMIN_EMAIL '%s' is not a valid email address", cfg->admin_email);
        return -EINVAL;
    }
    if (!auth_password_valid(cfg->admin_password)) {
        log_errorx("ADMIN_PASSWORD must be %d to %d bytes long", AUTH_MIN_PASSWORD,
                   AUTH_MAX_PASSWORD);
        return -EINVAL;
    }
    crypto_admin_user_id(email, user_id);
    conn = db_acquire(app->pool, err, sizeof(err));
    if (!conn) {
        log_errorx("cannot bootstrap the admin account: %s", err);
        return -EIO;
    }
    rc = store_credential_by_email(conn, email, &cred);
    if (rc == 0)
        goto exists;
    if (rc != -ENOENT) {
        log_errorx("cannot read the admin account: %s", db_errmsg(conn));
        goto out;
    }
    rc = hash_pool_hash(app->hash, cfg->admin_password, strlen(cfg->admin_password), hash);
    if (rc < 0) {
        log_errorx("cannot hash the admin password: %d", rc);
        goto out;
    }
    rc =
        store_credential_create(conn, user_id, email, hash, AUTH_DEFAULT_PROVIDER, AUTH_ROLE_ADMIN);
    OPENSSL_cleanse(hash, sizeof(hash));
    if (rc == 0) {
        log_info("created admin account '%s' (user '%s')", email, user_id);
        goto out;
    }
    if (rc != -EEXIST || store_credential_by_email(conn, email, &cred) < 0) {
        log_errorx("cannot create the admin account: %s", db_errmsg(conn));
        goto out;
    }
exists: /* made before, or by another instance just now */
    if (cred.role != AUTH_ROLE_ADMIN)
        log_warnx("ADMIN_EMAIL '%s' belongs to a USER credential: not promoted", email);
    else
        log_info("admin account '%s' exists", email);
    rc = 0;
out:
    db_release(app->pool, conn);
    return rc;
}
