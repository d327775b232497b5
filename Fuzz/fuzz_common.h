/* Oracles shared by the C harnesses. Besides the sanitizers (a crash, an ASan or UBSan report, a Swift
 * trap), a harness fails when the library breaks its own contract: SWL_ERR_INTERNAL ("a bug in
 * Swiftlet"), a status the header does not define, or a failure without a message. */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

#include "swiftlet.h"

#include <stdio.h>
#include <stdlib.h>

static void fuzz_fail(const char *call, swl_status st, const char *why) {
    fprintf(stderr, "fuzz oracle: %s returned %s (%d): %s; last error: %s\n", call, swl_status_name(st), st, why,
            swl_last_error());
    abort();
}

/* Checks a status against the contract of swiftlet.h and returns it. */
static swl_status fuzz_check(swl_status st, const char *call) {
    const char *msg;
    if (st == SWL_OK) return st;
    if (st == SWL_ERR_INTERNAL) fuzz_fail(call, st, "internal error");
    if (st < 0 || st > SWL_ERR_CONTEXT_FULL) fuzz_fail(call, st, "status not defined by swiftlet.h");
    msg = swl_last_error();
    if (!msg || !msg[0]) fuzz_fail(call, st, "failure without a message");
    return st;
}

#define CHECKED(call) fuzz_check((call), #call)

#endif
