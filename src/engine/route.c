/*
 * route.c - evaluating the routing tree; see route.h for the semantics.
 */
#include "route.h"

#include <string.h>

bool route_matcher_matches(const struct matcher *m, const struct labelset *ls)
{
    return matcher_matches(m, labels_get(ls, m->name));
}

static bool route_node_matches(const struct route *r, const struct labelset *ls)
{
    for (size_t i = 0; i < r->n_matchers; i++) {
        if (!route_matcher_matches(&r->matchers[i], ls))
            return false;
    }
    return true;
}

/*
 * Appends the results for a node already known to match: the deepest
 * matching descendants, or the node itself when no child matches. Returns
 * how many were appended; stops once `out` is full.
 */
static size_t route_walk(const struct route *r, const struct labelset *ls, const struct route **out,
                         size_t n, size_t max)
{
    size_t found = 0;
    for (size_t i = 0; i < r->n_routes && n + found < max; i++) {
        const struct route *child = &r->routes[i];
        if (!route_node_matches(child, ls))
            continue;
        found += route_walk(child, ls, out, n + found, max);
        if (!child->cont)
            break;
    }
    if (found == 0 && n < max) {
        out[n] = r;
        found = 1;
    }
    return found;
}

size_t route_find(const struct route *root, const struct labelset *ls, const struct route **out,
                  size_t max)
{
    if (max == 0)
        return 0;
    /* The root matches everything regardless of matchers. */
    return route_walk(root, ls, out, 0, max);
}

/* Appends s to buf at *len with \ and " escaped; false if it does not fit. */
static bool route_put(char *buf, size_t size, size_t *len, const char *s, bool escape)
{
    for (; *s; s++) {
        if (escape && (*s == '\\' || *s == '"')) {
            if (*len + 1 >= size)
                return false;
            buf[(*len)++] = '\\';
        }
        if (*len + 1 >= size)
            return false;
        buf[(*len)++] = *s;
    }
    buf[*len] = '\0';
    return true;
}

static bool route_put_pair(char *buf, size_t size, size_t *len, const char *name, const char *value,
                           bool first)
{
    return (first || route_put(buf, size, len, ",", false)) &&
           route_put(buf, size, len, name, false) && route_put(buf, size, len, "=\"", false) &&
           route_put(buf, size, len, value, true) && route_put(buf, size, len, "\"", false);
}

int route_group_key(const struct route *r, const struct labelset *ls, char *buf, size_t size)
{
    size_t len = 0;
    if (size == 0)
        return -1;
    buf[0] = '\0';
    if (!route_put(buf, size, &len, r->id ? r->id : "root", false) ||
        !route_put(buf, size, &len, "{", false))
        return -1;
    if (r->group_by_all) {
        /* The label set is kept sorted by name, so this is already ordered. */
        for (size_t i = 0; i < ls->n; i++) {
            if (!route_put_pair(buf, size, &len, ls->v[i].name, ls->v[i].value, i == 0))
                return -1;
        }
    } else {
        for (size_t i = 0; i < r->n_group_by; i++) {
            const char *v = labels_get(ls, r->group_by[i]);
            if (!route_put_pair(buf, size, &len, r->group_by[i], v ? v : "", i == 0))
                return -1;
        }
    }
    return route_put(buf, size, &len, "}", false) ? 0 : -1;
}
