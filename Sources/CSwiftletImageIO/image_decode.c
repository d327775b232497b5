/* PNG (libpng) and JPEG (libjpeg-turbo) decoding to RGB8; see swiftlet_image_io.h for what the pixels
 * are. Both libraries report errors through callbacks that must not return; they jump back here with
 * longjmp, so every pointer a decoder allocates after its setjmp is volatile and freed on both paths. */
#include "swiftlet_image_io.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>
#include <png.h>

static void say(char *message, size_t size, const char *format, ...) {
    va_list args;
    if (!message || size == 0) return;
    va_start(args, format);
    vsnprintf(message, size, format, args);
    va_end(args);
}

/* Bounds every decoder checks before allocating pixels. */
static int size_ok(uint32_t width, uint32_t height, char *message, size_t size) {
    if (width == 0 || height == 0) {
        say(message, size, "the image is %ux%u pixels", width, height);
        return 0;
    }
    if (width > SWI_MAX_SIDE || height > SWI_MAX_SIDE || (uint64_t)width * height > SWI_MAX_PIXELS) {
        say(message, size, "the image is %ux%u pixels; at most %u per side and %llu in all are supported", width,
            height, SWI_MAX_SIDE, (unsigned long long)SWI_MAX_PIXELS);
        return 0;
    }
    return 1;
}

/* Rows of `channels` bytes per pixel (1 grey, 2 grey+alpha, 3 RGB, 4 RGBA) to packed RGB. */
static void to_rgb(const uint8_t *src, int channels, uint8_t *dst, size_t pixels) {
    size_t i;
    for (i = 0; i < pixels; i++, src += channels, dst += 3) {
        if (channels <= 2) {
            dst[0] = dst[1] = dst[2] = src[0];
        } else {
            dst[0] = src[0];
            dst[1] = src[1];
            dst[2] = src[2];
        }
    }
}

/* ---- PNG ------------------------------------------------------------------------------------ */

typedef struct {
    const uint8_t *data;
    size_t size, pos;
    jmp_buf jump;
    char reason[256];
} png_source;

static void png_failed(png_structp png, png_const_charp text) {
    png_source *src = (png_source *)png_get_error_ptr(png);
    snprintf(src->reason, sizeof src->reason, "%s", text ? text : "unknown libpng error");
    longjmp(src->jump, 1);
}

/* Warnings concern ancillary data (a bad ICC profile, a damaged text chunk) that does not change the
 * pixels; damage to the image itself is an error. */
static void png_warned(png_structp png, png_const_charp text) {
    (void)png;
    (void)text;
}

static void png_read_bytes(png_structp png, png_bytep out, size_t n) {
    png_source *src = (png_source *)png_get_io_ptr(png);
    if (n > src->size - src->pos) png_error(png, "the file ends early (truncated)");
    memcpy(out, src->data + src->pos, n);
    src->pos += n;
}

static int decode_png(const uint8_t *data, size_t size, swi_image *out, char *message, size_t message_size) {
    png_source src;
    png_structp png;
    png_infop info;
    uint8_t *volatile pixels = NULL;
    png_bytep *volatile rows = NULL;
    uint8_t *volatile rgb = NULL;
    png_uint_32 width, height, y;
    int depth, color, channels;
    size_t row_bytes;

    memset(&src, 0, sizeof src);
    src.data = data;
    src.size = size;
    png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, png_failed, png_warned);
    info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_read_struct(png ? &png : NULL, NULL, NULL);
        say(message, message_size, "out of memory starting libpng");
        return -1;
    }
    if (setjmp(src.jump)) {
        free(pixels);
        free(rows);
        free(rgb);
        png_destroy_read_struct(&png, &info, NULL);
        say(message, message_size, "damaged PNG: %s", src.reason);
        return -1;
    }
    png_set_read_fn(png, &src, png_read_bytes);
    /* The library's own bound is 1,000,000 per side; ours is lower and says so (below). */
    png_set_user_limits(png, 0x7fffffffL, 0x7fffffffL);
    png_read_info(png, info);
    png_get_IHDR(png, info, &width, &height, &depth, &color, NULL, NULL, NULL);
    if (!size_ok(width, height, message, message_size)) {
        png_destroy_read_struct(&png, &info, NULL);
        return -1;
    }
    if (depth == 16 && (color == PNG_COLOR_TYPE_GRAY)) {
        png_destroy_read_struct(&png, &info, NULL);
        say(message, message_size,
            "16-bit greyscale PNG is not supported: Pillow (timm's loader) clips it to white; save it with 8 bits");
        return -1;
    }
    if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (depth == 16) png_set_strip_16(png); /* the high byte, as Pillow's 16-bit unpackers take */
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    channels = png_get_channels(png, info);
    row_bytes = png_get_rowbytes(png, info);
    if (png_get_bit_depth(png, info) != 8 || channels < 1 || channels > 4 || row_bytes != (size_t)width * channels) {
        png_error(png, "unexpected sample layout after expansion");
    }
    pixels = malloc(row_bytes * height);
    rows = malloc(sizeof(png_bytep) * height);
    rgb = malloc((size_t)width * height * 3);
    if (!pixels || !rows || !rgb) png_error(png, "out of memory for the pixels");
    for (y = 0; y < height; y++) rows[y] = pixels + y * row_bytes;
    png_read_image(png, rows);
    png_read_end(png, NULL); /* the chunks after the image, their CRCs and IEND */
    to_rgb(pixels, channels, rgb, (size_t)width * height);
    out->rgb = rgb;
    out->width = width;
    out->height = height;
    free(pixels);
    free(rows);
    png_destroy_read_struct(&png, &info, NULL);
    return 0;
}

