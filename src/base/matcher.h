/*
 * matcher.h - a label matcher as PromQL and Alertmanager write it: name="v", name!="v",
 * name=~"re", name!~"re". Regular expressions are POSIX extended ones,
 * anchored at both ends as Prometheus anchors its RE2 expressions. A label
 * that a series does not have matches as the empty string.
 */
#ifndef TOCSIN_MATCHER_H
#define TOCSIN_MATCHER_H

#include "labels.h"

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>

enum matcher_op { MATCH_EQ = 0, MATCH_NEQ = 1, MATCH_RE = 2, MATCH_NRE = 3 };

struct matcher {
    char *name;  /* owned */
    char *value; /* owned; the text as written */
    enum matcher_op op;
    bool has_re; /* re is compiled (MATCH_RE and MATCH_NRE) */
    regex_t re;
};

/*
 * Fills m. Returns 0, or -1 with a message (for example an invalid regular
 * expression) and m left empty. Free with matcher_free.
 */
int matcher_init(struct matcher *m, const char *name, enum matcher_op op, const char *value,
                 char *err, size_t errlen);
void matcher_free(struct matcher *m);

/*
 * Compiles the regular expression of a matcher whose name, value and op are
 * already set (a no-op for = and !=). Returns 0, or -1 with a message; the
 * matcher then has no compiled expression and must not be used to match.
 */
int matcher_compile(struct matcher *m, char *err, size_t errlen);

/* Whether value (NULL: the label is absent) satisfies m. */
bool matcher_matches(const struct matcher *m, const char *value);

/* Whether the label set satisfies every one of the n matchers. */
bool matcher_match_labels(const struct matcher *m, size_t n, const struct labelset *ls);

/* Whether m matches the empty string (such matchers also select series without the label). */
bool matcher_matches_empty(const struct matcher *m);

/* "=", "!=", "=~" or "!~". */
const char *matcher_op_str(enum matcher_op op);

#endif
