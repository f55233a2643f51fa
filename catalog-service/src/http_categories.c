/* http_categories.c - /api/catalog/categories: create, list children, get one, whole tree. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "catalog.h"
#include "common/jsonx.h"
#include "common/log.h"
#include "store_catalog.h"

static cJSON *category_json(const struct db_result *res, size_t row)
{
    cJSON *c = cJSON_CreateObject();
    const char *parent = db_result_get(res, row, CAT_PARENT);

    if (!c)
        return NULL;
    cJSON_AddNumberToObject(c, "id", (double)db_result_int(res, row, CAT_ID));
    cJSON_AddStringToObject(c, "name", db_result_get(res, row, CAT_NAME));
    if (parent)
        cJSON_AddNumberToObject(c, "parentId", (double)db_result_int(res, row, CAT_PARENT));
    else
        cJSON_AddNullToObject(c, "parentId");
    cJSON_AddNumberToObject(c, "depth", (double)db_result_int(res, row, CAT_DEPTH));
    cJSON_AddNumberToObject(c, "ordering", (double)db_result_int(res, row, CAT_ORDERING));
    return c;
}

void http_category_create(struct http_req *req, struct http_resp *resp, void *arg)
{
    struct catalog_app *app = arg;
    cJSON *body = http_json_body(req, resp), *errors = NULL;
    const char *name = NULL;
    long long parent_id = 0, ordering = 0, id;
    struct catalog_error errs[4];
    size_t nerr = 0;
    struct db_conn *conn = NULL;
    struct db_result *res = NULL;
    int rc;

    if (!body)
        return;
    jsonx_str(body, "name", "name", true, CATALOG_MAX_NAME, &name, &errors);
    jsonx_int(body, "parentId", "parentId", false, 1, INT64_MAX, &parent_id, &errors);
    jsonx_int(body, "ordering", "ordering", false, 0, CATALOG_MAX_ORDERING, &ordering, &errors);
    if (!errors && catalog_validate_category(name, (int)ordering, errs, 4, &nerr) != CATALOG_OK) {
        for (size_t i = 0; i < nerr; i++)
            jsonx_field_error(&errors, errs[i].field, errs[i].message);
    }
    if (errors) {
        http_reply_problem(resp, 400, "CATALOG-400-001", errors, "invalid category");
        goto out;
    }
    conn = catalog_acquire(app, resp);
    if (!conn)
        goto out;
    rc = store_category_create(conn, name, parent_id, (int)ordering, &id);
    if (rc == -ENOENT) {
        http_reply_problem(resp, 422, "CATALOG-422-003", NULL, "parent category %lld not found",
                           parent_id);
    } else if (rc == -EEXIST) {
        http_reply_problem(resp, 409, "CATALOG-409-001", NULL,
                           "a category named '%s' already exists under that parent", name);
    } else if (rc == -E2BIG) {
        http_reply_problem(resp, 422, "CATALOG-422-004", NULL,
                           "categories nest at most %d levels deep", CATALOG_MAX_DEPTH);
    } else if (rc < 0) {
        catalog_reply_store_error(resp, rc, "create category");
    } else if ((rc = store_category_get(conn, id, &res)) < 0) {
        catalog_reply_store_error(resp, rc, "read category");
    } else {
        snprintf(resp->location, sizeof(resp->location), "/api/catalog/categories/%lld", id);
        http_reply_json(resp, 201, category_json(res, 0));
        log_info("created category %lld '%s'", id, name);
    }
out:
    db_result_free(res);
    if (conn)
        db_release(app->pool, conn);
    cJSON_Delete(body);
}

void http_category_list(struct http_req *req, struct http_resp *resp, void *arg)
{
    struct catalog_app *app = arg;
    const char *parent = http_query(req, "parentId");
    long long parent_id = 0;
    struct db_conn *conn;
    struct db_result *res = NULL;
    cJSON *list;
    int rc;

    if (parent && jsonx_parse_id(parent, &parent_id) < 0) {
        cJSON *errors = NULL;
        jsonx_field_error(&errors, "parentId", "must be a positive integer id");
        http_reply_problem(resp, 400, "CATALOG-400-001", errors, "invalid query");
        return;
    }
    conn = catalog_acquire(app, resp);
    if (!conn)
        return;
    rc = store_category_list(conn, parent_id, &res);
    if (rc < 0) {
        catalog_reply_store_error(resp, rc, "list categories");
    } else {
        list = cJSON_CreateArray();
        for (size_t i = 0; list && i < db_result_rows(res); i++)
            cJSON_AddItemToArray(list, category_json(res, i));
        http_reply_json(resp, 200, list);
    }
    db_result_free(res);
    db_release(app->pool, conn);
}

void http_category_get(struct http_req *req, struct http_resp *resp, void *arg)
{
    struct catalog_app *app = arg;
    long long id;
    struct db_conn *conn;
    struct db_result *res = NULL;
    int rc;

    if (jsonx_parse_id(http_param(req, "id"), &id) < 0) {
        http_reply_problem(resp, 404, "CATALOG-404-001", NULL, "category not found");
        return;
    }
    conn = catalog_acquire(app, resp);
    if (!conn)
        return;
    rc = store_category_get(conn, id, &res);
    if (rc == -ENOENT)
        http_reply_problem(resp, 404, "CATALOG-404-001", NULL, "category %lld not found", id);
    else if (rc < 0)
        catalog_reply_store_error(resp, rc, "read category");
    else
        http_reply_json(resp, 200, category_json(res, 0));
    db_result_free(res);
    db_release(app->pool, conn);
}

struct tree_node {
    long long id;
    cJSON *json;
};

static int node_cmp(const void *a, const void *b)
{
    long long x = ((const struct tree_node *)a)->id, y = ((const struct tree_node *)b)->id;
    return (x > y) - (x < y);
}

struct order_key {
    long long ordering, id;
    size_t row;
};

static int order_cmp(const void *a, const void *b)
{
    const struct order_key *x = a, *y = b;

    if (x->ordering != y->ordering)
        return (x->ordering > y->ordering) - (x->ordering < y->ordering);
    return (x->id > y->id) - (x->id < y->id);
}

/* Builds the nested tree: rows come ordered by id, so nodes can be found by binary search;
 * children are attached in (ordering, id) order. */