/* ---- JPEG ----------------------------------------------------------------------------------- */

typedef struct {
    struct jpeg_error_mgr base;
    jmp_buf jump;
    char reason[JMSG_LENGTH_MAX];
} jpeg_failure;

static void jpeg_failed(j_common_ptr cinfo) {
    jpeg_failure *f = (jpeg_failure *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, f->reason);
    longjmp(f->jump, 1);
}

/* libjpeg only warns about damaged data (a truncated file is padded with grey): those warnings are
 * errors here. Warnings about metadata alone do not stop the decoding. */
static void jpeg_noted(j_common_ptr cinfo, int level) {
    if (level >= 0) return; /* trace messages */
    switch (cinfo->err->msg_code) {
    case JWRN_EXTRANEOUS_DATA: /* bytes between markers, outside the image data */
    case JWRN_JFIF_MAJOR:
    case JWRN_BOGUS_ICC: cinfo->err->num_warnings++; return;
    default: jpeg_failed(cinfo);
    }
}

static int decode_jpeg(const uint8_t *data, size_t size, swi_image *out, char *message, size_t message_size) {
    struct jpeg_decompress_struct cinfo;
    jpeg_failure failure;
    uint8_t *volatile rgb = NULL;
    uint8_t *volatile grey = NULL;
    JSAMPROW row;

    memset(&cinfo, 0, sizeof cinfo);
    cinfo.err = jpeg_std_error(&failure.base);
    failure.base.error_exit = jpeg_failed;
    failure.base.emit_message = jpeg_noted;
    if (setjmp(failure.jump)) {
        free(rgb);
        free(grey);
        jpeg_destroy_decompress(&cinfo);
        say(message, message_size, "damaged JPEG: %s", failure.reason);
        return -1;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);
    if (!size_ok(cinfo.image_width, cinfo.image_height, message, message_size)) {
        jpeg_destroy_decompress(&cinfo);
        return -1;
    }
    if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) {
        jpeg_destroy_decompress(&cinfo);
        say(message, message_size, "CMYK JPEG is not supported; convert the image to RGB");
        return -1;
    }
    if (cinfo.jpeg_color_space == JCS_GRAYSCALE && cinfo.num_components == 1) {
        cinfo.out_color_space = JCS_GRAYSCALE;
    } else if ((cinfo.jpeg_color_space == JCS_YCbCr || cinfo.jpeg_color_space == JCS_RGB) &&
               cinfo.num_components == 3) {
        cinfo.out_color_space = JCS_RGB;
    } else {
        jpeg_destroy_decompress(&cinfo);
        say(message, message_size, "JPEG with %d components in colour space %d is not supported", cinfo.num_components,
            (int)cinfo.jpeg_color_space);
        return -1;
    }
    jpeg_start_decompress(&cinfo);
    if (cinfo.output_components != cinfo.num_components) ERREXIT(&cinfo, JERR_BAD_IN_COLORSPACE);
    rgb = malloc((size_t)cinfo.output_width * cinfo.output_height * 3);
    if (cinfo.output_components == 1) grey = malloc(cinfo.output_width);
    if (!rgb || (cinfo.output_components == 1 && !grey)) ERREXIT1(&cinfo, JERR_OUT_OF_MEMORY, 0);
    while (cinfo.output_scanline < cinfo.output_height) {
        uint8_t *dst = rgb + (size_t)cinfo.output_scanline * cinfo.output_width * 3;
        row = grey ? grey : dst;
        if (jpeg_read_scanlines(&cinfo, &row, 1) != 1) ERREXIT(&cinfo, JERR_INPUT_EOF);
        if (grey) to_rgb(grey, 1, dst, cinfo.output_width);
    }
    jpeg_finish_decompress(&cinfo);
    out->rgb = rgb;
    out->width = cinfo.output_width;
    out->height = cinfo.output_height;
    free(grey);
    jpeg_destroy_decompress(&cinfo);
    return 0;
}

/* ---- entry points --------------------------------------------------------------------------- */

int swi_decode(const uint8_t *data, size_t size, swi_image *out, char *message, size_t message_size) {
    static const uint8_t png_magic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (message && message_size) message[0] = 0;
    if (!out) {
        say(message, message_size, "no output image");
        return -1;
    }
    out->rgb = NULL;
    out->width = out->height = 0;
    if (!data || size == 0) {
        say(message, message_size, "the file is empty");
        return -1;
    }
    if (size >= 8 && memcmp(data, png_magic, 8) == 0) return decode_png(data, size, out, message, message_size);
    if (size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF)
        return decode_jpeg(data, size, out, message, message_size);
    if (size >= 6 && (memcmp(data, "GIF87a", 6) == 0 || memcmp(data, "GIF89a", 6) == 0))
        say(message, message_size, "a GIF image; only PNG and JPEG files are supported");
    else if (size >= 12 && memcmp(data, "RIFF", 4) == 0 && memcmp(data + 8, "WEBP", 4) == 0)
        say(message, message_size, "a WebP image; only PNG and JPEG files are supported");
    else if (size >= 2 && data[0] == 'B' && data[1] == 'M')
        say(message, message_size, "a BMP image; only PNG and JPEG files are supported");
    else
        say(message, message_size, "not a PNG or JPEG file");
    return -1;
}

void swi_image_free(swi_image *image) {
    if (!image) return;
    free(image->rgb);
    image->rgb = NULL;
}
