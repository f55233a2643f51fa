/* store_catalog.c - catalog-service's MariaDB adapter (see store_catalog.h). */
#include "store_catalog.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "common/event.h"
#include "common/outbox.h"

#define CATEGORY_COLS "id, name, parent_id, depth, ordering"
#define PRODUCT_COLS                                                                               \
    "id, code, name, description, brand, price, category_id, status, "                             \
    "DATE_FORMAT(created_at, '%Y-%m-%dT%H:%i:%s.%fZ'), "                                           \
    "DATE_FORMAT(updated_at, '%Y-%m-%dT%H:%i:%s.%fZ'), thumbnail_url"

int store_generation_bump(struct db_conn *conn)
{
    return db_exec(conn, "UPDATE catalog_generation SET generation = generation + 1 WHERE id = 1",
                   NULL, 0, NULL, NULL);
}

int store_generation_get(struct db_conn *conn, long long *ret_generation)
{
    struct db_result *res = NULL;
    int rc =
        db_query_one(conn, "SELECT generation FROM catalog_generation WHERE id = 1", NULL, 0, &res);

    if (rc == 0)
        *ret_generation = db_result_int(res, 0, 0);
    db_result_free(res);
    return rc;
}

/* Commits after raising the generation (last, so the generation row is locked only briefly
 * and always after every other lock: no lock cycle through it); rolls back on failure. */
static int commit_bumped(struct db_conn *conn)
{
    int rc = store_generation_bump(conn);

    if (rc == 0)
        rc = db_commit(conn);
    if (rc < 0)
        db_rollback(conn);
    return rc;
}

/* Inserts one category at @depth; a root's name is checked by hand (NULL parents are
 * distinct for the unique key), a child's by the key (-EEXIST either way). */
static int category_insert(struct db_conn *conn, const char *name, long long parent_id,
                           long long depth, int ordering, long long *ret_id)
{
    unsigned long long id;
    int rc;

    if (parent_id <= 0) {
        struct db_result *dup;
        struct db_param p[] = {DB_STR(name)};
        rc = db_query(conn, "SELECT id FROM category WHERE parent_id IS NULL AND name = ?", p, 1,
                      &dup);
        if (rc < 0)
            return rc;
        rc = db_result_rows(dup) ? -EEXIST : 0;
        db_result_free(dup);
        if (rc < 0)
            return rc;
    }
    {
        struct db_param p[] = {DB_STR(name), parent_id > 0 ? DB_INT(parent_id) : DB_NULLP,
                               DB_INT(depth), DB_INT(ordering)};
        rc = db_exec(conn,
                     "INSERT INTO category (name, parent_id, depth, ordering) VALUES (?, ?, ?, ?)",
                     p, 4, NULL, &id);
    }
    if (rc == 0)
        *ret_id = (long long)id;
    return rc;
}

/* The depth a child of @parent_id gets (0 for a root); -ENOENT parent missing. */
static int child_depth(struct db_conn *conn, long long parent_id, const char *lock,
                       long long *ret_depth)
{
    struct db_result *parent = NULL;
    struct db_param p[] = {DB_INT(parent_id)};
    char sql[128];
    int rc;

    if (parent_id <= 0) {
        *ret_depth = 0;
        return 0;
    }
    snprintf(sql, sizeof(sql), "SELECT depth FROM category WHERE id = ?%s", lock);
    rc = db_query_one(conn, sql, p, 1, &parent);
    if (rc < 0)
        return rc;
    *ret_depth = db_result_int(parent, 0, 0) + 1;
    db_result_free(parent);
    return 0;
}

int store_category_create(struct db_conn *conn, const char *name, long long parent_id, int ordering,
                          long long *ret_id)
{
    long long depth, id = 0;
    int rc = db_begin(conn);

    if (rc < 0)
        return rc;
    rc = child_depth(conn, parent_id, "", &depth);
    if (rc == 0 && depth >= CATALOG_MAX_DEPTH)
        rc = -E2BIG;
    if (rc == 0)
        rc = category_insert(conn, name, parent_id, depth, ordering, &id);
    if (rc < 0) {
        db_rollback(conn);
        return rc;
    }
    rc = commit_bumped(conn);
    if (rc == 0)
        *ret_id = id;
    return rc;
}

int store_category_create_tree(struct db_conn *conn, long long parent_id,
                               const struct catalog_tree_node *nodes, size_t n, long long *ret_ids)
{
    long long base = 0;
    int rc = db_begin(conn);

    if (rc < 0)
        return rc;
    /* lock the parent so it cannot vanish before its new children reference it */
    rc = child_depth(conn, parent_id, " LOCK IN SHARE MODE", &base);
    if (rc < 0)
        goto rollback;
    for (size_t i = 0; i < n; i++) {
        if (base + nodes[i].depth >= CATALOG_MAX_DEPTH) {
            rc = -E2BIG;
            goto rollback;
        }
    }
    for (size_t i = 0; i < n; i++) {
        long long parent = nodes[i].parent < 0 ? parent_id : ret_ids[nodes[i].parent];
        rc = category_insert(conn, nodes[i].name, parent, base + nodes[i].depth, nodes[i].ordering,
                             &ret_ids[i]);
        if (rc < 0)
            goto rollback;
    }
    return commit_bumped(conn);
rollback:
    db_rollback(conn);
    return rc;
}

