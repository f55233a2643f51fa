/* test_catalog.c - catalog domain rules: validation and SKU generation (no I/O). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../src/catalog.h"

static struct catalog_product shirt(void)
{
    struct catalog_product p = {
        .name = "Shirt",
        .price = 10000,
        .category_id = 1,
        .ngroups = 2,
        .groups =
            {{.name = "Color",
              .ordering = 1,
              .noptions = 3,
              .options = {{"Red", 0}, {"Blue", 500}, {"Black", 1000}}},
             {.name = "Size", .ordering = 2, .noptions = 2, .options = {{"M", 0}, {"L", 2000}}}},
    };
    return p;
}

static void test_three_by_two_gives_six_priced_skus(void **state)
{
    struct catalog_product p = shirt();
    struct catalog_error errs[8];
    struct catalog_sku skus[16];
    size_t nerr;
    char codes[6][32];
    const long long want[6] = {10000, 12000, 10500, 12500, 11000, 13000};

    (void)state;
    assert_int_equal(catalog_validate_product(&p, errs, 8, &nerr), CATALOG_OK);
    assert_int_equal(catalog_sku_count(&p), 6);
    assert_int_equal(catalog_generate_skus(&p, skus, 16), 6);
    for (size_t i = 0; i < 6; i++) {
        assert_int_equal(skus[i].price, want[i]);
        catalog_sku_code("P00000007", &p, &skus[i], codes[i], sizeof(codes[i]));
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(codes[i], codes[j]);
    }
    assert_string_equal(codes[0], "P00000007-1-1");
    assert_string_equal(codes[5], "P00000007-3-2");
}

static void test_no_groups_one_sku(void **state)
{
    struct catalog_product p = {.name = "Mug", .price = 3000, .category_id = 2};
    struct catalog_error errs[4];
    struct catalog_sku skus[2];
    size_t nerr;
    char code[32];

    (void)state;
    assert_int_equal(catalog_validate_product(&p, errs, 4, &nerr), CATALOG_OK);
    assert_int_equal(catalog_generate_skus(&p, skus, 2), 1);
    assert_int_equal(skus[0].price, 3000);
    catalog_sku_code("P00000001", &p, &skus[0], code, sizeof(code));
    assert_string_equal(code, "P00000001");
}

static int has_field(const struct catalog_error *errs, size_t n, const char *field)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(errs[i].field, field) == 0)
            return 1;
    }
    return 0;
}

static void test_invalid_values_name_each_field(void **state)
{
    struct catalog_product p = shirt();
    struct catalog_error errs[16];
    size_t nerr;

    (void)state;
    p.name = "   ";
    p.price = -5;
    p.category_id = 0;
    p.initial_quantity = -1;
    p.groups[0].options[1].name = "Red"; /* duplicate */
    p.groups[1].noptions = 0;
    assert_int_equal(catalog_validate_product(&p, errs, 16, &nerr), CATALOG_INVALID);
    assert_true(has_field(errs, nerr, "name"));
    assert_true(has_field(errs, nerr, "price"));
    assert_true(has_field(errs, nerr, "categoryId"));
    assert_true(has_field(errs, nerr, "initialQuantity"));
    assert_true(has_field(errs, nerr, "optionGroups[0].options[1].name"));
    assert_true(has_field(errs, nerr, "optionGroups[1].options"));
}

static void test_non_positive_combination_refused(void **state)
{
    struct catalog_product p = shirt();
    struct catalog_error errs[4];
    size_t nerr;

    (void)state;
    p.groups[0].options[0].additional_price = -10000; /* Red + M = 0 */
    assert_int_equal(catalog_validate_product(&p, errs, 4, &nerr), CATALOG_INVALID);
    assert_string_equal(errs[0].field, "optionGroups");
}

static void test_too_many_combinations(void **state)
{
    struct catalog_product p = {.name = "Matrix", .price = 1, .category_id = 1, .ngroups = 3};
    struct catalog_error errs[4];
    static char names[20][4];
    size_t nerr;

    (void)state;
    for (size_t g = 0; g < 3; g++) {
        p.groups[g].name = g == 0 ? "A" : g == 1 ? "B" : "C";
        p.groups[g].noptions = 10;
        for (size_t o = 0; o < 10; o++) {
            snprintf(names[o], sizeof(names[o]), "o%zu", o);
            p.groups[g].options[o].name = names[o];
        }
    }
    assert_int_equal(catalog_sku_count(&p), 1000);
    assert_int_equal(catalog_validate_product(&p, errs, 4, &nerr), CATALOG_TOO_MANY_SKUS);
}

static void test_category_rules(void **state)
{
    struct catalog_error errs[4];
    size_t nerr;

    (void)state;
    assert_int_equal(catalog_validate_category("Shoes", 0, errs, 4, &nerr), CATALOG_OK);
    assert_int_equal(catalog_validate_category("", -1, errs, 4, &nerr), CATALOG_INVALID);
    assert_int_equal(nerr, 2);
    assert_int_equal(catalog_validate_category(NULL, 1, errs, 4, &nerr), CATALOG_INVALID);
}

