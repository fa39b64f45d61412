/* Replays fuzz inputs without libFuzzer: every file named on the command line, or found in a
 * directory named there, goes once through LLVMFuzzerTestOneInput. This is how the corpus and
 * every crash found (tests/fuzz/regressions) run as a ctest in every build, gcc or clang. */
#define _XOPEN_SOURCE 700
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static long g_inputs;

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "fuzz replay: cannot open %s\n", path);
        return 0;
    }
    uint8_t buf[1 << 16];
    const size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    LLVMFuzzerTestOneInput(buf, n); /* a failure aborts, naming the call */
    g_inputs++;
    return 1;
}

static int replay(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) return 1; /* a directory that does not exist yet: nothing to replay */
    if (!S_ISDIR(st.st_mode)) return replay_file(path);
    DIR *d = opendir(path);
    if (!d) return 0;
    int ok = 1;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        char full[4096];
        snprintf(full, sizeof full, "%s/%s", path, e->d_name);
        ok &= replay(full);
    }
    closedir(d);
    return ok;
}

int main(int argc, char **argv)
{
    int ok = 1;
    for (int i = 1; i < argc; i++) ok &= replay(argv[i]);
    printf("fuzz replay: %ld inputs, every call correct\n", g_inputs);
    printf("%ld passed, %d failed\n", g_inputs, ok ? 0 : 1);
    return ok && g_inputs > 0 ? 0 : 1;
}
