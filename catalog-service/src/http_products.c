/* http_products.c - /api/catalog/products: create (with SKUs and events), search, read,
 * SKU lookup by options, update, status, soft delete; plus the helpers shared by the catalog
 * handlers. INACTIVE products are seen only by admins (a valid ADMIN token on the public
 * routes); to everyone else they answer 404 and are left out of searches. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "cache.h"
#include "catalog.h"
#include "common/jsonx.h"
#include "common/log.h"
#include "store_catalog.h"

#define PAGE_SIZE_MAX 100
#define STATUS_ROUTE_NOTE "is set with PUT /api/catalog/products/{id}/status"
#define SKU_QUERY_MAX (2 * CATALOG_MAX_GROUPS) /* query arguments of a SKU lookup */

/* Whether the caller sent a valid ADMIN token (public routes verify a token when given). */
static int caller_is_admin(const struct http_req *req)
{
    return req->principal && (req->principal->roles & JWT_ROLE_ADMIN);
}

/* Adds @key: @value, or null when @value is NULL. */
static void add_str_or_null(cJSON *obj, const char *key, const char *value)
{
    if (value)
        cJSON_AddStringToObject(obj, key, value);
    else
        cJSON_AddNullToObject(obj, key);
}

/* Reads the optional thumbnailUrl (string or null) and checks it. */
static void parse_thumbnail(const cJSON *body, const char **ret, cJSON **errors)
{
    const char *url = NULL;

    if (jsonx_str(body, "thumbnailUrl", "thumbnailUrl", false, CATALOG_MAX_URL, &url, errors) < 0)
        return;
    if (catalog_check_url(url)) {
        jsonx_field_error(errors, "thumbnailUrl", catalog_check_url(url));
        return;
    }
    *ret = url;
}

/* Reads the required status field ("ACTIVE" or "INACTIVE"). */
static void parse_status(const cJSON *body, enum catalog_status *ret, cJSON **errors)
{
    const char *s = NULL;

    if (jsonx_str(body, "status", "status", true, 16, &s, errors) < 0)
        return;
    if (catalog_status_parse(s) < 0)
        jsonx_field_error(errors, "status", "must be ACTIVE or INACTIVE");
    else
        *ret = (enum catalog_status)catalog_status_parse(s);
}

void catalog_reply_store_error(struct http_resp *resp, int rc, const char *what)
{
    if (db_transient(rc)) {
        http_reply_problem(resp, 503, "CATALOG-503-001", NULL,
                           "database unavailable, try again later");
        log_warnx("failed to %s: database unavailable (%d)", what, rc);
    } else {
        http_reply_problem(resp, 500, "CATALOG-500-001", NULL, "internal error");
        log_errorx("failed to %s: %d", what, rc);
    }
}

struct db_conn *catalog_acquire(struct catalog_app *app, struct http_resp *resp)
{
    char err[256];
    struct db_conn *conn = db_acquire(app->pool, err, sizeof(err));

    if (!conn) {
        http_reply_problem(resp, 503, "CATALOG-503-001", NULL,
                           "database unavailable, try again later");
        log_warnx("no database connection: %s", err);
    }
    return conn;
}

