/* http_categories.c - /api/catalog/categories: create one or a whole tree, list children, get
 * one, whole tree. */
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
    catalog_cache_written(app);
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

static void category_list_db(struct http_req *req, struct http_resp *resp, void *arg)
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

static void category_get_db(struct http_req *req, struct http_resp *resp, void *arg)
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

static void category_tree_db(struct http_req *req, struct http_resp *resp, void *arg)
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

/* The public reads, through the read cache (http_cache.c); a malformed id or parentId is
 * answered by the database path (its 400/404 is never cached). */
void http_category_get(struct http_req *req, struct http_resp *resp, void *app)
{
    char key[CATALOG_CACHE_KEY_MAX];
    long long id;

    if (jsonx_parse_id(http_param(req, "id"), &id) < 0) {
        category_get_db(req, resp, app);
        return;
    }
    snprintf(key, sizeof(key), "c:%lld", id);
    catalog_read_cached(req, resp, app, key, category_get_db);
}

void http_category_list(struct http_req *req, struct http_resp *resp, void *app)
{
    const char *parent = http_query(req, "parentId");
    char key[CATALOG_CACHE_KEY_MAX];
    long long parent_id = 0;

    if (parent && jsonx_parse_id(parent, &parent_id) < 0) {
        category_list_db(req, resp, app);
        return;
    }
    snprintf(key, sizeof(key), "l:%lld", parent_id);
    catalog_read_cached(req, resp, app, key, category_list_db);
}

void http_category_tree(struct http_req *req, struct http_resp *resp, void *app)
{
    catalog_read_cached(req, resp, app, "tree", category_tree_db);
}

/* A tree being read from a request body: nodes in pre-order. */
struct tree_parse {
    struct catalog_tree_node nodes[CATALOG_MAX_TREE_NODES];
    size_t n;
    int overflow; /* more than CATALOG_MAX_TREE_NODES nodes */
    cJSON *errors;
};

/* Reads the node @obj at JSON path @field ("" for the root) and, while the depth allows, its
 * children; the JSON depth is capped by http_json_body(), so the recursion is bounded. */
static void tree_parse_node(struct tree_parse *tp, const cJSON *obj, int parent, int depth,
                            const char *field)
{
    struct catalog_tree_node *nd;
    const cJSON *children = NULL, *child;
    long long ordering = 0;
    const char *dot = *field ? "." : "";
    char f[128];
    int self, i = 0;

    if (!cJSON_IsObject(obj)) {
        jsonx_field_error(&tp->errors, *field ? field : "body", "must be an object");
        return;
    }
    if (tp->n == CATALOG_MAX_TREE_NODES) {
        tp->overflow = 1;
        return;
    }
    self = (int)tp->n++;
    nd = &tp->nodes[self];
    nd->parent = parent;
    nd->depth = depth;
    snprintf(nd->field, sizeof(nd->field), "%s", field);
    snprintf(f, sizeof(f), "%s%sname", field, dot);
    jsonx_str(obj, "name", f, true, CATALOG_MAX_NAME, &nd->name, &tp->errors);
    snprintf(f, sizeof(f), "%s%sordering", field, dot);
    jsonx_int(obj, "ordering", f, false, 0, CATALOG_MAX_ORDERING, &ordering, &tp->errors);
    nd->ordering = (int)ordering;
    if (parent >= 0 && cJSON_GetObjectItem(obj, "parentId")) {
        snprintf(f, sizeof(f), "%s.parentId", field);
        jsonx_field_error(&tp->errors, f, "only the tree's root may name a parent");
    }
    snprintf(f, sizeof(f), "%s%schildren", field, dot);
    if (jsonx_array(obj, "children", f, false, CATALOG_MAX_TREE_NODES, &children, &tp->errors) < 0)
        return;
    if (depth + 1 >= CATALOG_MAX_DEPTH) {
        if (cJSON_GetArraySize(children) > 0)
            jsonx_field_error(&tp->errors, f, "categories nest at most 5 levels deep");
        return;
    }
    cJSON_ArrayForEach (child, children) {
        snprintf(f, sizeof(f), "%s%schildren[%d]", field, dot, i++);
        tree_parse_node(tp, child, self, depth + 1, f);
        if (tp->overflow)
            return;
    }
}

