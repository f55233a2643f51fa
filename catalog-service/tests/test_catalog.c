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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
