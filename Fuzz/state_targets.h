/* The streams fuzz_state feeds states to, and fuzz_state_seeds saves its seeds from: byte 0 of an
 * input indexes this table. */
#ifndef STATE_TARGETS_H
#define STATE_TARGETS_H

#include "swiftlet.h"

static const struct {
    const char *file;
    int32_t kind;
} targets[] = {
    {"test.swl", SWL_STREAM_FRAMES},       {"lmu-test.swl", SWL_STREAM_FRAMES}, {"slmu-ms-test.swl", SWL_STREAM_FRAMES},
    {"audio-demo.swl", SWL_STREAM_FRAMES}, {"audio-demo.swl", SWL_STREAM_PCM},
};
#define N_TARGETS (sizeof targets / sizeof targets[0])

#endif