/* Reads one option group of the request into @grp; field errors go to @errors. */
static void parse_group(const cJSON *jg, size_t g, struct catalog_group *grp, cJSON **errors)
{
    char field[96];
    const cJSON *options = NULL, *jo;
    const char *name = NULL;
    long long ordering = (long long)g;
    size_t o = 0;

    snprintf(field, sizeof(field), "optionGroups[%zu]", g);
    if (!cJSON_IsObject(jg)) {
        jsonx_field_error(errors, field, "must be an object");
        return;
    }
    snprintf(field, sizeof(field), "optionGroups[%zu].name", g);
    jsonx_str(jg, "name", field, true, CATALOG_MAX_NAME, &name, errors);
    snprintf(field, sizeof(field), "optionGroups[%zu].ordering", g);
    jsonx_int(jg, "ordering", field, false, 0, CATALOG_MAX_ORDERING, &ordering, errors);
    snprintf(field, sizeof(field), "optionGroups[%zu].options", g);
    jsonx_array(jg, "options", field, true, CATALOG_MAX_OPTIONS, &options, errors);
    grp->name = name;
    grp->ordering = (int)ordering;
    cJSON_ArrayForEach (jo, options) {
        long long add = 0;
        const char *oname = NULL;

        if (!cJSON_IsObject(jo)) {
            snprintf(field, sizeof(field), "optionGroups[%zu].options[%zu]", g, o);
            jsonx_field_error(errors, field, "must be an object");
            o++;
            continue;
        }
        snprintf(field, sizeof(field), "optionGroups[%zu].options[%zu].name", g, o);
        jsonx_str(jo, "name", field, true, CATALOG_MAX_NAME, &oname, errors);
        snprintf(field, sizeof(field), "optionGroups[%zu].options[%zu].additionalPrice", g, o);
        jsonx_int(jo, "additionalPrice", field, false, -CATALOG_MAX_PRICE, CATALOG_MAX_PRICE, &add,
                  errors);
        grp->options[o].name = oname;
        grp->options[o].additional_price = add;
        o++;
    }
    grp->noptions = o;
}

/* Reads the product fields shared by create and update. */
static void parse_product(const cJSON *body, struct catalog_product *p, cJSON **errors)
{
    const cJSON *groups = NULL, *jg;
    size_t g = 0;

    jsonx_str(body, "name", "name", true, CATALOG_MAX_NAME, &p->name, errors);
    jsonx_str(body, "description", "description", false, CATALOG_MAX_DESCRIPTION, &p->description,
              errors);
    jsonx_str(body, "brand", "brand", false, CATALOG_MAX_BRAND, &p->brand, errors);
    parse_thumbnail(body, &p->thumbnail_url, errors);
    if (cJSON_GetObjectItem(body, "status"))
        jsonx_field_error(errors, "status", STATUS_ROUTE_NOTE);
    jsonx_int(body, "price", "price", true, 1, CATALOG_MAX_PRICE, &p->price, errors);
    jsonx_int(body, "categoryId", "categoryId", true, 1, INT64_MAX, &p->category_id, errors);
    jsonx_int(body, "initialQuantity", "initialQuantity", false, 0, CATALOG_MAX_QUANTITY,
              &p->initial_quantity, errors);
    jsonx_array(body, "optionGroups", "optionGroups", false, CATALOG_MAX_GROUPS, &groups, errors);
    cJSON_ArrayForEach (jg, groups) {
        parse_group(jg, g, &p->groups[g], errors);
        g++;
    }
    p->ngroups = g;
}

/* SKU row @i as JSON. */
static cJSON *sku_json(const struct db_result *skus, size_t i)
{
    cJSON *s = cJSON_CreateObject();

    if (!s)
        return NULL;
    cJSON_AddNumberToObject(s, "id", (double)db_result_int(skus, i, SKU_ID));
    cJSON_AddStringToObject(s, "code", db_result_get(skus, i, SKU_CODE));
    cJSON_AddNumberToObject(s, "price", (double)db_result_int(skus, i, SKU_PRICE));
    cJSON_AddItemToObject(s, "optionValues", cJSON_Parse(db_result_get(skus, i, SKU_OPTIONS)));
    return s;
}

/* The product with its option groups and SKUs, read back from the store; an INACTIVE one only
 * @with_inactive. */