int store_category_get(struct db_conn *conn, long long id, struct db_result **ret)
{
    struct db_param p[] = {DB_INT(id)};

    return db_query_one(conn, "SELECT " CATEGORY_COLS " FROM category WHERE id = ?", p, 1, ret);
}

int store_category_list(struct db_conn *conn, long long parent_id, struct db_result **ret)
{
    struct db_param p[] = {DB_INT(parent_id)};

    if (parent_id <= 0)
        return db_query(conn,
                        "SELECT " CATEGORY_COLS " FROM category WHERE parent_id IS NULL "
                        "ORDER BY ordering, id",
                        NULL, 0, ret);
    return db_query(conn,
                    "SELECT " CATEGORY_COLS " FROM category WHERE parent_id = ? "
                    "ORDER BY ordering, id",
                    p, 1, ret);
}

int store_category_all(struct db_conn *conn, struct db_result **ret)
{
    return db_query(conn, "SELECT " CATEGORY_COLS " FROM category ORDER BY id", NULL, 0, ret);
}

/* The product.sku.created payload (docs/event-contracts.md). */
static cJSON *sku_created_data(long long sku_id, long long product_id, const char *product_code,
                               long long price, cJSON *option_values, long long initial_quantity)
{
    cJSON *data = cJSON_CreateObject();

    if (!data)
        return NULL;
    cJSON_AddNumberToObject(data, "skuId", (double)sku_id);
    cJSON_AddNumberToObject(data, "productId", (double)product_id);
    cJSON_AddStringToObject(data, "productCode", product_code);
    cJSON_AddNumberToObject(data, "price", (double)price);
    cJSON_AddItemToObject(data, "optionValues", cJSON_Duplicate(option_values, 1));
    cJSON_AddNumberToObject(data, "initialQuantity", (double)initial_quantity);
    return data;
}

/* Inserts one SKU and appends its event. */
static int insert_sku(struct db_conn *conn, const struct catalog_product *p, long long product_id,
                      const char *product_code, const struct catalog_sku *sku,
                      const struct msgctx *ctx)
{
    char code[64], sku_key[24];
    cJSON *values = cJSON_CreateArray();
    char *values_txt = NULL;
    unsigned long long sku_id;
    struct msgctx child;
    struct event ev = {0};
    int rc = -ENOMEM;

    if (!values)
        return -ENOMEM;
    for (size_t g = 0; g < p->ngroups; g++) {
        cJSON *v = cJSON_CreateObject();
        if (!v)
            goto out;
        cJSON_AddItemToArray(values, v);
        cJSON_AddStringToObject(v, "group", p->groups[g].name);
        cJSON_AddStringToObject(v, "option", p->groups[g].options[sku->choice[g]].name);
        cJSON_AddNumberToObject(v, "additionalPrice",
                                (double)p->groups[g].options[sku->choice[g]].additional_price);
    }
    values_txt = cJSON_PrintUnformatted(values);
    if (!values_txt)
        goto out;
    catalog_sku_code(product_code, p, sku, code, sizeof(code));
    {
        struct db_param prm[] = {DB_INT(product_id), DB_STR(code), DB_INT(sku->price),
                                 DB_STR(values_txt)};
        rc = db_exec(conn,
                     "INSERT INTO sku (product_id, code, price, option_values) VALUES (?, ?, ?, ?)",
                     prm, 4, NULL, &sku_id);
        if (rc < 0)
            goto out;
    }
    msgctx_child(ctx, &child);
    snprintf(sku_key, sizeof(sku_key), "%llu", sku_id);
    rc = event_init(&ev, event_type_name(EVENT_PRODUCT_SKU_CREATED),
                    event_type_version(EVENT_PRODUCT_SKU_CREATED), CATALOG_SOURCE, sku_key, &child,
                    sku_created_data((long long)sku_id, product_id, product_code, sku->price,
                                     values, p->initial_quantity));
    if (rc < 0)
        goto out;
    rc = outbox_append(conn, "sku", sku_key, &ev);
out:
    event_release(&ev);
    cJSON_free(values_txt);
    cJSON_Delete(values);
    return rc;
}

