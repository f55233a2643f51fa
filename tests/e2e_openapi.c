/*
 * e2e_openapi.c - the OpenAPI documents (docs/openapi/<service>.yaml) against the code.
 * No servers: reads the files from the repository root (the harness's working directory).
 *
 * For each of the six services:
 *   - scans the `routes[]` table of <service>/src/main.c ({"METHOD", "/path/{param}",
 *     HTTP_AUTH_X, handler},) and checks both directions: every route is a documented path
 *     (same {param} names) with that method, and every documented operation is a route or one
 *     of the built-in GET /health/live, /health/ready, /metrics, /openapi.yaml (which must be
 *     documented);
 *   - security: USER / ADMIN routes declare bearerAuth (ADMIN ones say "ADMIN" in their
 *     description and document 403, both document 401); public routes declare no bearer
 *     security; auth-service's internal routes declare the X-Service-Token apiKey scheme;
 *   - path parameters: each {name} of a path is declared `in: path`, required, and no other;
 *   - structure: openapi 3.0.x, info.title / info.version, servers[0].url on the service's
 *     default port (HTTP_PORT default in src/config.c or src/main.c), non-empty paths, every
 *     operation has a 2xx response, 4xx/5xx answers of the API routes are
 *     application/problem+json, components.schemas.Problem has the RFC 9457 members, the
 *     bearerAuth scheme is HTTP bearer JWT, and every $ref resolves inside the same file.
 *
 * The YAML is converted to JSON by python3 with PyYAML (python3-yaml) through popen and read
 * with cJSON; without python3 or PyYAML the test fails saying so.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#define MAX_ROUTES 64
#define FIELD_MAX 160

enum auth_level { AUTH_NONE, AUTH_USER, AUTH_ADMIN };

struct route {
    char method[16];
    char path[FIELD_MAX];
    enum auth_level auth;
};

struct service {
    const char *name;            /* "order" */
    const char *dir;             /* "order-service" */
    const char *const *internal; /* "METHOD path" guarded by X-Service-Token, NULL-terminated */
};

static const char *const auth_internal[] = {"POST /api/auth", "PATCH /api/auth/{userId}/status",
                                            "DELETE /api/auth/{userId}", NULL};
static const char *const no_internal[] = {NULL};

static const struct service services[] = {
    {"auth", "auth-service", auth_internal},     {"user", "user-service", no_internal},
    {"catalog", "catalog-service", no_internal}, {"inventory", "inventory-service", no_internal},
    {"order", "order-service", no_internal},     {"payment", "payment-service", no_internal},
};

static const char *const builtin_paths[] = {"/health/live", "/health/ready", "/metrics",
                                            "/openapi.yaml"};
static const char *const http_methods[] = {"get",     "put",  "post",  "delete",
                                           "options", "head", "patch", "trace"};

/* Problems of one service, reported all at once. */
struct report {
    const char *svc;
    int n;
};