static int product_json(struct db_conn *conn, long long id, int with_skus, int with_inactive,
                        cJSON **ret)
{
    struct db_result *prod = NULL, *opts = NULL, *skus = NULL;
    cJSON *j = NULL, *groups, *group = NULL;
    long long last_group = -1;
    int rc;

    rc = store_product_get(conn, id, with_inactive, &prod);
    if (rc < 0)
        goto out;
    rc = store_product_options(conn, id, &opts);
    if (rc < 0)
        goto out;
    if (with_skus && (rc = store_product_skus(conn, id, &skus)) < 0)
        goto out;
    rc = -ENOMEM;
    j = cJSON_CreateObject();
    if (!j)
        goto out;
    cJSON_AddNumberToObject(j, "id", (double)db_result_int(prod, 0, PROD_ID));
    cJSON_AddStringToObject(j, "code", db_result_get(prod, 0, PROD_CODE));
    cJSON_AddStringToObject(j, "name", db_result_get(prod, 0, PROD_NAME));
    add_str_or_null(j, "description", db_result_get(prod, 0, PROD_DESCRIPTION));
    add_str_or_null(j, "brand", db_result_get(prod, 0, PROD_BRAND));
    add_str_or_null(j, "thumbnailUrl", db_result_get(prod, 0, PROD_THUMBNAIL));
    cJSON_AddNumberToObject(j, "price", (double)db_result_int(prod, 0, PROD_PRICE));
    cJSON_AddNumberToObject(j, "categoryId", (double)db_result_int(prod, 0, PROD_CATEGORY));
    cJSON_AddStringToObject(j, "status", db_result_get(prod, 0, PROD_STATUS));
    cJSON_AddStringToObject(j, "createdAt", db_result_get(prod, 0, PROD_CREATED));
    cJSON_AddStringToObject(j, "updatedAt", db_result_get(prod, 0, PROD_UPDATED));
    groups = cJSON_AddArrayToObject(j, "optionGroups");
    for (size_t i = 0; i < db_result_rows(opts); i++) {
        cJSON *opt;
        if (db_result_int(opts, i, OPT_GROUP_ID) != last_group) {
            last_group = db_result_int(opts, i, OPT_GROUP_ID);
            group = cJSON_CreateObject();
            cJSON_AddItemToArray(groups, group);
            cJSON_AddNumberToObject(group, "id", (double)last_group);
            cJSON_AddStringToObject(group, "name", db_result_get(opts, i, OPT_GROUP_NAME));
            cJSON_AddNumberToObject(group, "ordering",
                                    (double)db_result_int(opts, i, OPT_GROUP_ORDERING));
            cJSON_AddArrayToObject(group, "options");
        }
        opt = cJSON_CreateObject();
        cJSON_AddItemToArray(cJSON_GetObjectItem(group, "options"), opt);
        cJSON_AddNumberToObject(opt, "id", (double)db_result_int(opts, i, OPT_ID));
        cJSON_AddStringToObject(opt, "name", db_result_get(opts, i, OPT_NAME));
        cJSON_AddNumberToObject(opt, "additionalPrice", (double)db_result_int(opts, i, OPT_PRICE));
    }
    if (with_skus) {
        cJSON *arr = cJSON_AddArrayToObject(j, "skus");
        for (size_t i = 0; i < db_result_rows(skus); i++)
            cJSON_AddItemToArray(arr, sku_json(skus, i));
    }
    *ret = j;
    j = NULL;
    rc = 0;
out:
    cJSON_Delete(j);
    db_result_free(skus);
    db_result_free(opts);
    db_result_free(prod);
    return rc;
}

static int product_id_param(struct http_req *req, struct http_resp *resp, long long *id)
{
    if (jsonx_parse_id(http_param(req, "id"), id) < 0) {
        http_reply_problem(resp, 404, "CATALOG-404-002", NULL, "product not found");
        return -1;
    }
    return 0;
}

