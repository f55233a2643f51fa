/*
 * catalog.h - catalog domain rules, pure C (no I/O, no JSON, no database).
 *
 * A product has a base price and up to CATALOG_MAX_GROUPS option groups, each with options
 * that add a price. One SKU exists per combination of one option from every group (a product
 * without option groups has one SKU). A SKU's price is the base price plus its options'
 * additional prices and must be positive. SKU codes are derived from the product code and the
 * options' positions, so they are stable and unique within the product.
 */
#ifndef CATALOG_H
#define CATALOG_H

#include <stddef.h>

#define CATALOG_MAX_NAME 200
#define CATALOG_MAX_DESCRIPTION 4000
#define CATALOG_MAX_BRAND 100
#define CATALOG_MAX_GROUPS 5
#define CATALOG_MAX_OPTIONS 20
#define CATALOG_MAX_SKUS 200
#define CATALOG_MAX_PRICE 1000000000LL /* KRW */
#define CATALOG_MAX_QUANTITY 1000000000LL
#define CATALOG_MAX_ORDERING 100000
#define CATALOG_MAX_DEPTH 5 /* category tree depth */

struct catalog_option {
    const char *name;
    long long additional_price;
};

struct catalog_group {
    const char *name;
    int ordering;
    size_t noptions;
    struct catalog_option options[CATALOG_MAX_OPTIONS];
};

struct catalog_product {
    const char *name;
    const char *description; /* may be NULL */
    const char *brand;       /* may be NULL */
    long long price;
    long long category_id;
    long long initial_quantity; /* stock each SKU starts with (published in the event) */
    size_t ngroups;
    struct catalog_group groups[CATALOG_MAX_GROUPS];
};

/* One generated SKU: the chosen option index in each group (in group order). */
struct catalog_sku {
    size_t choice[CATALOG_MAX_GROUPS];
    long long price;
};

/* A validation problem on one field ("optionGroups[1].options[0].name"). */
struct catalog_error {
    char field[96];
    char message[160];
};

enum catalog_outcome {
    CATALOG_OK = 0,
    CATALOG_INVALID,       /* field errors */
    CATALOG_TOO_MANY_SKUS, /* the combinations exceed CATALOG_MAX_SKUS */
};

/*
 * Checks a product's values (the HTTP layer has already checked JSON types). Writes up to
 * @maxerr errors into @errs and their count into *@nerr. Returns CATALOG_OK,
 * CATALOG_INVALID or CATALOG_TOO_MANY_SKUS.
 */
enum catalog_outcome catalog_validate_product(const struct catalog_product *p,
                                              struct catalog_error *errs, size_t maxerr,
                                              size_t *nerr);

/* Number of SKUs the product generates (product of the group sizes; 1 without groups). */
size_t catalog_sku_count(const struct catalog_product *p);

/*
 * Generates every SKU of a valid product into @skus (room for catalog_sku_count()) in a stable
 * order: the last group varies fastest. Returns the count.
 */
size_t catalog_generate_skus(const struct catalog_product *p, struct catalog_sku *skus, size_t max);

/* The SKU code: "<product_code>" without groups, else "<product_code>-<i1>-<i2>…" with
 * 1-based option positions in group order. */
void catalog_sku_code(const char *product_code, const struct catalog_product *p,
                      const struct catalog_sku *sku, char *out, size_t outlen);

/* The product code for a product id: "P" + 8 digits ("P00000042"). */
void catalog_product_code(long long product_id, char *out, size_t outlen);

/* Checks a category's values; same error contract as catalog_validate_product. */
enum catalog_outcome catalog_validate_category(const char *name, int ordering,
                                               struct catalog_error *errs, size_t maxerr,
                                               size_t *nerr);

#endif