static void problem(struct report *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void problem(struct report *r, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    print_error("[%s] %s\n", r->svc, buf);
    r->n++;
}

/* The whole file, NUL-terminated (caller frees), or NULL. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0, cap = 0, n;

    if (!f)
        return NULL;
    do {
        if (cap - len < 4096) {
            char *nb = realloc(buf, cap + 65536);

            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
            cap += 65536;
        }
        n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
    } while (n > 0);
    fclose(f);
    buf[len] = '\0';
    return buf;
}

/* Copies the string literal starting at *@p (after optional blanks) into @out; advances *@p.
 * Returns false when there is none. */
static bool take_string(const char **p, char *out, size_t outlen)
{
    const char *s = *p, *e;

    while (*s == ' ' || *s == '\t')
        s++;
    if (*s != '"')
        return false;
    e = strchr(s + 1, '"');
    if (!e || (size_t)(e - s - 1) >= outlen)
        return false;
    memcpy(out, s + 1, (size_t)(e - s - 1));
    out[e - s - 1] = '\0';
    *p = e + 1;
    return true;
}

/*
 * Scans the `routes[] = {` table of @src: one route per line,
 * {"POST", "/api/orders", HTTP_AUTH_USER, http_order_create},
 * Returns the number of routes, or -1 with a problem reported.
 */
static int scan_routes(struct report *r, const char *file, const char *src, struct route *routes,
                       size_t max)
{
    const char *p = strstr(src, "routes[] = {");
    int n = 0;

    if (!p) {
        problem(r, "%s: no 'routes[] = {' table found", file);
        return -1;
    }
    p = strchr(p, '\n');
    while (p && *p) {
        const char *line = p + 1, *end = strchr(line, '\n'), *q = line;
        char auth[32];
        size_t k = 0;

        while (*q == ' ' || *q == '\t')
            q++;
        if (strncmp(q, "};", 2) == 0)
            break;
        if (*q == '{') {
            struct route *rt;

            if ((size_t)n >= max) {
                problem(r, "%s: more than %zu routes", file, max);
                return -1;
            }
            rt = &routes[n];
            q++;
            if (!take_string(&q, rt->method, sizeof(rt->method)) || *q != ',' ||
                (q++, !take_string(&q, rt->path, sizeof(rt->path))) || *q != ',') {
                problem(r, "%s: cannot read the route line '%.*s'", file,
                        (int)(end ? end - line : (long)strlen(line)), line);
                return -1;
            }
            q++;
            while (*q == ' ')
                q++;
            while (k + 1 < sizeof(auth) && (*q == '_' || (*q >= 'A' && *q <= 'Z')))
                auth[k++] = *q++;
            auth[k] = '\0';
            if (strcmp(auth, "HTTP_AUTH_NONE") == 0)
                rt->auth = AUTH_NONE;
            else if (strcmp(auth, "HTTP_AUTH_USER") == 0)
                rt->auth = AUTH_USER;
            else if (strcmp(auth, "HTTP_AUTH_ADMIN") == 0)
                rt->auth = AUTH_ADMIN;
            else {
                problem(r, "%s: route %s %s has an unknown auth level '%s'", file, rt->method,
                        rt->path, auth);
                return -1;
            }
            n++;
        }
        p = end;
    }
    if (n == 0)
        problem(r, "%s: the routes table is empty", file);
    return n;
}

/* The default HTTP_PORT of the service (`.http_port = "8085"`), or 0. */
static int default_port(const struct service *svc)
{
    static const char *const files[] = {"src/config.c", "src/main.c"};

    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char path[256], *src, *p;
        int port = 0;

        snprintf(path, sizeof(path), "%s/%s", svc->dir, files[i]);
        src = slurp(path);
        if (!src)
            continue;
        p = strstr(src, ".http_port = \"");
        if (p)
            port = atoi(p + strlen(".http_port = \""));
        free(src);
        if (port > 0)
            return port;
    }
    return 0;
}

/* docs/openapi/<name>.yaml as JSON (python3 + PyYAML), or NULL with a problem reported. */
static cJSON *load_yaml(struct report *r, const char *path)
{
    static const char script[] =
        "import sys, json\n"
        "try:\n"
        "    import yaml\n"
        "except ImportError:\n"
        "    sys.stderr.write(\"e2e_openapi: python3 cannot import yaml: install PyYAML \"\n"
        "                     \"(Debian: python3-yaml)\\n\")\n"
        "    sys.exit(3)\n"
        "with open(sys.argv[1]) as f:\n"
        "    doc = yaml.safe_load(f)\n"
        "json.dump(doc, sys.stdout)\n";
    char cmd[2048], *out = NULL;
    size_t len = 0, cap = 0, n;
    cJSON *json;
    FILE *f;
    int st;

    if (access(path, R_OK) != 0) {
        problem(r, "%s: %s (run from the repository root)", path, strerror(errno));
        return NULL;
    }
    snprintf(cmd, sizeof(cmd), "python3 -c '%s' '%s'", script, path);
    f = popen(cmd, "r");
    if (!f) {
        problem(r, "cannot run python3: %s", strerror(errno));
        return NULL;
    }
    do {
        if (cap - len < 4096) {
            char *nb = realloc(out, cap + 65536);

            if (!nb)
                break;
            out = nb;
            cap += 65536;
        }
        n = fread(out + len, 1, cap - len - 1, f);
        len += n;
    } while (n > 0);
    st = pclose(f);
    if (out)
        out[len] = '\0';
    if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        int code = st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;

        if (code == 3)
            problem(r, "python3 has no yaml module (PyYAML / python3-yaml): cannot read %s", path);
        else if (code == 127)
            problem(r, "python3 not found: it is needed (with PyYAML) to read %s", path);
        else
            problem(r, "%s: python3 + yaml could not convert it (exit %d): not valid YAML?", path,
                    code);
        free(out);
        return NULL;
    }
    json = out ? cJSON_Parse(out) : NULL;
    free(out);
    if (!cJSON_IsObject(json)) {
        problem(r, "%s: not a YAML mapping", path);
        cJSON_Delete(json);
        return NULL;
    }
    return json;
}

