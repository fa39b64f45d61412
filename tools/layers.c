#include "layers.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NUM_INT_COLUMNS 13
static const char *const int_column_names[NUM_INT_COLUMNS] = {
    "N", "C", "H", "W", "K", "kh", "kw", "pad_h", "pad_w", "stride_h", "stride_w", "dil", "groups"};

/* Splits line in place at tabs; returns the number of fields (at most max). */
static int split_tabs(char *line, char **fields, int max)
{
    int n = 0;
    char *p = line;
    while (n < max) {
        fields[n++] = p;
        char *tab = strchr(p, '\t');
        if (!tab)
            break;
        *tab = '\0';
        p = tab + 1;
    }
    return n;
}

static int parse_int(const char *s, int64_t *v)
{
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (end == s || *end != '\0' || errno)
        return -1;
    *v = x;
    return 0;
}

static void copy_field(char *dst, size_t size, const char *src)
{
    snprintf(dst, size, "%s", src);
}

/* Fills l from the fields of one line; on error writes the reason to why and returns -1. */
static int parse_layer(char **fields, int nfields, bench_layer *l, char *why, size_t why_size)
{
    if (nfields < 1 + NUM_INT_COLUMNS) {
        snprintf(why, why_size, "%d tab-separated columns, expected %d or %d "
                 "(name N C H W K kh kw pad_h pad_w stride_h stride_w dil groups [note])",
                 nfields, 1 + NUM_INT_COLUMNS, 2 + NUM_INT_COLUMNS);
        return -1;
    }
    if (fields[0][0] == '\0' || strlen(fields[0]) >= sizeof l->name) {
        snprintf(why, why_size, "layer name must be 1 to %zu characters", sizeof l->name - 1);
        return -1;
    }
    copy_field(l->name, sizeof l->name, fields[0]);
    int64_t v[NUM_INT_COLUMNS];
    for (int i = 0; i < NUM_INT_COLUMNS; i++) {
        if (parse_int(fields[1 + i], &v[i]) != 0) {
            snprintf(why, why_size, "column %s: '%s' is not an integer", int_column_names[i], fields[1 + i]);
            return -1;
        }
        /* padding (columns 7, 8) may be 0, everything else must be >= 1 */
        int64_t min = (i == 7 || i == 8) ? 0 : 1;
        if (v[i] < min || v[i] > (1 << 20)) {
            snprintf(why, why_size, "column %s: %lld is out of range [%lld, %d]", int_column_names[i],
                     (long long)v[i], (long long)min, 1 << 20);
            return -1;
        }
    }
    l->n = v[0], l->c = v[1], l->h = v[2], l->w = v[3], l->k = v[4], l->kh = v[5], l->kw = v[6];
    l->pad_h = v[7], l->pad_w = v[8], l->stride_h = v[9], l->stride_w = v[10], l->dil = v[11];
    l->groups = v[12];
    copy_field(l->note, sizeof l->note, nfields > 1 + NUM_INT_COLUMNS ? fields[1 + NUM_INT_COLUMNS] : "");

    if (l->c % l->groups || l->k % l->groups) {
        snprintf(why, why_size, "groups=%lld must divide both C=%lld and K=%lld", (long long)l->groups,
                 (long long)l->c, (long long)l->k);
        return -1;
    }
    int64_t ext_h = l->dil * (l->kh - 1) + 1, ext_w = l->dil * (l->kw - 1) + 1;
    if (l->h + 2 * l->pad_h < ext_h || l->w + 2 * l->pad_w < ext_w) {
        snprintf(why, why_size, "the %lldx%lld kernel (dilation %lld) is larger than the padded %lldx%lld input",
                 (long long)l->kh, (long long)l->kw, (long long)l->dil, (long long)(l->h + 2 * l->pad_h),
                 (long long)(l->w + 2 * l->pad_w));
        return -1;
    }
    l->out_h = (l->h + 2 * l->pad_h - ext_h) / l->stride_h + 1;
    l->out_w = (l->w + 2 * l->pad_w - ext_w) / l->stride_w + 1;
    return 0;
}

int bench_layers_read(const char *path, bench_layer **out, size_t *count)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "conjure bench: cannot open layers file %s: %s\n", path, strerror(errno));
        return -1;
    }
    bench_layer *layers = NULL;
    size_t n = 0, cap = 0;
    char line[1024];
    int lineno = 0, ok = 1;
    while (ok && fgets(line, sizeof line, f)) {
        lineno++;
        size_t len = strlen(line);
        if (len == sizeof line - 1 && line[len - 1] != '\n') {
            fprintf(stderr, "%s:%d: line longer than %zu characters\n", path, lineno, sizeof line - 2);
            ok = 0;
            break;
        }
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (line[strspn(line, " \t")] == '\0' || line[0] == '#')
            continue;
        if (n == cap) {
            size_t ncap = cap ? 2 * cap : 32;
            bench_layer *grown = realloc(layers, ncap * sizeof *layers);
            if (!grown) {
                fprintf(stderr, "%s:%d: out of memory\n", path, lineno);
                ok = 0;
                break;
            }
            layers = grown, cap = ncap;
        }
        char *fields[2 + NUM_INT_COLUMNS];
        int nfields = split_tabs(line, fields, 2 + NUM_INT_COLUMNS);
        char why[256];
        if (parse_layer(fields, nfields, &layers[n], why, sizeof why) != 0) {
            fprintf(stderr, "%s:%d: %s\n", path, lineno, why);
            ok = 0;
            break;
        }
        n++;
    }
    if (ok && ferror(f)) {
        fprintf(stderr, "conjure bench: error reading %s\n", path);
        ok = 0;
    }
    fclose(f);
    if (ok && n == 0) {
        fprintf(stderr, "%s: no layers in the file\n", path);
        ok = 0;
    }
    if (!ok) {
        free(layers);
        return -1;
    }
    *out = layers;
    *count = n;
    return 0;
}

double bench_layer_flops(const bench_layer *l)
{
    return 2.0 * (double)l->n * (double)l->k * (double)(l->c / l->groups) * (double)l->kh * (double)l->kw *
           (double)l->out_h * (double)l->out_w;
}

/* The sizes are small (each extent <= 2^20 and checked above), and the product fits a size_t on
 * the 64-bit machines this benchmark runs on. */
size_t bench_elems_input(const bench_layer *l)
{
    return (size_t)l->n * (size_t)l->c * (size_t)l->h * (size_t)l->w;
}

size_t bench_elems_weight(const bench_layer *l)
{
    return (size_t)l->k * (size_t)(l->c / l->groups) * (size_t)l->kh * (size_t)l->kw;
}

size_t bench_elems_output(const bench_layer *l)
{
    return (size_t)l->n * (size_t)l->k * (size_t)l->out_h * (size_t)l->out_w;
}