int store_product_create(struct db_conn *conn, const struct catalog_product *p,
                         const struct msgctx *ctx, long long *ret_id)
{
    struct catalog_sku *skus = NULL;
    struct db_result *cat = NULL;
    unsigned long long pid, gid;
    char code[32];
    size_t nskus;
    int rc;

    skus = calloc(CATALOG_MAX_SKUS, sizeof(*skus));
    if (!skus)
        return -ENOMEM;
    nskus = catalog_generate_skus(p, skus, CATALOG_MAX_SKUS);
    if (nskus == 0) {
        rc = -EINVAL;
        goto out;
    }
    rc = db_begin(conn);
    if (rc < 0)
        goto out;
    {
        /* lock the category row so it cannot vanish before the product references it */
        struct db_param prm[] = {DB_INT(p->category_id)};
        rc = db_query_one(conn, "SELECT id FROM category WHERE id = ? LOCK IN SHARE MODE", prm, 1,
                          &cat);
        if (rc < 0)
            goto rollback;
        db_result_free(cat);
    }
    {
        struct db_param prm[] = {DB_STR(p->name),
                                 p->description ? DB_STR(p->description) : DB_NULLP,
                                 p->brand ? DB_STR(p->brand) : DB_NULLP,
                                 p->thumbnail_url ? DB_STR(p->thumbnail_url) : DB_NULLP,
                                 DB_INT(p->price),
                                 DB_INT(p->category_id),
                                 DB_STR(catalog_status_name(p->status))};
        rc = db_exec(conn,
                     "INSERT INTO product (name, description, brand, thumbnail_url, price, "
                     "category_id, status) VALUES (?, ?, ?, ?, ?, ?, ?)",
                     prm, 7, NULL, &pid);
        if (rc < 0)
            goto rollback;
    }
    catalog_product_code((long long)pid, code, sizeof(code));
    {
        struct db_param prm[] = {DB_STR(code), DB_INT(pid)};
        rc = db_exec(conn, "UPDATE product SET code = ? WHERE id = ?", prm, 2, NULL, NULL);
        if (rc < 0)
            goto rollback;
    }
    for (size_t g = 0; g < p->ngroups; g++) {
        struct db_param prm[] = {DB_INT(pid), DB_STR(p->groups[g].name),
                                 DB_INT(p->groups[g].ordering), DB_INT(g)};
        rc = db_exec(conn,
                     "INSERT INTO option_group (product_id, name, ordering, position) "
                     "VALUES (?, ?, ?, ?)",
                     prm, 4, NULL, &gid);
        if (rc < 0)
            goto rollback;
        for (size_t o = 0; o < p->groups[g].noptions; o++) {
            struct db_param op[] = {DB_INT(gid), DB_STR(p->groups[g].options[o].name),
                                    DB_INT(p->groups[g].options[o].additional_price), DB_INT(o)};
            rc = db_exec(conn,
                         "INSERT INTO option_value (option_group_id, name, additional_price, "
                         "position) VALUES (?, ?, ?, ?)",
                         op, 4, NULL, NULL);
            if (rc < 0)
                goto rollback;
        }
    }
    for (size_t s = 0; s < nskus; s++) {
        rc = insert_sku(conn, p, (long long)pid, code, &skus[s], ctx);
        if (rc < 0)
            goto rollback;
    }
    rc = commit_bumped(conn);
    if (rc < 0)
        goto out;
    *ret_id = (long long)pid;
    goto out;
rollback:
    db_rollback(conn);
out:
    free(skus);
    return rc;
}

int store_product_get(struct db_conn *conn, long long id, int with_inactive, struct db_result **ret)
{
    struct db_param p[] = {DB_INT(id), DB_INT(with_inactive ? 1 : 0)};

    return db_query_one(conn,
                        "SELECT " PRODUCT_COLS " FROM product WHERE id = ? AND (status = 'ACTIVE' "
                        "OR (? = 1 AND status = 'INACTIVE'))",
                        p, 2, ret);
}

int store_product_options(struct db_conn *conn, long long id, struct db_result **ret)
{
    struct db_param p[] = {DB_INT(id)};

    return db_query(conn,
                    "SELECT g.id, g.name, g.ordering, v.id, v.name, v.additional_price "
                    "FROM option_group g JOIN option_value v ON v.option_group_id = g.id "
                    "WHERE g.product_id = ? ORDER BY g.position, v.position",
                    p, 1, ret);
}

int store_product_skus(struct db_conn *conn, long long id, struct db_result **ret)
{
    struct db_param p[] = {DB_INT(id)};

    return db_query(conn,
                    "SELECT id, product_id, code, price, option_values FROM sku "
                    "WHERE product_id = ? ORDER BY id",
                    p, 1, ret);
}