/* The created tree as JSON, in the shape of GET /categories/tree. */
static cJSON *tree_json(const struct tree_parse *tp, const long long *ids, long long parent_id,
                        long long base_depth)
{
    cJSON *json[CATALOG_MAX_TREE_NODES];

    for (size_t i = 0; i < tp->n; i++) {
        const struct catalog_tree_node *nd = &tp->nodes[i];
        json[i] = cJSON_CreateObject();
        cJSON_AddNumberToObject(json[i], "id", (double)ids[i]);
        cJSON_AddStringToObject(json[i], "name", nd->name);
        if (nd->parent >= 0)
            cJSON_AddNumberToObject(json[i], "parentId", (double)ids[nd->parent]);
        else if (parent_id > 0)
            cJSON_AddNumberToObject(json[i], "parentId", (double)parent_id);
        else
            cJSON_AddNullToObject(json[i], "parentId");
        cJSON_AddNumberToObject(json[i], "depth", (double)(base_depth + nd->depth));
        cJSON_AddNumberToObject(json[i], "ordering", nd->ordering);
        cJSON_AddArrayToObject(json[i], "children");
        if (nd->parent >= 0)
            cJSON_AddItemToArray(cJSON_GetObjectItem(json[nd->parent], "children"), json[i]);
    }
    return json[0];
}

void http_category_create_tree(struct http_req *req, struct http_resp *resp, void *arg)
{
    struct catalog_app *app = arg;
    cJSON *body = http_json_body(req, resp);
    struct tree_parse *tp = NULL;
    struct catalog_error errs[16];
    struct db_conn *conn = NULL;
    struct db_result *parent = NULL;
    long long parent_id = 0, ids[CATALOG_MAX_TREE_NODES], base_depth = 0;
    size_t nerr = 0;
    int rc = 0;

    if (!body)
        return;
    tp = calloc(1, sizeof(*tp));
    if (!tp) {
        http_reply_problem(resp, 500, "CATALOG-500-001", NULL, "out of memory");
        goto out;
    }
    jsonx_int(body, "parentId", "parentId", false, 1, INT64_MAX, &parent_id, &tp->errors);
    tree_parse_node(tp, body, -1, 0, "");
    if (tp->overflow)
        jsonx_field_error(&tp->errors, "children", "a tree has at most 100 categories");
    if (!tp->errors && catalog_validate_tree(tp->nodes, tp->n, errs, 16, &nerr) != CATALOG_OK) {
        for (size_t i = 0; i < nerr; i++)
            jsonx_field_error(&tp->errors, errs[i].field, errs[i].message);
    }
    if (tp->errors) {
        http_reply_problem(resp, 400, "CATALOG-400-001", tp->errors, "invalid category tree");
        tp->errors = NULL; /* now owned by resp */
        goto out;
    }
    conn = catalog_acquire(app, resp);
    if (!conn)
        goto out;
    /* a deadlock rolls the whole transaction back: try it again a few times */
    for (int attempt = 0; attempt < 3; attempt++) {
        rc = store_category_create_tree(conn, parent_id, tp->nodes, tp->n, ids);
        if (rc != -EDEADLK)
            break;
    }
    catalog_cache_written(app);
    if (rc == -ENOENT) {
        http_reply_problem(resp, 422, "CATALOG-422-003", NULL, "parent category %lld not found",
                           parent_id);
    } else if (rc == -EEXIST) {
        http_reply_problem(resp, 409, "CATALOG-409-001", NULL,
                           "a category named '%s' already exists under that parent",
                           tp->nodes[0].name);
    } else if (rc == -E2BIG) {
        http_reply_problem(resp, 422, "CATALOG-422-004", NULL,
                           "categories nest at most %d levels deep", CATALOG_MAX_DEPTH);
    } else if (rc < 0) {
        catalog_reply_store_error(resp, rc, "create category tree");
    } else if (parent_id > 0 && (rc = store_category_get(conn, parent_id, &parent)) < 0) {
        catalog_reply_store_error(resp, rc, "read category");
    } else {
        if (parent)
            base_depth = db_result_int(parent, 0, CAT_DEPTH) + 1;
        snprintf(resp->location, sizeof(resp->location), "/api/catalog/categories/%lld", ids[0]);
        http_reply_json(resp, 201, tree_json(tp, ids, parent_id, base_depth));
        log_info("created category tree %lld '%s' with %zu categories", ids[0], tp->nodes[0].name,
                 tp->n);
    }
out:
    db_result_free(parent);
    if (conn)
        db_release(app->pool, conn);
    if (tp)
        cJSON_Delete(tp->errors);
    free(tp);
    cJSON_Delete(body);
}