/* Resolves the local JSON pointer @ref ("#/components/schemas/X") in @root, or NULL. */
static const cJSON *resolve_ref(const cJSON *root, const char *ref)
{
    const cJSON *node = root;
    const char *p;

    if (strncmp(ref, "#/", 2) != 0)
        return NULL;
    p = ref + 2;
    while (node && *p) {
        char tok[256];
        size_t k = 0;

        while (*p && *p != '/' && k + 1 < sizeof(tok)) {
            if (p[0] == '~' && p[1] == '1') {
                tok[k++] = '/';
                p += 2;
            } else if (p[0] == '~' && p[1] == '0') {
                tok[k++] = '~';
                p += 2;
            } else {
                tok[k++] = *p++;
            }
        }
        tok[k] = '\0';
        if (*p == '/')
            p++;
        if (cJSON_IsArray(node)) {
            char *endp;
            long i = strtol(tok, &endp, 10);

            node = (*endp || i < 0) ? NULL : cJSON_GetArrayItem(node, (int)i);
        } else {
            node = cJSON_GetObjectItemCaseSensitive(node, tok);
        }
    }
    return node;
}

/* Every "$ref" under @node resolves within @root. Returns the number of refs seen. */
static int check_refs(struct report *r, const char *file, const cJSON *root, const cJSON *node)
{
    const cJSON *child;
    int n = 0;

    if (cJSON_IsObject(node)) {
        const cJSON *ref = cJSON_GetObjectItemCaseSensitive(node, "$ref");

        if (ref) {
            n++;
            if (!cJSON_IsString(ref))
                problem(r, "%s: a $ref is not a string", file);
            else if (!resolve_ref(root, ref->valuestring))
                problem(r, "%s: $ref '%s' does not resolve within the file", file,
                        ref->valuestring);
        }
    }
    cJSON_ArrayForEach (child, node)
        n += check_refs(r, file, root, child);
    return n;
}

/* The string member @key of @obj, or "". */
static const char *str_of(const cJSON *obj, const char *key)
{
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, key));

    return s ? s : "";
}

static bool is_http_method(const char *key)
{
    for (size_t i = 0; i < sizeof(http_methods) / sizeof(http_methods[0]); i++) {
        if (strcmp(key, http_methods[i]) == 0)
            return true;
    }
    return false;
}

static bool is_builtin(const char *path)
{
    for (size_t i = 0; i < sizeof(builtin_paths) / sizeof(builtin_paths[0]); i++) {
        if (strcmp(path, builtin_paths[i]) == 0)
            return true;
    }
    return false;
}

static bool is_internal(const struct service *svc, const char *method, const char *path)
{
    size_t mlen = strlen(method);

    /* entries are "METHOD /path" */
    for (size_t i = 0; svc->internal[i]; i++) {
        const char *k = svc->internal[i];

        if (strncmp(k, method, mlen) == 0 && k[mlen] == ' ' && strcmp(k + mlen + 1, path) == 0)
            return true;
    }
    return false;
}

static const struct route *find_route(const struct route *routes, int n, const char *method,
                                      const char *path)
{
    for (int i = 0; i < n; i++) {
        if (strcasecmp(routes[i].method, method) == 0 && strcmp(routes[i].path, path) == 0)
            return &routes[i];
    }
    return NULL;
}

/* Whether the operation's `security` lists a requirement naming @scheme. */
static bool has_security(const cJSON *op, const char *scheme)
{
    const cJSON *sec = cJSON_GetObjectItemCaseSensitive(op, "security"), *req;

    cJSON_ArrayForEach (req, sec) {
        if (cJSON_GetObjectItemCaseSensitive(req, scheme))
            return true;
    }
    return false;
}

static int security_count(const cJSON *op)
{
    const cJSON *sec = cJSON_GetObjectItemCaseSensitive(op, "security"), *req;
    int n = 0;

    cJSON_ArrayForEach (req, sec)
        n += cJSON_GetArraySize(req);
    return n;
}