static void test_product_code(void **state)
{
    char code[16];

    (void)state;
    catalog_product_code(42, code, sizeof(code));
    assert_string_equal(code, "P00000042");
}

static void test_match_sku_by_option_names(void **state)
{
    struct catalog_product p = shirt();
    struct catalog_error errs[8];
    struct catalog_sku sku = {{0}, 0};
    size_t nerr;
    const struct catalog_pick picks[] = {{"Size", "L"}, {"Color", "Blue"}};
    char code[32];

    (void)state;
    /* the order of the query does not matter */
    assert_int_equal(catalog_match_sku(&p, picks, 2, &sku, errs, 8, &nerr), CATALOG_OK);
    assert_int_equal(nerr, 0);
    assert_int_equal(sku.choice[0], 1);
    assert_int_equal(sku.choice[1], 1);
    assert_int_equal(sku.price, 12500);
    catalog_sku_code("P00000001", &p, &sku, code, sizeof(code));
    assert_string_equal(code, "P00000001-2-2");
}

static void test_match_sku_refuses_bad_queries(void **state)
{
    struct catalog_product p = shirt();
    struct catalog_error errs[8];
    struct catalog_sku sku = {{0}, 0};
    size_t nerr;
    const struct catalog_pick unknown_option[] = {{"Color", "Green"}, {"Size", "M"}};
    const struct catalog_pick unknown_group[] = {{"Color", "Red"}, {"Size", "M"}, {"Fit", "x"}};
    const struct catalog_pick repeated[] = {{"Color", "Red"}, {"Size", "M"}, {"Color", "Blue"}};
    const struct catalog_pick missing[] = {{"Color", "Red"}};
    const struct catalog_pick empty[] = {{"Color", ""}, {"Size", NULL}};
    const struct catalog_pick wrong_case[] = {{"color", "Red"}, {"Size", "M"}};

    (void)state;
    assert_int_equal(catalog_match_sku(&p, unknown_option, 2, &sku, errs, 8, &nerr),
                     CATALOG_NO_MATCH);
    assert_int_equal(sku.price, 0); /* untouched on failure */
    assert_int_equal(catalog_match_sku(&p, unknown_group, 3, &sku, errs, 8, &nerr),
                     CATALOG_INVALID);
    assert_int_equal(nerr, 1);
    assert_string_equal(errs[0].field, "Fit");
    assert_int_equal(catalog_match_sku(&p, repeated, 3, &sku, errs, 8, &nerr), CATALOG_INVALID);
    assert_int_equal(nerr, 1);
    assert_string_equal(errs[0].field, "Color");
    assert_int_equal(catalog_match_sku(&p, missing, 1, &sku, errs, 8, &nerr), CATALOG_INVALID);
    assert_int_equal(nerr, 1);
    assert_string_equal(errs[0].field, "Size");
    assert_int_equal(catalog_match_sku(&p, empty, 2, &sku, errs, 8, &nerr), CATALOG_INVALID);
    assert_int_equal(nerr, 2);
    assert_int_equal(catalog_match_sku(&p, wrong_case, 2, &sku, errs, 8, &nerr), CATALOG_INVALID);
    assert_int_equal(nerr, 2); /* "color" unknown, "Color" missing */
    assert_int_equal(catalog_match_sku(&p, NULL, 0, &sku, errs, 8, &nerr), CATALOG_INVALID);
    assert_int_equal(nerr, 2);
}

static void test_match_sku_without_groups(void **state)
{
    struct catalog_product p = {.name = "Mug", .price = 3000, .category_id = 1};
    const struct catalog_pick picks[] = {{"Color", "Red"}};
    struct catalog_error errs[4];
    struct catalog_sku sku;
    size_t nerr;

    (void)state;
    assert_int_equal(catalog_match_sku(&p, NULL, 0, &sku, errs, 4, &nerr), CATALOG_OK);
    assert_int_equal(sku.price, 3000);
    assert_int_equal(catalog_match_sku(&p, picks, 1, &sku, errs, 4, &nerr), CATALOG_INVALID);
}

