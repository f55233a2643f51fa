/* catalog.c - catalog domain rules: validation and SKU generation (pure, unit-tested). */
#include "catalog.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

struct errlist {
    struct catalog_error *errs;
    size_t max;
    size_t n;
};

static void add_err(struct errlist *el, const char *message, const char *field_fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void add_err(struct errlist *el, const char *message, const char *field_fmt, ...)
{
    va_list ap;

    if (el->n >= el->max) {
        el->n++;
        return;
    }
    va_start(ap, field_fmt);
    vsnprintf(el->errs[el->n].field, sizeof(el->errs[el->n].field), field_fmt, ap);
    va_end(ap);
    snprintf(el->errs[el->n].message, sizeof(el->errs[el->n].message), "%s", message);
    el->n++;
}

/* A required text: present, not blank, at most @max bytes. */
static void check_text(struct errlist *el, const char *s, size_t max, int required,
                       const char *field)
{
    size_t len;

    if (!s) {
        if (required)
            add_err(el, "must not be blank", "%s", field);
        return;
    }
    len = strlen(s);
    if (required && strspn(s, " \t\r\n") == len)
        add_err(el, "must not be blank", "%s", field);
    else if (len > max)
        add_err(el, "is too long", "%s", field);
}

enum catalog_outcome catalog_validate_product(const struct catalog_product *p,
                                              struct catalog_error *errs, size_t maxerr,
                                              size_t *nerr)
{
    struct errlist el = {errs, maxerr, 0};

    check_text(&el, p->name, CATALOG_MAX_NAME, 1, "name");
    check_text(&el, p->description, CATALOG_MAX_DESCRIPTION, 0, "description");
    check_text(&el, p->brand, CATALOG_MAX_BRAND, 0, "brand");
    if (p->thumbnail_url && catalog_check_url(p->thumbnail_url))
        add_err(&el, catalog_check_url(p->thumbnail_url), "thumbnailUrl");
    if (p->price <= 0 || p->price > CATALOG_MAX_PRICE)
        add_err(&el, "must be between 1 and 1000000000", "price");
    if (p->category_id <= 0)
        add_err(&el, "must be a positive id", "categoryId");
    if (p->initial_quantity < 0 || p->initial_quantity > CATALOG_MAX_QUANTITY)
        add_err(&el, "must be between 0 and 1000000000", "initialQuantity");
    if (p->ngroups > CATALOG_MAX_GROUPS)
        add_err(&el, "at most 5 option groups", "optionGroups");

    for (size_t g = 0; g < p->ngroups && g < CATALOG_MAX_GROUPS; g++) {
        const struct catalog_group *grp = &p->groups[g];
        char field[64];

        snprintf(field, sizeof(field), "optionGroups[%zu].name", g);
        check_text(&el, grp->name, CATALOG_MAX_NAME, 1, field);
        for (size_t h = 0; h < g; h++) {
            if (grp->name && p->groups[h].name && strcmp(grp->name, p->groups[h].name) == 0)
                add_err(&el, "duplicate option group name", "optionGroups[%zu].name", g);
        }
        if (grp->ordering < 0 || grp->ordering > CATALOG_MAX_ORDERING)
            add_err(&el, "must be between 0 and 100000", "optionGroups[%zu].ordering", g);
        if (grp->noptions == 0 || grp->noptions > CATALOG_MAX_OPTIONS)
            add_err(&el, "must have between 1 and 20 options", "optionGroups[%zu].options", g);
        for (size_t o = 0; o < grp->noptions && o < CATALOG_MAX_OPTIONS; o++) {
            const struct catalog_option *opt = &grp->options[o];

            snprintf(field, sizeof(field), "optionGroups[%zu].options[%zu].name", g, o);
            check_text(&el, opt->name, CATALOG_MAX_NAME, 1, field);
            for (size_t q = 0; q < o; q++) {
                if (opt->name && grp->options[q].name &&
                    strcmp(opt->name, grp->options[q].name) == 0)
                    add_err(&el, "duplicate option name", "%s", field);
            }
            if (opt->additional_price < -CATALOG_MAX_PRICE ||
                opt->additional_price > CATALOG_MAX_PRICE)
                add_err(&el, "must be between -1000000000 and 1000000000",
                        "optionGroups[%zu].options[%zu].additionalPrice", g, o);
        }
    }

    if (el.n == 0) {
        /* every SKU's price must be positive: check the cheapest combination */
        long long cheapest = p->price;
        for (size_t g = 0; g < p->ngroups; g++) {
            long long min = p->groups[g].options[0].additional_price;
            for (size_t o = 1; o < p->groups[g].noptions; o++) {
                if (p->groups[g].options[o].additional_price < min)
                    min = p->groups[g].options[o].additional_price;
            }
            cheapest += min;
        }
        if (cheapest <= 0)
            add_err(&el, "some option combination would have a price of zero or less",
                    "optionGroups");
    }
    *nerr = el.n < maxerr ? el.n : maxerr;
    if (el.n > 0)
        return CATALOG_INVALID;
    if (catalog_sku_count(p) > CATALOG_MAX_SKUS)
        return CATALOG_TOO_MANY_SKUS;
    return CATALOG_OK;
}

size_t catalog_sku_count(const struct catalog_product *p)
{
    size_t n = 1;

    for (size_t g = 0; g < p->ngroups && g < CATALOG_MAX_GROUPS; g++) {
        n *= p->groups[g].noptions;
        if (n > CATALOG_MAX_SKUS * 100) /* enough to say "too many" without overflow */
            return n;
    }
    return n;
}

size_t catalog_generate_skus(const struct catalog_product *p, struct catalog_sku *skus, size_t max)
{
    size_t total = catalog_sku_count(p);
    size_t idx[CATALOG_MAX_GROUPS] = {0};

    if (total > max)
        return 0;
    for (size_t n = 0; n < total; n++) {
        struct catalog_sku *s = &skus[n];

        s->price = p->price;
        for (size_t g = 0; g < p->ngroups; g++) {
            s->choice[g] = idx[g];
            s->price += p->groups[g].options[idx[g]].additional_price;
        }
        /* odometer: the last group varies fastest */
        for (size_t g = p->ngroups; g-- > 0;) {
            if (++idx[g] < p->groups[g].noptions)
                break;
            idx[g] = 0;
        }
    }
    return total;
}

void catalog_sku_code(const char *product_code, const struct catalog_product *p,
                      const struct catalog_sku *sku, char *out, size_t outlen)
{
    size_t pos = (size_t)snprintf(out, outlen, "%s", product_code);

    for (size_t g = 0; g < p->ngroups && pos < outlen; g++)
        pos += (size_t)snprintf(out + pos, outlen - pos, "-%zu", sku->choice[g] + 1);
}

void catalog_product_code(long long product_id, char *out, size_t outlen)
{
    snprintf(out, outlen, "P%08lld", product_id);
}

enum catalog_outcome catalog_validate_category(const char *name, int ordering,
                                               struct catalog_error *errs, size_t maxerr,
                                               size_t *nerr)
{
    struct errlist el = {errs, maxerr, 0};

    check_text(&el, name, CATALOG_MAX_NAME, 1, "name");
    if (ordering < 0 || ordering > CATALOG_MAX_ORDERING)
        add_err(&el, "must be between 0 and 100000", "ordering");
    *nerr = el.n < maxerr ? el.n : maxerr;
    return el.n ? CATALOG_INVALID : CATALOG_OK;
}

int catalog_status_parse(const char *s)
{
    if (s && strcmp(s, "ACTIVE") == 0)
        return CATALOG_ACTIVE;
    if (s && strcmp(s, "INACTIVE") == 0)
        return CATALOG_INACTIVE;
    return -1;
}

const char *catalog_status_name(enum catalog_status st)
{
    return st == CATALOG_INACTIVE ? "INACTIVE" : "ACTIVE";
}

static int is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int is_alnum(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

const char *catalog_check_url(const char *url)
{
    const char *s, *host, *end;
    size_t len = strlen(url);

    if (len > CATALOG_MAX_URL)
        return "is too long";
    if (strncasecmp(url, "http://", 7) == 0)
        s = url + 7;
    else if (strncasecmp(url, "https://", 8) == 0)
        s = url + 8;
    else
        return "must be an http or https URL";
    /* the authority: host[:port], no user info */
    host = s;
    end = s + strcspn(s, "/?#");
    if (memchr(host, '@', (size_t)(end - host)))
        return "must not contain user info";
    if (*s == '[') {
        s++;
        while (s < end && (is_hex(*s) || *s == ':' || *s == '.'))
            s++;
        if (s == host + 1 || s >= end || *s != ']')
            return "has an invalid host";
        s++;
    } else {
        while (s < end && (is_alnum(*s) || *s == '-' || *s == '.'))
            s++;
        if (s == host || host[0] == '.' || host[0] == '-')
            return "has an invalid host";
    }
    if (s < end && *s == ':') {
        long port = 0;
        const char *digits = ++s;
        while (s < end && *s >= '0' && *s <= '9' && port <= 65535)
            port = port * 10 + (*s++ - '0');
        if (s == digits || s != end || port < 1 || port > 65535)
            return "has an invalid port";
    }
    if (s != end)
        return "has an invalid host";
    /* path, query, fragment: RFC 3986 unreserved / reserved characters and %XX escapes */
    for (; *s; s++) {
        if (*s == '%') {
            if (!is_hex(s[1]) || !is_hex(s[2]))
                return "has a malformed percent-escape";
            s += 2;
        } else if (!is_alnum(*s) && !strchr("-._~:/?#[]@!$&'()*+,;=", *s)) {
            return "contains a character not allowed in a URL";
        }
    }
    return NULL;
}

enum catalog_outcome catalog_match_sku(const struct catalog_product *p,
                                       const struct catalog_pick *picks, size_t npicks,
                                       struct catalog_sku *ret_sku, struct catalog_error *errs,
                                       size_t maxerr, size_t *nerr)
{
    struct errlist el = {errs, maxerr, 0};
    struct catalog_sku sku = {0};
    size_t given[CATALOG_MAX_GROUPS] = {0};
    int no_match = 0;

    for (size_t i = 0; i < npicks; i++) {
        const struct catalog_pick *pk = &picks[i];
        size_t g = 0, o = 0;

        while (g < p->ngroups && strcmp(p->groups[g].name, pk->group) != 0)
            g++;
        if (g == p->ngroups) {
            add_err(&el, "is not an option group of this product", "%s", pk->group);
            continue;
        }
        if (given[g]++ == 1)
            add_err(&el, "must be given once", "%s", pk->group);
        if (!pk->option || !*pk->option) {
            add_err(&el, "must name an option", "%s", pk->group);
            continue;
        }
        while (o < p->groups[g].noptions && strcmp(p->groups[g].options[o].name, pk->option))
            o++;
        if (o == p->groups[g].noptions)
            no_match = 1;
        else
            sku.choice[g] = o;
    }
    for (size_t g = 0; g < p->ngroups; g++) {
        if (!given[g])
            add_err(&el, "is required: choose one option of every group", "%s", p->groups[g].name);
    }
    *nerr = el.n < maxerr ? el.n : maxerr;
    if (el.n > 0)
        return CATALOG_INVALID;
    if (no_match)
        return CATALOG_NO_MATCH;
    sku.price = p->price;
    for (size_t g = 0; g < p->ngroups; g++)
        sku.price += p->groups[g].options[sku.choice[g]].additional_price;
    *ret_sku = sku;
    return CATALOG_OK;
}

enum catalog_outcome catalog_validate_tree(const struct catalog_tree_node *nodes, size_t n,
                                           struct catalog_error *errs, size_t maxerr, size_t *nerr)
{
    struct errlist el = {errs, maxerr, 0};
    char field[128];

    if (n == 0 || n > CATALOG_MAX_TREE_NODES)
        add_err(&el, "a tree has between 1 and 100 categories", "children");
    for (size_t i = 0; i < n && i < CATALOG_MAX_TREE_NODES; i++) {
        const struct catalog_tree_node *nd = &nodes[i];
        const char *dot = nd->field[0] ? "." : "";

        snprintf(field, sizeof(field), "%s%sname", nd->field, dot);
        check_text(&el, nd->name, CATALOG_MAX_NAME, 1, field);
        if (nd->ordering < 0 || nd->ordering > CATALOG_MAX_ORDERING)
            add_err(&el, "must be between 0 and 100000", "%s%sordering", nd->field, dot);
        if (nd->depth >= CATALOG_MAX_DEPTH)
            add_err(&el, "categories nest at most 5 levels deep", "%s", nd->field);
        for (size_t j = 0; j < i; j++) {
            if (nodes[j].parent == nd->parent && nd->parent >= 0 && nd->name && nodes[j].name &&
                strcmp(nodes[j].name, nd->name) == 0) {
                add_err(&el, "duplicate name among siblings", "%s", field);
                break;
            }
        }
    }
    *nerr = el.n < maxerr ? el.n : maxerr;
    return el.n ? CATALOG_INVALID : CATALOG_OK;
}
