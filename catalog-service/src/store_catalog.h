/*
 * store_catalog.h - catalog-service's MariaDB adapter. Every function takes a checked-out
 * connection and returns 0 or a negative errno (db.h codes plus the ones named below).
 * Results are rows of text owned by the caller (db_result_free).
 */
#ifndef STORE_CATALOG_H
#define STORE_CATALOG_H

#include "catalog.h"
#include "common/db.h"
#include "common/msgctx.h"

#define CATALOG_SOURCE "/catalog-service"

/*
 * The catalog's generation (migration 003): every write function below raises it in its own
 * transaction, so a reader that sees the generation unchanged has seen no committed write in
 * between. store_generation_get() reads it (autocommit: the latest committed value).
 */
int store_generation_bump(struct db_conn *conn);
int store_generation_get(struct db_conn *conn, long long *ret_generation);

/* Column order of category rows: id, name, parent_id, depth, ordering. */
enum { CAT_ID, CAT_NAME, CAT_PARENT, CAT_DEPTH, CAT_ORDERING };

/* -ENOENT parent missing; -EEXIST same name under the parent; -E2BIG tree too deep. */
int store_category_create(struct db_conn *conn, const char *name, long long parent_id, int ordering,
                          long long *ret_id);
/*
 * Creates a tree of categories in one transaction: @nodes in pre-order (catalog_validate_tree),
 * the root under @parent_id (0 = a new root category). Writes each node's id into @ret_ids
 * (room for @n). -ENOENT parent missing; -EEXIST the root's name is taken under the parent;
 * -E2BIG the tree would nest deeper than CATALOG_MAX_DEPTH. Nothing is created on failure.
 */
int store_category_create_tree(struct db_conn *conn, long long parent_id,
                               const struct catalog_tree_node *nodes, size_t n, long long *ret_ids);
int store_category_get(struct db_conn *conn, long long id, struct db_result **ret);
/* Children of @parent_id, or the roots when 0; ordered by ordering, id. */
int store_category_list(struct db_conn *conn, long long parent_id, struct db_result **ret);
/* Every category ordered by id. */
int store_category_all(struct db_conn *conn, struct db_result **ret);

/* Column order of product rows. */
enum {
    PROD_ID,
    PROD_CODE,
    PROD_NAME,
    PROD_DESCRIPTION,
    PROD_BRAND,
    PROD_PRICE,
    PROD_CATEGORY,
    PROD_STATUS,
    PROD_CREATED,
    PROD_UPDATED,
    PROD_THUMBNAIL
};
/* Option rows: group id, group name, group ordering, option id, option name, additional price. */
enum { OPT_GROUP_ID, OPT_GROUP_NAME, OPT_GROUP_ORDERING, OPT_ID, OPT_NAME, OPT_PRICE };
/* SKU rows: id, product id, code, price, option_values (JSON text). */
enum { SKU_ID, SKU_PRODUCT, SKU_CODE, SKU_PRICE, SKU_OPTIONS };

/*
 * Creates a product, its option groups and options, one SKU per combination, and one
 * product.sku.created event per SKU in the outbox — all in one transaction. @p must be valid
 * (catalog_validate_product). @ctx is the request's context (events become its children).
 * -ENOENT when the category does not exist.
 */
int store_product_create(struct db_conn *conn, const struct catalog_product *p,
                         const struct msgctx *ctx, long long *ret_id);
/* An active product, or also an inactive one when @with_inactive; -ENOENT when missing,
 * deleted or (without @with_inactive) inactive. */
int store_product_get(struct db_conn *conn, long long id, int with_inactive,
                      struct db_result **ret);
int store_product_options(struct db_conn *conn, long long id, struct db_result **ret);
int store_product_skus(struct db_conn *conn, long long id, struct db_result **ret);
/* Active products (and inactive ones when @with_inactive) filtered by category (0 = any) and
 * a name/brand keyword (NULL = any). */
int store_product_search(struct db_conn *conn, long long category_id, const char *keyword,
                         int with_inactive, long long offset, long long limit,
                         struct db_result **ret, long long *ret_total);
/* Updates the descriptive fields (@description, @brand, @thumbnail_url may be NULL) of an
 * active or inactive product; -ENOENT product missing; -ENXIO category missing. */
int store_product_update(struct db_conn *conn, long long id, const char *name,
                         const char *description, const char *brand, const char *thumbnail_url,
                         long long category_id);
/* Sets an active or inactive product's status; -ENOENT when missing or deleted. */
int store_product_set_status(struct db_conn *conn, long long id, enum catalog_status status);
/* Soft delete (active or inactive); -ENOENT when missing or already deleted. */
int store_product_delete(struct db_conn *conn, long long id);

#endif