/* Path parameters: each {name} of @path is declared in: path (required) by the operation or
 * the path item, and no undeclared one is. */
static void check_params(struct report *r, const char *method, const char *path, const cJSON *item,
                         const cJSON *op)
{
    const cJSON *lists[2] = {cJSON_GetObjectItemCaseSensitive(item, "parameters"),
                             cJSON_GetObjectItemCaseSensitive(op, "parameters")};
    const char *p = path;

    while ((p = strchr(p, '{')) != NULL) {
        const char *e = strchr(p, '}');
        char name[64];
        bool found = false;

        if (!e || (size_t)(e - p - 1) >= sizeof(name))
            break;
        memcpy(name, p + 1, (size_t)(e - p - 1));
        name[e - p - 1] = '\0';
        for (int l = 0; l < 2; l++) {
            const cJSON *prm;

            cJSON_ArrayForEach (prm, lists[l]) {
                const cJSON *in = cJSON_GetObjectItemCaseSensitive(prm, "in");
                const cJSON *nm = cJSON_GetObjectItemCaseSensitive(prm, "name");

                if (cJSON_IsString(in) && strcmp(in->valuestring, "path") == 0 &&
                    cJSON_IsString(nm) && strcmp(nm->valuestring, name) == 0) {
                    found = true;
                    if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(prm, "required")))
                        problem(r, "%s %s: path parameter '%s' is not required: true", method, path,
                                name);
                }
            }
        }
        if (!found)
            problem(r, "%s %s: path parameter '{%s}' is not declared", method, path, name);
        p = e + 1;
    }
    for (int l = 0; l < 2; l++) {
        const cJSON *prm;

        cJSON_ArrayForEach (prm, lists[l]) {
            const cJSON *in = cJSON_GetObjectItemCaseSensitive(prm, "in");
            const cJSON *nm = cJSON_GetObjectItemCaseSensitive(prm, "name");
            char tmpl[80];

            if (!cJSON_IsString(in) || strcmp(in->valuestring, "path") != 0 || !cJSON_IsString(nm))
                continue;
            snprintf(tmpl, sizeof(tmpl), "{%s}", nm->valuestring);
            if (!strstr(path, tmpl))
                problem(r, "%s %s: declares path parameter '%s' the path does not have", method,
                        path, nm->valuestring);
        }
    }
}

/* Responses: a 2xx, and problem+json for the API routes' 4xx/5xx. */
static void check_responses(struct report *r, const char *method, const char *path, const cJSON *op)
{
    const cJSON *responses = cJSON_GetObjectItemCaseSensitive(op, "responses"), *resp;
    bool ok = false;

    if (!cJSON_IsObject(responses) || !responses->child) {
        problem(r, "%s %s: no responses", method, path);
        return;
    }
    cJSON_ArrayForEach (resp, responses) {
        const char *code = resp->string;
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(resp, "content");

        if (code[0] == '2')
            ok = true;
        if (!cJSON_GetObjectItemCaseSensitive(resp, "$ref") &&
            !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(resp, "description")))
            problem(r, "%s %s: response %s has no description", method, path, code);
        if ((code[0] == '4' || code[0] == '5') && !is_builtin(path) &&
            !cJSON_GetObjectItemCaseSensitive(resp, "$ref") &&
            !cJSON_GetObjectItemCaseSensitive(content, "application/problem+json"))
            problem(r, "%s %s: response %s is not application/problem+json", method, path, code);
    }
    if (!ok)
        problem(r, "%s %s: no 2xx response", method, path);
}

