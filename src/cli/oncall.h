/*
 * oncall.h - `tocsin oncall`: asks a running server who is on call (GET
 * /api/v1/oncall) and prints it as a table, with each schedule's handoff in
 * the schedule's own time zone, followed by the escalation policies.
 */
#ifndef TOCSIN_ONCALL_H
#define TOCSIN_ONCALL_H

#include <stddef.h>

/* Runs the subcommand; argv[0] is "oncall". Returns the exit code: 0 ok,
 * 1 refused (4xx, such as an unknown schedule) or bad options, 2 server
 * unreachable, failing (5xx) or answering something that is not the
 * expected JSON. */
int oncall_main(int argc, char **argv);

/*
 * The request URL: base (trailing slashes dropped) + "/api/v1/oncall", with
 * ?schedule=NAME and &at=TIME when those are not NULL, both percent-encoded.
 * Returns a new string the caller frees, or NULL on allocation failure.
 */
char *oncall_url(const char *base, const char *schedule, const char *at);

/*
 * Renders the server's response (JSON text of len bytes) as the table the
 * command prints. Returns a new NUL-terminated string the caller frees, or
 * NULL with a message in err when the text is not the expected JSON.
 */
char *oncall_render(const char *json, size_t len, char *err, size_t errlen);

#endif
