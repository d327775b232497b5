/* libFuzzer harness: bytes as an image file through the tool's PNG/JPEG decoder (swi_decode in
 * Sources/CSwiftletImageIO, libpng and libjpeg-turbo behind their longjmp error handlers). It must
 * return an image or a message, never crash, leak or touch memory it does not own. Built with a low
 * pixel bound (-DSWI_MAX_PIXELS) so that a large declared size is refused quickly, not decoded.
 *
 * Input: the bytes of a file, as is — a crash file is an image file (`swiftlet run M --image` reads it). */
#include "swiftlet_image_io.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    swi_image image;
    char message[256];
    if (swi_decode(data, size, &image, message, sizeof message) == 0) {
        size_t i, n = (size_t)image.width * image.height * 3;
        unsigned sum = 0;
        if (!image.rgb || image.width == 0 || image.height == 0) {
            fprintf(stderr, "fuzz oracle: success without pixels\n");
            abort();
        }
        for (i = 0; i < n; i += 61) sum += image.rgb[i]; /* every row is there (ASan checks the bounds) */
        sum += image.rgb[n - 1];
        swi_image_free(&image);
        if (image.rgb) abort();
        (void)sum;
    } else if (image.rgb != NULL || message[0] == 0) {
        fprintf(stderr, "fuzz oracle: failure with pixels or without a message\n");
        abort();
    }
    return 0;
}
