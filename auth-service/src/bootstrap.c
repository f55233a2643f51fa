/* bootstrap.c - what auth-service prepares at start: the dummy hash and the ADMIN account. */
#include <errno.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "app.h"
#include "auth.h"
#include "common/log.h"
#include "crypto.h"
#include "store_auth.h"

/* A hash of a random password, verified against when a login names an unknown email. */
int auth_dummy_hash(struct auth_app *app)
{
    unsigned char raw[24];
    char password[40];
    int rc;

    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return -EIO;
    crypto_b64url(raw, sizeof(raw), password);
    rc = crypto_password_hash(password, strlen(password), app->dummy_hash);
    OPENSSL_cleanse(raw, sizeof(raw));
    OPENSSL_cleanse(password, sizeof(password));
    return rc;
}

/* Creates the ADMIN credential from ADMIN_EMAIL / ADMIN_PASSWORD when missing. */
int auth_bootstrap_admin(struct auth_app *app)
{
    const struct auth_config *cfg = app->cfg;
    char email[AUTH_MAX_EMAIL + 1], user_id[37], hash[CRYPTO_ENCODED_MAX];
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
    rc = crypto_password_hash(cfg->admin_password, strlen(cfg->admin_password), hash);
    if (rc < 0) {
        log_errorx("cannot hash the admin password: %d", rc);
        return rc;
    }
    conn = db_acquire(app->pool, err, sizeof(err));
    if (!conn) {
        log_errorx("cannot bootstrap the admin account: %s", err);
        return -EIO;
    }
    rc =
        store_credential_create(conn, user_id, email, hash, AUTH_DEFAULT_PROVIDER, AUTH_ROLE_ADMIN);
    if (rc == 0) {
        log_info("created admin account '%s' (user '%s')", email, user_id);
    } else if (rc == -EEXIST) {
        struct store_credential cred;
        if (store_credential_by_email(conn, email, &cred) == 0 && cred.role != AUTH_ROLE_ADMIN)
            log_warnx("ADMIN_EMAIL '%s' belongs to a USER credential: not promoted", email);
        else
            log_info("admin account '%s' exists", email);
        rc = 0;
    } else {
        log_errorx("cannot create the admin account: %s", db_errmsg(conn));
    }
    db_release(app->pool, conn);
    return rc;
}
