/* Decoding PNG and JPEG files into 8-bit RGB, for the swiftlet tool only: the library takes decoded
 * pixels and links neither libpng nor libjpeg.
 *
 * The pixels are what timm's loader makes of the file, Pillow's Image.open(f).convert("RGB"):
 * - PNG: 8-bit RGB as stored; grey (1, 2, 4, 8 bits, scaled to 0..255) copied to R, G and B; palette
 *   colours looked up; alpha, and tRNS transparency, dropped (not composited); 16-bit samples reduced
 *   to their high byte; interlaced images de-interlaced. 16-bit greyscale is refused: Pillow clips it
 *   to 255 (the image comes out white), so no decoding of it would match what timm sees.
 * - JPEG: YCbCr or RGB, greyscale copied to R, G and B, with libjpeg's default (accurate integer) IDCT
 *   and smooth chroma upsampling, as Pillow decodes. CMYK and YCCK are refused.
 * - EXIF orientation is ignored, as Pillow's Image.open and timm's loader ignore it.
 * - A damaged file is an error, never a crash or a silently grey image: truncated data, bad CRCs,
 *   corrupt compressed data (libjpeg's "premature end" and corrupt-data warnings included), zero or
 *   absurd dimensions. Sizes are bounded before any pixel memory is allocated.
 */
#ifndef SWIFTLET_IMAGE_IO_H
#define SWIFTLET_IMAGE_IO_H

#include <stddef.h>
#include <stdint.h>

/* Largest side (the library's limit) and pixel count (Pillow's decompression-bomb limit, twice
 * Image.MAX_IMAGE_PIXELS) a file may declare. */
#define SWI_MAX_SIDE 65535u
#ifndef SWI_MAX_PIXELS /* the fuzzer builds with a lower bound */
#define SWI_MAX_PIXELS 178956970ull
#endif

typedef struct swi_image {
    uint8_t *rgb; /* height rows of width * 3 bytes, packed; malloc'ed, free with swi_image_free */
    uint32_t width;
    uint32_t height;
} swi_image;

/* Decodes `size` bytes of a PNG or JPEG file. Returns 0 and fills *out, or -1 with out->rgb NULL and
 * a one-line reason in `message` (NUL-terminated, at most message_size bytes). Prints nothing, never
 * exits; safe to call from several threads at once. */
int swi_decode(const uint8_t *data, size_t size, swi_image *out, char *message, size_t message_size);

void swi_image_free(swi_image *image);

#endif