static cJSON *build_tree(const struct db_result *res)
{
    size_t n = db_result_rows(res);
    struct tree_node *nodes = calloc(n ? n : 1, sizeof(*nodes));
    struct order_key *order = calloc(n ? n : 1, sizeof(*order));
    cJSON *roots = cJSON_CreateArray();

    if (!nodes || !order || !roots) {
        cJSON_Delete(roots);
        roots = NULL;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        nodes[i].id = db_result_int(res, i, CAT_ID);
        nodes[i].json = category_json(res, i);
        cJSON_AddArrayToObject(nodes[i].json, "children");
        order[i] = (struct order_key){db_result_int(res, i, CAT_ORDERING), nodes[i].id, i};
    }
    qsort(order, n, sizeof(*order), order_cmp);
    for (size_t k = 0; k < n; k++) {
        size_t i = order[k].row;
        struct tree_node key = {.id = db_result_int(res, i, CAT_PARENT)};
        struct tree_node *parent = NULL;

        if (db_result_get(res, i, CAT_PARENT))
            parent = bsearch(&key, nodes, n, sizeof(*nodes), node_cmp);
        if (parent)
            cJSON_AddItemToArray(cJSON_GetObjectItem(parent->json, "children"), nodes[i].json);
        else
            cJSON_AddItemToArray(roots, nodes[i].json);
    }
out:
    free(order);
    free(nodes);
    return roots;
}

void http_category_tree(struct http_req *req, struct http_resp *resp, void *arg)
{
    struct catalog_app *app = arg;
    struct db_conn *conn = catalog_acquire(app, resp);
    struct db_result *res = NULL;
    int rc;

    (void)req;
    if (!conn)
        return;
    rc = store_category_all(conn, &res);
    if (rc < 0)
        catalog_reply_store_error(resp, rc, "read categories");
    else
        http_reply_json(resp, 200, build_tree(res));
    db_result_free(res);
    db_release(app->pool, conn);
}
