/* The subcommands of the `conjure` tool. Each one lives in its own file and takes the arguments
 * after its name (argv[0] is the command's name); it returns the process exit status. */
#ifndef CJ_TOOLS_COMMANDS_H
#define CJ_TOOLS_COMMANDS_H

int cj_cmd_bench(int argc, char **argv);
int cj_cmd_train(int argc, char **argv);
int cj_cmd_predict(int argc, char **argv);

#endif