void http_product_create(struct http_req *req, struct http_resp *resp, void *arg)
{
    struct catalog_app *app = arg;
    cJSON *body = http_json_body(req, resp), *errors = NULL, *json = NULL;
    struct catalog_product p = {0};
    struct catalog_error errs[16];
    struct db_conn *conn = NULL;
    enum catalog_outcome outcome;
    size_t nerr = 0;
    long long id = 0;
    int rc;

    if (!body)
        return;
    parse_product(body, &p, &errors);
    if (!errors) {
        outcome = catalog_validate_product(&p, errs, 16, &nerr);
        if (outcome == CATALOG_TOO_MANY_SKUS) {
            http_reply_problem(resp, 422, "CATALOG-422-002", NULL,
                               "the option groups make %zu SKUs; at most %d are allowed",
                               catalog_sku_count(&p), CATALOG_MAX_SKUS);
            goto out;
        }
        for (size_t i = 0; i < nerr; i++)
            jsonx_field_error(&errors, errs[i].field, errs[i].message);
    }
    if (errors) {
        http_reply_problem(resp, 400, "CATALOG-400-001", errors, "invalid product");
        goto out;
    }
    conn = catalog_acquire(app, resp);
    if (!conn)
        goto out;
    /* a deadlock rolls the whole transaction back: try it again a few times */
    for (int attempt = 0; attempt < 3; attempt++) {
        rc = store_product_create(conn, &p, &req->ctx, &id);
        if (rc != -EDEADLK)
            break;
    }
    catalog_cache_written(app);
    if (rc == -ENOENT) {
        http_reply_problem(resp, 422, "CATALOG-422-001", NULL, "category %lld not found",
                           p.category_id);
        goto out;
    }
    if (rc < 0) {
        catalog_reply_store_error(resp, rc, "create product");
        goto out;
    }
    log_info("created product %lld '%s' with %zu skus", id, p.name, catalog_sku_count(&p));
    rc = product_json(conn, id, 1, 1, &json);
    if (rc < 0) {
        catalog_reply_store_error(resp, rc, "read product");
        goto out;
    }
    snprintf(resp->location, sizeof(resp->location), "/api/catalog/products/%lld", id);
    http_reply_json(resp, 201, json);
out:
    if (conn)
        db_release(app->pool, conn);
    cJSON_Delete(body);
}

void http_product_list(struct http_req *req, struct http_resp *resp, void *arg)
{
    struct catalog_app *app = arg;
    const char *cat = http_query(req, "categoryId"), *keyword = http_query(req, "keyword");
    long long category_id = 0, total = 0;
    long page, size;
    struct db_conn *conn;
    struct db_result *res = NULL;
    cJSON *out, *content;
    int rc;

    if (cat && *cat && jsonx_parse_id(cat, &category_id) < 0) {
        cJSON *errors = NULL;
        jsonx_field_error(&errors, "categoryId", "must be a positive integer id");
        http_reply_problem(resp, 400, "CATALOG-400-001", errors, "invalid query");
        return;
    }
    if (keyword && strlen(keyword) > CATALOG_MAX_NAME) {
        cJSON *errors = NULL;
        jsonx_field_error(&errors, "keyword", "is too long");
        http_reply_problem(resp, 400, "CATALOG-400-001", errors, "invalid query");
        return;
    }
    page = http_query_long(req, resp, "page", 0, 0, 1000000);
    if (page < 0)
        return;
    size = http_query_long(req, resp, "size", 20, 1, PAGE_SIZE_MAX);
    if (size < 0)
        return;
    conn = catalog_acquire(app, resp);
    if (!conn)
        return;
    rc = store_product_search(conn, category_id, keyword && *keyword ? keyword : NULL,
                              caller_is_admin(req), (long long)page * size, size, &res, &total);
    if (rc < 0) {
        catalog_reply_store_error(resp, rc, "search products");
        goto done;
    }
    out = cJSON_CreateObject();
    content = cJSON_AddArrayToObject(out, "content");
    for (size_t i = 0; i < db_result_rows(res); i++) {
        cJSON *p = cJSON_CreateObject();
        cJSON_AddItemToArray(content, p);
        cJSON_AddNumberToObject(p, "id", (double)db_result_int(res, i, PROD_ID));
        cJSON_AddStringToObject(p, "code", db_result_get(res, i, PROD_CODE));
        cJSON_AddStringToObject(p, "name", db_result_get(res, i, PROD_NAME));
        add_str_or_null(p, "brand", db_result_get(res, i, PROD_BRAND));
        cJSON_AddNumberToObject(p, "price", (double)db_result_int(res, i, PROD_PRICE));
        cJSON_AddNumberToObject(p, "categoryId", (double)db_result_int(res, i, PROD_CATEGORY));
        cJSON_AddStringToObject(p, "status", db_result_get(res, i, PROD_STATUS));
        add_str_or_null(p, "thumbnailUrl", db_result_get(res, i, PROD_THUMBNAIL));
    }
    cJSON_AddNumberToObject(out, "page", (double)page);
    cJSON_AddNumberToObject(out, "size", (double)size);
    cJSON_AddNumberToObject(out, "totalElements", (double)total);
    cJSON_AddNumberToObject(out, "totalPages", (double)((total + size - 1) / size));
    http_reply_json(resp, 200, out);
done:
    db_result_free(res);
    db_release(app->pool, conn);
}