/* Top-level structure: openapi, info, servers, paths, components. */
static void check_structure(struct report *r, const struct service *svc, const char *file,
                            const cJSON *doc)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, "openapi");
    const cJSON *info = cJSON_GetObjectItemCaseSensitive(doc, "info");
    const cJSON *title = cJSON_GetObjectItemCaseSensitive(info, "title");
    const cJSON *version = cJSON_GetObjectItemCaseSensitive(info, "version");
    const cJSON *paths = cJSON_GetObjectItemCaseSensitive(doc, "paths");
    const cJSON *server = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(doc, "servers"), 0);
    const cJSON *url = cJSON_GetObjectItemCaseSensitive(server, "url");
    const cJSON *comps = cJSON_GetObjectItemCaseSensitive(doc, "components");
    const cJSON *schemas = cJSON_GetObjectItemCaseSensitive(comps, "schemas");
    const cJSON *problem_props = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(schemas, "Problem"), "properties");
    const cJSON *bearer = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(comps, "securitySchemes"), "bearerAuth");
    static const char *const members[] = {"type", "title",    "status", "detail",
                                          "code", "instance", "errors"};
    int port = default_port(svc);
    char want[64];

    if (!cJSON_IsString(v) || strncmp(v->valuestring, "3.0.", 4) != 0)
        problem(r, "%s: 'openapi' is not 3.0.x", file);
    if (!cJSON_IsString(title) || !title->valuestring[0])
        problem(r, "%s: info.title missing", file);
    if (!cJSON_IsString(version) || !version->valuestring[0])
        problem(r, "%s: info.version missing", file);
    if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(info, "description")))
        problem(r, "%s: info.description missing", file);
    if (!cJSON_IsObject(paths) || !paths->child)
        problem(r, "%s: 'paths' missing or empty", file);
    snprintf(want, sizeof(want), ":%d", port);
    if (!cJSON_IsString(url))
        problem(r, "%s: servers[0].url missing", file);
    else if (port <= 0)
        problem(r, "%s: cannot find the default HTTP port of %s", file, svc->dir);
    else if (strlen(url->valuestring) < strlen(want) ||
             strcmp(url->valuestring + strlen(url->valuestring) - strlen(want), want) != 0)
        problem(r, "%s: servers[0].url '%s' is not on the default port %d", file, url->valuestring,
                port);
    for (size_t i = 0; i < sizeof(members) / sizeof(members[0]); i++) {
        if (!cJSON_GetObjectItemCaseSensitive(problem_props, members[i]))
            problem(r, "%s: components.schemas.Problem lacks '%s'", file, members[i]);
    }
    if (!bearer || strcmp(str_of(bearer, "type"), "http") != 0 ||
        strcasecmp(str_of(bearer, "scheme"), "bearer") != 0 ||
        strcmp(str_of(bearer, "bearerFormat"), "JWT") != 0)
        problem(r, "%s: securitySchemes.bearerAuth is not an HTTP bearer JWT scheme", file);
    if (svc->internal[0]) {
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(comps, "securitySchemes"), "serviceToken");

        if (strcmp(str_of(st, "type"), "apiKey") != 0 || strcmp(str_of(st, "in"), "header") != 0 ||
            strcasecmp(str_of(st, "name"), "X-Service-Token") != 0)
            problem(r,
                    "%s: securitySchemes.serviceToken is not an apiKey in header "
                    "X-Service-Token",
                    file);
    }
}

/* Route → document: path, method, security. */
static void check_route(struct report *r, const struct service *svc, const char *file,
                        const cJSON *paths, const struct route *rt)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(paths, rt->path), *op;
    char method[16];
    size_t i;

    for (i = 0; rt->method[i] && i + 1 < sizeof(method); i++)
        method[i] = (char)(rt->method[i] >= 'A' && rt->method[i] <= 'Z' ? rt->method[i] + 32
                                                                        : rt->method[i]);
    method[i] = '\0';
    if (!item) {
        problem(r, "%s: route %s %s is not documented (no such path)", file, rt->method, rt->path);
        return;
    }
    op = cJSON_GetObjectItemCaseSensitive(item, method);
    if (!cJSON_IsObject(op)) {
        problem(r, "%s: route %s %s is not documented (no '%s' under the path)", file, rt->method,
                rt->path, method);
        return;
    }
    if (rt->auth == AUTH_USER || rt->auth == AUTH_ADMIN) {
        const char *desc =
            cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(op, "description"));
        const cJSON *responses = cJSON_GetObjectItemCaseSensitive(op, "responses");

        if (!has_security(op, "bearerAuth"))
            problem(r, "%s: %s %s needs a token (%s) but declares no bearerAuth security", file,
                    rt->method, rt->path, rt->auth == AUTH_ADMIN ? "ADMIN" : "USER");
        if (!cJSON_GetObjectItemCaseSensitive(responses, "401"))
            problem(r, "%s: %s %s needs a token but documents no 401", file, rt->method, rt->path);
        if (rt->auth == AUTH_ADMIN) {
            if (!desc || !strstr(desc, "ADMIN"))
                problem(r, "%s: %s %s: the description does not say it needs role ADMIN", file,
                        rt->method, rt->path);
            if (!cJSON_GetObjectItemCaseSensitive(responses, "403"))
                problem(r, "%s: %s %s needs ADMIN but documents no 403", file, rt->method,
                        rt->path);
        }
    } else if (is_internal(svc, rt->method, rt->path)) {
        if (!has_security(op, "serviceToken") || has_security(op, "bearerAuth"))
            problem(r, "%s: internal route %s %s must declare the serviceToken scheme only", file,
                    rt->method, rt->path);
    } else if (security_count(op) > 0) {
        problem(r, "%s: public route %s %s declares security", file, rt->method, rt->path);
    }
    check_params(r, rt->method, rt->path, item, op);
    check_responses(r, rt->method, rt->path, op);
}

