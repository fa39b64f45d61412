/* `conjure <command> [options]`: a dispatch table over the subcommands in commands.h.
 * A new command (train, predict, ...) is one more file and one more row in `commands`. */
#include <stdio.h>
#include <string.h>

#include "conjure.h"
#include "commands.h"

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"bench", cj_cmd_bench, "time convolutions on a suite of layers (and against oneDNN / OpenBLAS)"},
    {"train", cj_cmd_train, "train a CNN on Fashion-MNIST with conjure's convolutions"},
    {"predict", cj_cmd_predict, "test accuracy and confusion matrix of weights saved by train --save"},
};
#define NUM_COMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *to)
{
    fprintf(to, "usage: conjure <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < NUM_COMMANDS; i++)
        fprintf(to, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(to, "\n  --help     this message (conjure <command> --help: the command's options)\n"
                "  --version  the library version\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *name = argv[1];
    if (!strcmp(name, "--help") || !strcmp(name, "-h") || !strcmp(name, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(name, "--version") || !strcmp(name, "-V")) {
        printf("conjure %d.%d.%d\n", CJ_VERSION_MAJOR, CJ_VERSION_MINOR, CJ_VERSION_PATCH);
        return 0;
    }
    for (size_t i = 0; i < NUM_COMMANDS; i++)
        if (!strcmp(name, commands[i].name))
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "conjure: unknown command '%s'\n\n", name);
    usage(stderr);
    return 2;
}
