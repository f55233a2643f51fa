/*
 * dev-token.c - prints a signed ES256 access token for local development and manual tests.
 *
 * usage: dev-token KEYFILE ROLE USERID [TTL_SECONDS [EMAIL]]
 *   KEYFILE  PEM private key (P-256), e.g. .run/jwt-private.pem
 *   ROLE     USER, ADMIN or a comma-separated list ("USER,ADMIN")
 *   USERID   the "sub" claim
 * The token carries the key's kid and the iss / aud of JWT_ISSUER / JWT_AUDIENCE when set in
 * the environment (else the services' defaults, "commerce-auth" / "commerce").
 * The token goes to stdout (one line); errors to stderr with exit status 1 (2 for usage).
 * scripts/dev-token finds the key and calls this.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/jwt.h"

#define DEV_TOKEN_DEFAULT_TTL_S 900
#define DEV_TOKEN_MAX_ROLES 8

/* Prints the usage to @fp; returns @status (0 for --help, 2 for a usage error). */
static int dev_token_usage(FILE *fp, int status)
{
    fprintf(fp,
            "usage: dev-token KEYFILE ROLE USERID [TTL_SECONDS [EMAIL]]\n"
            "  prints an ES256 access token signed with the PEM private key KEYFILE\n"
            "  (ROLE: USER, ADMIN or USER,ADMIN; TTL_SECONDS default %d)\n",
            DEV_TOKEN_DEFAULT_TTL_S);
    return status;
}

int main(int argc, char **argv)
{
    char errbuf[256] = "";
    char roles[128];
    const char *names[DEV_TOKEN_MAX_ROLES];
    size_t nnames = 0;
    struct jwt_principal p;
    char *token = NULL;
    long ttl = DEV_TOKEN_DEFAULT_TTL_S;

    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0))
        return dev_token_usage(stdout, 0);
    if (argc < 4 || argc > 6)
        return dev_token_usage(stderr, 2);
    if (argc > 4) {
        char *end;
        ttl = strtol(argv[4], &end, 10);
        if (*end != '\0' || ttl <= 0)
            return dev_token_usage(stderr, 2);
    }

    memset(&p, 0, sizeof(p));
    if (strlen(argv[3]) >= sizeof(p.sub)) {
        fprintf(stderr, "dev-token: user id too long\n");
        return 2;
    }
    snprintf(p.sub, sizeof(p.sub), "%s", argv[3]);
    if (argc > 5)
        snprintf(p.email, sizeof(p.email), "%s", argv[5]);
    else
        snprintf(p.email, sizeof(p.email), "%s@dev.local", argv[3]);

    snprintf(roles, sizeof(roles), "%s", argv[2]);
    char *save = NULL;
    for (char *r = strtok_r(roles, ",", &save); r != NULL && nnames < DEV_TOKEN_MAX_ROLES;
         r = strtok_r(NULL, ",", &save))
        names[nnames++] = r;
    p.roles = jwt_roles_parse(names, nnames);
    if (p.roles == 0) {
        fprintf(stderr, "dev-token: unknown role '%s' (USER or ADMIN)\n", argv[2]);
        return 2;
    }

    struct jwt_key *key = jwt_key_from_file(argv[1], errbuf, sizeof(errbuf));
    if (key == NULL) {
        fprintf(stderr, "dev-token: cannot load key '%s': %s\n", argv[1], errbuf);
        return 1;
    }
    const char *iss = getenv("JWT_ISSUER"), *aud = getenv("JWT_AUDIENCE");
    if (jwt_key_set_issuer(key, iss && *iss ? iss : JWT_DEFAULT_ISSUER,
                           aud && *aud ? aud : JWT_DEFAULT_AUDIENCE) < 0) {
        fprintf(stderr, "dev-token: JWT_ISSUER / JWT_AUDIENCE too long\n");
        jwt_key_free(key);
        return 2;
    }
    int rc = jwt_sign(key, &p, (int64_t)time(NULL), ttl, &token);
    jwt_key_free(key);
    if (rc != 0) {
        fprintf(stderr, "dev-token: signing failed: %s\n", strerror(-rc));
        return 1;
    }
    printf("%s\n", token);
    free(token);
    return 0;
}
