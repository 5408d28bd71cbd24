/*
 * rules_cli.h - `tocsin rules test RULE --from T --to T`: replays an alert
 * rule over stored history and lists when it would have fired, either
 * through a running server (POST /api/v1/rules/test) or offline on a data
 * directory no server holds (--data DIR).
 *
 * The time forms of the command and of the API are the same, so the parser
 * lives here and the API handler (src/http/api_rules.c) uses it too.
 */
#ifndef TOCSIN_RULES_CLI_H
#define TOCSIN_RULES_CLI_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>

/* Runs the subcommand; argv[0] is "rules". Returns the exit code: 0 done
 * (whether or not the rule fired), 1 refused or invalid (bad options, an
 * unknown rule, a 4xx), 2 server unreachable or failing (5xx). */
int rules_cli_main(int argc, char **argv);

/*
 * Parses a point in time as the backtest takes it: RFC 3339
 * ("2026-11-21T08:00:00Z"), Unix seconds with an optional fraction
 * ("1763712000", "1763712000.5"), "now", or a time relative to now_ms
 * ("-7d", "now-7d", "now+1h", any duration timefmt_parse_duration takes).
 * Returns 0 and *out_ms, or -1 when s is none of these.
 */
int rules_cli_parse_time(const char *s, int64_t now_ms, int64_t *out_ms);

/* Parses a step: a duration ("5m", "1h30m") or seconds ("300"). Returns 0
 * and *out_ms (> 0), or -1. */
int rules_cli_parse_step(const char *s, int64_t *out_ms);

/*
 * Writes the human summary of a backtest result (the JSON object
 * rules_backtest returns) to f: one line per alert (fired_at -> resolved_at
 * (duration) severity labels value) with its explanation under it, the
 * notes, then "N alerts, M evaluations".
 */
void rules_cli_render(const json_t *result, FILE *f);

#endif
