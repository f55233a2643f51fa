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
#define CATALOG_MAX_DEPTH 5        /* category tree depth */
#define CATALOG_MAX_TREE_NODES 100 /* categories in one POST /categories/tree */
#define CATALOG_MAX_URL 2048       /* thumbnail URL bytes */

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

/* A product's status (catalog_status_parse()). */
enum catalog_status { CATALOG_ACTIVE, CATALOG_INACTIVE };

struct catalog_product {
    const char *name;
    const char *description;   /* may be NULL */
    const char *brand;         /* may be NULL */
    const char *thumbnail_url; /* may be NULL; see catalog_check_url() */
    enum catalog_status status;
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
    CATALOG_NO_MATCH,      /* no option with that name: no SKU has the combination */
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

/*
 * Product status: ACTIVE products are public; INACTIVE ones are hidden from everyone but
 * admins; DELETED ones (soft delete) from everyone. Returns the status for its name ("ACTIVE",
 * "INACTIVE"; exact case), or -1 for anything else (DELETED is not settable).
 */
int catalog_status_parse(const char *s);
const char *catalog_status_name(enum catalog_status st);

/*
 * Checks a thumbnail URL: at most CATALOG_MAX_URL bytes, "http://" or "https://" (any case),
 * a host of letters, digits, '-' and '.' (or a bracketed IPv6 literal), an optional port
 * 1..65535, no user info, then only RFC 3986 characters (well-formed %XX escapes, no spaces,
 * controls or non-ASCII). Returns NULL when valid, else the reason (a static string).
 */
const char *catalog_check_url(const char *url);

/* One "<group>=<option>" pair of a SKU lookup; @option may be NULL (a bare "?group"). */
struct catalog_pick {
    const char *group;
    const char *option;
};

/*
 * Finds the SKU for a choice of one option per group: every group of @p must be named exactly
 * once (exact, case-sensitive names). Writes the chosen option indices into @ret_sku->choice.
 * Returns CATALOG_OK; CATALOG_INVALID with field errors (field = the query key) for an unknown
 * group, a group named twice, a missing group or an empty option; CATALOG_NO_MATCH when an
 * option name is not one of its group's (no SKU has that combination).
 */
enum catalog_outcome catalog_match_sku(const struct catalog_product *p,
                                       const struct catalog_pick *picks, size_t npicks,
                                       struct catalog_sku *ret_sku, struct catalog_error *errs,
                                       size_t maxerr, size_t *nerr);

/* One node of a category tree to create, flattened in pre-order (a parent before its
 * children). @field is the node's JSON path ("children[0].children[1]"; "" for the root). */
struct catalog_tree_node {
    const char *name;
    int ordering;
    int parent; /* index of the parent node, -1 for the root */
    int depth;  /* 0 for the root */
    char field[96];
};

/*
 * Checks a tree to create: 1..CATALOG_MAX_TREE_NODES nodes, each a valid category
 * (catalog_validate_category), at most CATALOG_MAX_DEPTH levels, no two siblings with the same
 * name. Same error contract as catalog_validate_product.
 */
enum catalog_outcome catalog_validate_tree(const struct catalog_tree_node *nodes, size_t n,
                                           struct catalog_error *errs, size_t maxerr, size_t *nerr);

#endif
