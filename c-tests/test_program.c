/* The program channel through the C header: a host with Falco-like signal handling (SIGPIPE at
 * its default, which kills; a SIGUSR1 handler calling falco_outputs_reopen) feeds `cat`,
 * reopens, and survives a program that exits without reading its input. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "falco_outputs.h"

#include "test_util.h"

static falco_outputs *g_outputs;
static void on_usr1(int sig) {
    (void)sig;
    falco_outputs_reopen(g_outputs); /* async-signal-safe by contract */
}

static void quiet_log(void *ud, int32_t level, const char *msg) {
    (void)ud;
    fprintf(stderr, "log %d: %s\n", level, msg);
}

static falco_outputs *open_yaml(const char *yaml) {
    falco_outputs_options opts;
    memset(&opts, 0, sizeof opts);
    opts.config_yaml = yaml;
    opts.hostname = "h";
    opts.log_fn = quiet_log;
    falco_outputs *o = NULL;
    char err[512] = "";
    falco_outputs_result r = falco_outputs_init(&opts, &o, err, sizeof err);
    CHECK_MSG(r == FALCO_OUTPUTS_OK, "init: %s (%s)", falco_outputs_result_str(r), err);
    return o;
}

static void emit(falco_outputs *o, int n) {
    char msg[64];
    snprintf(msg, sizeof msg, "alert-%d", n);
    falco_alert a;
    memset(&a, 0, sizeof a);
    a.time_ns = 1507591916746609046ULL;
    a.priority = FALCO_PRIORITY_WARNING;
    a.rule = "r";
    a.message = msg;
    falco_outputs_result r = falco_outputs_emit(o, &a);
    CHECK_MSG(r == FALCO_OUTPUTS_OK, "emit: %s", falco_outputs_result_str(r));
}

static int count_lines_with(const char *path, const char *needle) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char line[1024];
    int n = 0;
    while (fgets(line, sizeof line, f))
        if (strstr(line, needle)) n++;
    fclose(f);
    return n;
}

static void cat_keep_alive_and_sigusr1_reopen(const char *dir) {
    char out[512], yaml[2048];
    snprintf(out, sizeof out, "%s/program.txt", dir);
    snprintf(yaml, sizeof yaml,
             "stdout_output: {enabled: false}\n"
             "program_output:\n  enabled: true\n  keep_alive: true\n"
             "  program: \"echo start >> %s; exec cat >> %s\"\n",
             out, out);
    g_outputs = open_yaml(yaml);
    if (!g_outputs) return;
    for (int i = 0; i < 3; i++) emit(g_outputs, i);
    CHECK_MSG(falco_outputs_flush(g_outputs, 5000) == FALCO_OUTPUTS_OK, "flush");
    raise(SIGUSR1); /* the host's handler reopens: the program is respawned */
    for (int i = 3; i < 5; i++) emit(g_outputs, i);
    falco_outputs_stats st;
    CHECK_MSG(falco_outputs_flush(g_outputs, 5000) == FALCO_OUTPUTS_OK, "flush");
    CHECK_MSG(falco_outputs_close(g_outputs, 5000) == FALCO_OUTPUTS_OK, "close");
    (void)st;
    g_outputs = NULL;
    CHECK_MSG(count_lines_with(out, "start") == 2, "two children, got %d", count_lines_with(out, "start"));
    for (int i = 0; i < 5; i++) {
        char needle[32];
        snprintf(needle, sizeof needle, "Warning alert-%d", i);
        CHECK_MSG(count_lines_with(out, needle) == 1, "%s once", needle);
    }
}

static void program_exiting_early_does_not_kill_the_host(void) {
    /* SIGPIPE is at its default (terminate) in this host: the library's threads block it, so
     * writing to a program that exited is an EPIPE the channel handles, not a dead host. */
    falco_outputs *o = open_yaml(
        "output_timeout: 500\n"
        "stdout_output: {enabled: false}\n"
        "program_output: {enabled: true, keep_alive: true, program: \"exit 0\"}\n");
    if (!o) return;
    for (int i = 0; i < 5; i++) {
        emit(o, i);
        usleep(20000);
    }
    falco_outputs_close(o, 500); /* alerts the program never read are given up: counted */
}

static void per_alert_exit_127_is_counted(void) {
    falco_outputs *o = open_yaml(
        "stdout_output: {enabled: false}\n"
        "program_output: {enabled: true, program: \"no-such-command-for-falco-outputs\"}\n");
    if (!o) return;
    emit(o, 0);
    CHECK_MSG(falco_outputs_flush(o, 5000) == FALCO_OUTPUTS_OK, "flush");
    char json[4096];
    uintptr_t n = falco_outputs_stats_json(o, json, sizeof json);
    CHECK_MSG(n > 0 && n < sizeof json, "stats json");
    CHECK_MSG(strstr(json, "\"failed\":1") != NULL, "failed counted: %s", json);
    falco_outputs_close(o, 2000);
}

static void missing_program_is_a_config_error(void) {
    falco_outputs_options opts;
    memset(&opts, 0, sizeof opts);
    opts.config_yaml = "stdout_output: {enabled: false}\nprogram_output: {enabled: true}\n";
    opts.log_fn = quiet_log;
    falco_outputs *o = (falco_outputs *)1;
    char err[512] = "";
    falco_outputs_result r = falco_outputs_init(&opts, &o, err, sizeof err);
    CHECK_MSG(r == FALCO_OUTPUTS_ERR_CONFIG, "got %s", falco_outputs_result_str(r));
    CHECK_MSG(o == NULL, "out is NULL");
    CHECK_MSG(strstr(err, "program_output.program") != NULL, "errbuf names the key: %s", err);
}

int main(void) {
    signal(SIGUSR1, on_usr1);
    signal(SIGPIPE, SIG_DFL);
    char dir[] = "/tmp/falco-outputs-program-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    cat_keep_alive_and_sigusr1_reopen(dir);
    program_exiting_early_does_not_kill_the_host();
    per_alert_exit_127_is_counted();
    missing_program_is_a_config_error();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    if (tu_failures) {
        fprintf(stderr, "%d failure(s)\n", tu_failures);
        return 1;
    }
    printf("test_program: ok\n");
    return 0;
}