/* Escapes LIKE wildcards so a keyword matches literally. Caller frees. */
static char *like_pattern(const char *keyword)
{
    size_t n = strlen(keyword);
    char *out = malloc(2 * n + 3);
    size_t o = 0;

    if (!out)
        return NULL;
    out[o++] = '%';
    for (size_t i = 0; i < n; i++) {
        if (keyword[i] == '%' || keyword[i] == '_' || keyword[i] == '\\')
            out[o++] = '\\';
        out[o++] = keyword[i];
    }
    out[o++] = '%';
    out[o] = '\0';
    return out;
}

int store_product_search(struct db_conn *conn, long long category_id, const char *keyword,
                         int with_inactive, long long offset, long long limit,
                         struct db_result **ret, long long *ret_total)
{
#define SEARCH_WHERE                                                                               \
    " FROM product WHERE status IN ('ACTIVE', ?) AND (? = 0 OR category_id = ?)"                   \
    " AND (? IS NULL OR name LIKE ? OR brand LIKE ?)"
    char *pattern = keyword ? like_pattern(keyword) : NULL;
    struct db_result *count = NULL;
    int rc;

    if (keyword && !pattern)
        return -ENOMEM;
    {
        struct db_param p[] = {DB_STR(with_inactive ? "INACTIVE" : "ACTIVE"),
                               DB_INT(category_id),
                               DB_INT(category_id),
                               pattern ? DB_STR(pattern) : DB_NULLP,
                               pattern ? DB_STR(pattern) : DB_NULLP,
                               pattern ? DB_STR(pattern) : DB_NULLP,
                               DB_INT(limit),
                               DB_INT(offset)};
        rc = db_query(conn, "SELECT COUNT(*)" SEARCH_WHERE, p, 6, &count);
        if (rc < 0)
            goto out;
        *ret_total = db_result_int(count, 0, 0);
        rc = db_query(conn, "SELECT " PRODUCT_COLS SEARCH_WHERE " ORDER BY id LIMIT ? OFFSET ?", p,
                      8, ret);
    }
out:
    db_result_free(count);
    free(pattern);
    return rc;
#undef SEARCH_WHERE
}

int store_product_update(struct db_conn *conn, long long id, const char *name,
                         const char *description, const char *brand, const char *thumbnail_url,
                         long long category_id)
{
    struct db_result *cat = NULL;
    unsigned long long affected = 0;
    int rc;
    struct db_param c[] = {DB_INT(category_id)};
    struct db_param p[] = {DB_STR(name),
                           description ? DB_STR(description) : DB_NULLP,
                           brand ? DB_STR(brand) : DB_NULLP,
                           thumbnail_url ? DB_STR(thumbnail_url) : DB_NULLP,
                           DB_INT(category_id),
                           DB_INT(id)};

    rc = db_begin(conn);
    if (rc < 0)
        return rc;
    rc = db_query_one(conn, "SELECT id FROM category WHERE id = ?", c, 1, &cat);
    if (rc == -ENOENT)
        rc = -ENXIO;
    db_result_free(cat);
    if (rc == 0)
        rc = db_exec(conn,
                     "UPDATE product SET name = ?, description = ?, brand = ?, thumbnail_url = ?, "
                     "category_id = ?, updated_at = NOW(6) "
                     "WHERE id = ? AND status IN ('ACTIVE', 'INACTIVE')",
                     p, 6, &affected, NULL);
    if (rc == 0 && affected == 0)
        rc = -ENOENT;
    if (rc < 0) {
        db_rollback(conn);
        return rc;
    }
    return commit_bumped(conn);
}

int store_product_set_status(struct db_conn *conn, long long id, enum catalog_status status)
{
    struct db_param p[] = {DB_STR(catalog_status_name(status)), DB_INT(id)};
    struct db_result *res = NULL;
    int rc = db_begin(conn);

    if (rc < 0)
        return rc;
    /* a row whose status does not change counts as not affected: look it up instead */
    rc = db_exec(conn,
                 "UPDATE product SET status = ?, updated_at = NOW(6) "
                 "WHERE id = ? AND status IN ('ACTIVE', 'INACTIVE')",
                 p, 2, NULL, NULL);
    if (rc == 0)
        rc = store_product_get(conn, id, 1, &res);
    db_result_free(res);
    if (rc < 0) {
        db_rollback(conn);
        return rc;
    }
    return commit_bumped(conn);
}

int store_product_delete(struct db_conn *conn, long long id)
{
    struct db_param p[] = {DB_INT(id)};
    unsigned long long affected = 0;
    int rc = db_begin(conn);

    if (rc < 0)
        return rc;
    rc = db_exec(conn,
                 "UPDATE product SET status = 'DELETED', deleted_at = NOW(6), "
                 "updated_at = NOW(6) WHERE id = ? AND status IN ('ACTIVE', 'INACTIVE')",
                 p, 1, &affected, NULL);
    if (rc == 0 && affected == 0)
        rc = -ENOENT;
    if (rc < 0) {
        db_rollback(conn);
        return rc;
    }
    return commit_bumped(conn);
}