static void reply_product(struct http_req *req, struct http_resp *resp, struct catalog_app *app,
                          int with_skus)
{
    struct db_conn *conn;
    cJSON *json = NULL;
    long long id;
    int rc;

    if (product_id_param(req, resp, &id) < 0)
        return;
    conn = catalog_acquire(app, resp);
    if (!conn)
        return;
    rc = product_json(conn, id, with_skus, caller_is_admin(req), &json);
    if (rc == -ENOENT)
        http_reply_problem(resp, 404, "CATALOG-404-002", NULL, "product %lld not found", id);
    else if (rc < 0)
        catalog_reply_store_error(resp, rc, "read product");
    else if (with_skus == 2) {
        /* only the SKUs */
        cJSON *skus = cJSON_DetachItemFromObject(json, "skus");
        cJSON_Delete(json);
        http_reply_json(resp, 200, skus);
    } else {
        http_reply_json(resp, 200, json);
    }
    db_release(app->pool, conn);
}

static void product_get_db(struct http_req *req, struct http_resp *resp, void *app)
{
    reply_product(req, resp, app, 1);
}

static void product_skus_db(struct http_req *req, struct http_resp *resp, void *app)
{
    reply_product(req, resp, app, 2); /* every SKU */
}

/* Reads product @req's "id" through the read cache under "<kind>:<id>:<admin>" (an admin also
 * sees INACTIVE products: another answer); a malformed id goes to the database path (404). */
static void product_read_cached(struct http_req *req, struct http_resp *resp, void *app,
                                const char *kind, http_handler_fn read)
{
    char key[CATALOG_CACHE_KEY_MAX];
    long long id;

    if (jsonx_parse_id(http_param(req, "id"), &id) < 0) {
        read(req, resp, app);
        return;
    }
    snprintf(key, sizeof(key), "%s:%lld:%d", kind, id, caller_is_admin(req) ? 1 : 0);
    catalog_read_cached(req, resp, app, key, read);
}

void http_product_get(struct http_req *req, struct http_resp *resp, void *app)
{
    product_read_cached(req, resp, app, "p", product_get_db);
}

struct sku_query {
    struct catalog_pick picks[SKU_QUERY_MAX];
    size_t n;
};

static int sku_query_add(void *arg, const char *key, const char *value)
{
    struct sku_query *q = arg;

    if (!jsonx_utf8_valid(key, strlen(key)) || (value && !jsonx_utf8_valid(value, strlen(value))))
        return -EILSEQ;
    if (q->n == SKU_QUERY_MAX)
        return -E2BIG;
    q->picks[q->n++] = (struct catalog_pick){key, value};
    return 0;
}

/* The product's option groups from its option rows (names borrowed from @opts). */
static void product_from_options(const struct db_result *opts, long long price,
                                 struct catalog_product *p)
{
    long long last_group = -1;

    p->price = price;
    for (size_t i = 0; i < db_result_rows(opts); i++) {
        struct catalog_group *grp;
        if (db_result_int(opts, i, OPT_GROUP_ID) != last_group) {
            if (p->ngroups == CATALOG_MAX_GROUPS)
                break;
            last_group = db_result_int(opts, i, OPT_GROUP_ID);
            p->groups[p->ngroups].name = db_result_get(opts, i, OPT_GROUP_NAME);
            p->ngroups++;
        }
        grp = &p->groups[p->ngroups - 1];
        if (grp->noptions < CATALOG_MAX_OPTIONS) {
            grp->options[grp->noptions].name = db_result_get(opts, i, OPT_NAME);
            grp->options[grp->noptions].additional_price = db_result_int(opts, i, OPT_PRICE);
            grp->noptions++;
        }
    }
}

