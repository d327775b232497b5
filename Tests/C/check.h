/* The C tests' checks: CHECK counts a condition as passed or failed and prints a failure with the
 * library's last error; CHECK_STATUS compares a call's status with the one expected. Each test file
 * includes this once and prints `passed` and `failed` at the end. */
#ifndef SWIFTLET_TEST_CHECK_H
#define SWIFTLET_TEST_CHECK_H

#include "swiftlet.h"

#include <stdio.h>

static int passed = 0, failed = 0;

#define CHECK(cond, ...)                                                                                               \
    do {                                                                                                               \
        if (cond) {                                                                                                    \
            passed++;                                                                                                  \
        } else {                                                                                                       \
            failed++;                                                                                                  \
            fprintf(stderr, "FAIL %s:%d: %s — ", __FILE__, __LINE__, #cond);                                           \
            fprintf(stderr, __VA_ARGS__);                                                                              \
            fprintf(stderr, " (last error: %s)\n", swl_last_error());                                                  \
        }                                                                                                              \
    } while (0)

#define CHECK_STATUS(expr, want)                                                                                       \
    do {                                                                                                               \
        swl_status got_ = (expr);                                                                                      \
        CHECK(got_ == (want), "%s returned %s, expected %s", #expr, swl_status_name(got_), swl_status_name(want));     \
    } while (0)

#endif