/* Document → routes: every documented operation exists. */
static void check_documented(struct report *r, const char *file, const cJSON *paths,
                             const struct route *routes, int n)
{
    const cJSON *item, *op;

    for (size_t i = 0; i < sizeof(builtin_paths) / sizeof(builtin_paths[0]); i++) {
        const cJSON *b = cJSON_GetObjectItemCaseSensitive(paths, builtin_paths[i]);

        if (!cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(b, "get")))
            problem(r, "%s: built-in GET %s is not documented", file, builtin_paths[i]);
    }
    cJSON_ArrayForEach (item, paths) {
        const char *path = item->string;

        if (!cJSON_IsObject(item)) {
            problem(r, "%s: path '%s' is not a mapping", file, path);
            continue;
        }
        cJSON_ArrayForEach (op, item) {
            if (!is_http_method(op->string))
                continue;
            if (is_builtin(path)) {
                if (strcmp(op->string, "get") != 0)
                    problem(r, "%s: %s %s is documented but the server answers only GET", file,
                            op->string, path);
                else if (security_count(op) > 0)
                    problem(r, "%s: built-in GET %s declares security", file, path);
                else
                    check_responses(r, "GET", path, op);
                continue;
            }
            if (!find_route(routes, n, op->string, path))
                problem(r, "%s: documents '%s %s', which is not in the routes table", file,
                        op->string, path);
        }
    }
}

static void check_service(const struct service *svc)
{
    struct report r = {.svc = svc->name, .n = 0};
    struct route routes[MAX_ROUTES];
    char main_c[256], file[256];
    cJSON *doc = NULL;
    char *src;
    int n = -1;

    snprintf(main_c, sizeof(main_c), "%s/src/main.c", svc->dir);
    snprintf(file, sizeof(file), "docs/openapi/%s.yaml", svc->name);
    src = slurp(main_c);
    if (!src)
        problem(&r, "%s: %s (run from the repository root)", main_c, strerror(errno));
    else
        n = scan_routes(&r, main_c, src, routes, MAX_ROUTES);
    free(src);
    doc = load_yaml(&r, file);
    if (doc && n > 0) {
        const cJSON *paths = cJSON_GetObjectItemCaseSensitive(doc, "paths");
        int nrefs;

        check_structure(&r, svc, file, doc);
        for (int i = 0; i < n; i++)
            check_route(&r, svc, file, paths, &routes[i]);
        check_documented(&r, file, paths, routes, n);
        nrefs = check_refs(&r, file, doc, doc);
        print_message("[%s] %d routes in %s, %d $refs in %s checked\n", svc->name, n, main_c, nrefs,
                      file);
    }
    cJSON_Delete(doc);
    if (r.n)
        fail_msg("%s: %d problem(s) in %s against %s (listed above)", svc->name, r.n, file, main_c);
}

#define SERVICE_TEST(fn, idx)                                                                      \
    static void fn(void **state)                                                                   \
    {                                                                                              \
        (void)state;                                                                               \
        check_service(&services[idx]);                                                             \
    }

SERVICE_TEST(test_openapi_auth, 0)
SERVICE_TEST(test_openapi_user, 1)
SERVICE_TEST(test_openapi_catalog, 2)
SERVICE_TEST(test_openapi_inventory, 3)
SERVICE_TEST(test_openapi_order, 4)
SERVICE_TEST(test_openapi_payment, 5)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_openapi_auth),    cmocka_unit_test(test_openapi_user),
        cmocka_unit_test(test_openapi_catalog), cmocka_unit_test(test_openapi_inventory),
        cmocka_unit_test(test_openapi_order),   cmocka_unit_test(test_openapi_payment),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