/* GET /products/{id}/skus?<group>=<option>…: the one SKU of that combination. */
static void reply_sku_lookup(struct http_req *req, struct http_resp *resp, struct catalog_app *app,
                             long long id, const struct sku_query *q)
{
    struct db_result *prod = NULL, *opts = NULL, *skus = NULL;
    struct catalog_product p = {0};
    struct catalog_error errs[8];
    struct catalog_sku sku;
    enum catalog_outcome outcome;
    struct db_conn *conn;
    cJSON *errors = NULL;
    char code[64];
    size_t nerr = 0, i;
    int rc;

    conn = catalog_acquire(app, resp);
    if (!conn)
        return;
    rc = store_product_get(conn, id, caller_is_admin(req), &prod);
    if (rc == 0)
        rc = store_product_options(conn, id, &opts);
    if (rc == 0)
        rc = store_product_skus(conn, id, &skus);
    if (rc == -ENOENT) {
        http_reply_problem(resp, 404, "CATALOG-404-002", NULL, "product %lld not found", id);
        goto out;
    }
    if (rc < 0) {
        catalog_reply_store_error(resp, rc, "read product");
        goto out;
    }
    product_from_options(opts, db_result_int(prod, 0, PROD_PRICE), &p);
    outcome = catalog_match_sku(&p, q->picks, q->n, &sku, errs, 8, &nerr);
    if (outcome == CATALOG_INVALID) {
        for (i = 0; i < nerr; i++)
            jsonx_field_error(&errors, errs[i].field, errs[i].message);
        http_reply_problem(resp, 400, "CATALOG-400-002", errors,
                           "name one option of every option group of product %lld", id);
        goto out;
    }
    if (outcome == CATALOG_OK) {
        catalog_sku_code(db_result_get(prod, 0, PROD_CODE), &p, &sku, code, sizeof(code));
        for (i = 0; i < db_result_rows(skus); i++) {
            if (strcmp(db_result_get(skus, i, SKU_CODE), code) == 0) {
                http_reply_json(resp, 200, sku_json(skus, i));
                goto out;
            }
        }
    }
    http_reply_problem(resp, 404, "CATALOG-404-003", NULL,
                       "product %lld has no SKU with that option combination", id);
out:
    db_result_free(skus);
    db_result_free(opts);
    db_result_free(prod);
    db_release(app->pool, conn);
}

void http_product_skus(struct http_req *req, struct http_resp *resp, void *app)
{
    struct sku_query q = {.n = 0};
    cJSON *errors = NULL;
    long long id;
    int rc;

    if (product_id_param(req, resp, &id) < 0)
        return;
    rc = http_query_each(req, sku_query_add, &q);
    if (rc < 0) {
        jsonx_field_error(&errors, "query",
                          rc == -E2BIG ? "too many query parameters"
                                       : "must be valid UTF-8 without NUL characters");
        http_reply_problem(resp, 400, "CATALOG-400-002", errors, "invalid SKU query");
        return;
    }
    if (q.n == 0)
        product_read_cached(req, resp, app, "s", product_skus_db); /* no query: every SKU */
    else {
        reply_sku_lookup(req, resp, app, id, &q); /* not cached: ETag only */
        catalog_reply_etag(req, resp);
    }
}

