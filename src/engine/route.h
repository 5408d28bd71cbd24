/*
 * route.h - evaluating the routing tree and label matchers.
 *
 * Semantics follow Alertmanager: the search is depth-first; a node matches
 * when all its matchers match; within one parent the first matching child
 * wins unless that child has `continue: true`, in which case later siblings
 * are tried too; a matching node whose children all fail to match is itself
 * the result. The root always matches, so every label set gets at least one
 * route.
 */
#ifndef TOCSIN_ROUTE_H
#define TOCSIN_ROUTE_H

#include "../base/labels.h"
#include "../config/config.h"

#include <stdbool.h>
#include <stddef.h>

/* At most this many routes can claim one alert (through continue: true). */
#define ROUTE_MAX_MATCHES 4

/* True if the label set satisfies the matcher. An absent label counts as "". */
bool route_matcher_matches(const struct matcher *m, const struct labelset *ls);

/*
 * Finds the routes for a label set. Writes up to `max` borrowed pointers into
 * out (valid as long as the config) and returns how many were found (>= 1).
 */
size_t route_find(const struct route *root, const struct labelset *ls, const struct route **out,
                  size_t max);

/*
 * The group key of a label set under a route: the route id and the values of
 * its group_by labels, "route-id{name="value",...}". Written into buf; returns
 * 0, or -1 if it did not fit.
 */
int route_group_key(const struct route *r, const struct labelset *ls, char *buf, size_t size);

#endif