static void test_thumbnail_urls(void **state)
{
    static const char *const good[] = {
        "https://cdn.example.com/img/shirt.png",
        "http://example.com",
        "HTTPS://Example.COM:8443/a%20b.jpg?w=200&h=200#top",
        "http://[::1]:8080/x",
        "https://img.example.com/~user/a(1).webp",
    };
    static const char *const bad[] = {
        "",
        "ftp://example.com/a.png",
        "javascript:alert(1)",
        "https://",
        "https:///path",
        "https://user:pw@example.com/a.png",
        "https://example.com:0/a",
        "https://example.com:99999/a",
        "https://example.com:/a",
        "https://exa mple.com/a",
        "https://example.com/a b.png",
        "https://example.com/a%zz",
        "https://example.com/a%2",
        "https://example.com/\x3c",
        "https://example.com/caf\xc3\xa9",
        "https://example.com/a\nb",
        "https://[::1/a",
        "https://-example.com/",
        "//example.com/a.png",
    };
    char longurl[CATALOG_MAX_URL + 2];

    (void)state;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        if (catalog_check_url(good[i]))
            fail_msg("'%s' refused: %s", good[i], catalog_check_url(good[i]));
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (!catalog_check_url(bad[i]))
            fail_msg("'%s' accepted", bad[i]);
    }
    memset(longurl, 'a', sizeof(longurl) - 1);
    longurl[sizeof(longurl) - 1] = '\0';
    memcpy(longurl, "https://e.com/", 14);
    assert_string_equal(catalog_check_url(longurl), "is too long");
    longurl[CATALOG_MAX_URL] = '\0';
    assert_null(catalog_check_url(longurl));
}

static void test_status_names(void **state)
{
    (void)state;
    assert_int_equal(catalog_status_parse("ACTIVE"), CATALOG_ACTIVE);
    assert_int_equal(catalog_status_parse("INACTIVE"), CATALOG_INACTIVE);
    assert_int_equal(catalog_status_parse("inactive"), -1);
    assert_int_equal(catalog_status_parse("DELETED"), -1);
    assert_int_equal(catalog_status_parse(NULL), -1);
    assert_string_equal(catalog_status_name(CATALOG_INACTIVE), "INACTIVE");
}

static void test_tree_rules(void **state)
{
    struct catalog_tree_node nodes[CATALOG_MAX_TREE_NODES + 1];
    struct catalog_error errs[8];
    size_t nerr;

    (void)state;
    memset(nodes, 0, sizeof(nodes));
    /* Fashion > {Men > Shoes, Women} */
    nodes[0] = (struct catalog_tree_node){"Fashion", 0, -1, 0, ""};
    nodes[1] = (struct catalog_tree_node){"Men", 1, 0, 1, "children[0]"};
    nodes[2] = (struct catalog_tree_node){"Shoes", 0, 1, 2, "children[0].children[0]"};
    nodes[3] = (struct catalog_tree_node){"Women", 2, 0, 1, "children[1]"};
    assert_int_equal(catalog_validate_tree(nodes, 4, errs, 8, &nerr), CATALOG_OK);
    assert_int_equal(nerr, 0);

    /* the same name under different parents is fine, under one parent not */
    nodes[3].name = "Shoes";
    assert_int_equal(catalog_validate_tree(nodes, 4, errs, 8, &nerr), CATALOG_OK);
    nodes[3].name = "Men";
    assert_int_equal(catalog_validate_tree(nodes, 4, errs, 8, &nerr), CATALOG_INVALID);
    assert_int_equal(nerr, 1);
    assert_string_equal(errs[0].field, "children[1].name");
    nodes[3].name = "Women";

    /* blank names, bad ordering, too deep */
    nodes[2].name = " ";
    nodes[1].ordering = -1;
    nodes[3].depth = CATALOG_MAX_DEPTH;
    assert_int_equal(catalog_validate_tree(nodes, 4, errs, 8, &nerr), CATALOG_INVALID);
    assert_int_equal(nerr, 3);
    assert_string_equal(errs[0].field, "children[0].ordering");
    assert_string_equal(errs[1].field, "children[0].children[0].name");
    assert_string_equal(errs[2].field, "children[1]");
    nodes[0].name = NULL;
    assert_int_equal(catalog_validate_tree(nodes, 1, errs, 8, &nerr), CATALOG_INVALID);
    assert_string_equal(errs[0].field, "name");

    /* size caps */
    assert_int_equal(catalog_validate_tree(nodes, 0, errs, 8, &nerr), CATALOG_INVALID);
    for (size_t i = 0; i <= CATALOG_MAX_TREE_NODES; i++) {
        nodes[i] = (struct catalog_tree_node){"n", 0, i ? 0 : -1, i ? 1 : 0, ""};
        snprintf(nodes[i].field, sizeof(nodes[i].field), "children[%zu]", i);
    }
    assert_int_equal(catalog_validate_tree(nodes, CATALOG_MAX_TREE_NODES + 1, errs, 8, &nerr),
                     CATALOG_INVALID);
    assert_string_equal(errs[0].field, "children");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_three_by_two_gives_six_priced_skus),
        cmocka_unit_test(test_no_groups_one_sku),
        cmocka_unit_test(test_invalid_values_name_each_field),
        cmocka_unit_test(test_non_positive_combination_refused),
        cmocka_unit_test(test_too_many_combinations),
        cmocka_unit_test(test_category_rules),
        cmocka_unit_test(test_product_code),
        cmocka_unit_test(test_match_sku_by_option_names),
        cmocka_unit_test(test_match_sku_refuses_bad_queries),
        cmocka_unit_test(test_match_sku_without_groups),
        cmocka_unit_test(test_thumbnail_urls),
        cmocka_unit_test(test_status_names),
        cmocka_unit_test(test_tree_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