void http_product_update(struct http_req *req, struct http_resp *resp, void *arg)
{
    struct catalog_app *app = arg;
    cJSON *body, *errors = NULL, *json = NULL;
    const char *name = NULL, *description = NULL, *brand = NULL, *thumbnail = NULL;
    long long id, category_id = 0, price = 0;
    struct catalog_error errs[4];
    struct db_conn *conn = NULL;
    struct db_result *cur = NULL;
    size_t nerr = 0;
    int rc;

    if (product_id_param(req, resp, &id) < 0)
        return;
    body = http_json_body(req, resp);
    if (!body)
        return;
    jsonx_str(body, "name", "name", true, CATALOG_MAX_NAME, &name, &errors);
    jsonx_str(body, "description", "description", false, CATALOG_MAX_DESCRIPTION, &description,
              &errors);
    jsonx_str(body, "brand", "brand", false, CATALOG_MAX_BRAND, &brand, &errors);
    jsonx_int(body, "categoryId", "categoryId", true, 1, INT64_MAX, &category_id, &errors);
    jsonx_int(body, "price", "price", false, 1, CATALOG_MAX_PRICE, &price, &errors);
    parse_thumbnail(body, &thumbnail, &errors);
    if (cJSON_GetObjectItem(body, "optionGroups"))
        jsonx_field_error(&errors, "optionGroups", "option groups cannot be changed");
    if (cJSON_GetObjectItem(body, "status"))
        jsonx_field_error(&errors, "status",
                          "is changed with PUT /api/catalog/products/{id}/status");
    if (!errors && catalog_validate_category(name, 0, errs, 4, &nerr) != CATALOG_OK) {
        for (size_t i = 0; i < nerr; i++)
            jsonx_field_error(&errors, errs[i].field, errs[i].message);
    }
    if (errors) {
        http_reply_problem(resp, 400, "CATALOG-400-001", errors, "invalid product");
        goto out;
    }
    conn = catalog_acquire(app, resp);
    if (!conn)
        goto out;
    rc = store_product_get(conn, id, 1, &cur);
    if (rc == 0 && price && price != db_result_int(cur, 0, PROD_PRICE)) {
        /* SKU prices were published to other services; a price change needs its own event */
        http_reply_problem(resp, 422, "CATALOG-422-005", NULL,
                           "the price of an existing product cannot be changed");
        goto out;
    }
    if (rc == 0)
        rc = store_product_update(conn, id, name, description, brand, thumbnail, category_id);
    catalog_cache_written(app);
    if (rc == -ENOENT)
        http_reply_problem(resp, 404, "CATALOG-404-002", NULL, "product %lld not found", id);
    else if (rc == -ENXIO)
        http_reply_problem(resp, 422, "CATALOG-422-001", NULL, "category %lld not found",
                           category_id);
    else if (rc < 0)
        catalog_reply_store_error(resp, rc, "update product");
    else if ((rc = product_json(conn, id, 1, 1, &json)) < 0)
        catalog_reply_store_error(resp, rc, "read product");
    else
        http_reply_json(resp, 200, json);
out:
    db_result_free(cur);
    if (conn)
        db_release(app->pool, conn);
    cJSON_Delete(body);
}

void http_product_set_status(struct http_req *req, struct http_resp *resp, void *arg)
{
    struct catalog_app *app = arg;
    enum catalog_status status = CATALOG_ACTIVE;
    struct db_conn *conn = NULL;
    cJSON *body, *errors = NULL, *json = NULL;
    long long id;
    int rc;

    if (product_id_param(req, resp, &id) < 0)
        return;
    body = http_json_body(req, resp);
    if (!body)
        return;
    parse_status(body, &status, &errors);
    if (errors) {
        http_reply_problem(resp, 400, "CATALOG-400-001", errors, "invalid status");
        goto out;
    }
    conn = catalog_acquire(app, resp);
    if (!conn)
        goto out;
    rc = store_product_set_status(conn, id, status);
    catalog_cache_written(app);
    if (rc == -ENOENT)
        http_reply_problem(resp, 404, "CATALOG-404-002", NULL, "product %lld not found", id);
    else if (rc < 0)
        catalog_reply_store_error(resp, rc, "set product status");
    else if ((rc = product_json(conn, id, 1, 1, &json)) < 0)
        catalog_reply_store_error(resp, rc, "read product");
    else {
        http_reply_json(resp, 200, json);
        log_info("product %lld is now %s", id, catalog_status_name(status));
    }
out:
    if (conn)
        db_release(app->pool, conn);
    cJSON_Delete(body);
}

void http_product_delete(struct http_req *req, struct http_resp *resp, void *arg)
{
    struct catalog_app *app = arg;
    struct db_conn *conn;
    long long id;
    int rc;

    if (product_id_param(req, resp, &id) < 0)
        return;
    conn = catalog_acquire(app, resp);
    if (!conn)
        return;
    rc = store_product_delete(conn, id);
    catalog_cache_written(app);
    if (rc == -ENOENT)
        http_reply_problem(resp, 404, "CATALOG-404-002", NULL, "product %lld not found", id);
    else if (rc < 0)
        catalog_reply_store_error(resp, rc, "delete product");
    else {
        http_reply_json(resp, 204, NULL);
        log_info("deleted product %lld", id);
    }
    db_release(app->pool, conn);
}
