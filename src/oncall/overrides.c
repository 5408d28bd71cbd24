/*
 * overrides.c - the live schedule overrides behind one mutex. The set is
 * small (people override a handful of shifts), so a plain array is enough.
 */
#include "overrides.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct item {
    int64_t id;
    char *schedule, *user, *created_by; /* owned */
    int64_t start, end;
};

struct overrides {
    pthread_mutex_t lock;
    struct item *items; /* owned array */
    size_t n, cap;
};

struct overrides *overrides_new(void)
{
    struct overrides *o = calloc(1, sizeof(*o));
    if (o)
        pthread_mutex_init(&o->lock, NULL);
    return o;
}

static void item_clear(struct item *it)
{
    free(it->schedule);
    free(it->user);
    free(it->created_by);
}

void overrides_clear(struct overrides *o)
{
    pthread_mutex_lock(&o->lock);
    for (size_t i = 0; i < o->n; i++)
        item_clear(&o->items[i]);
    o->n = 0;
    pthread_mutex_unlock(&o->lock);
}

void overrides_free(struct overrides *o)
{
    if (!o)
        return;
    overrides_clear(o);
    free(o->items);
    pthread_mutex_destroy(&o->lock);
    free(o);
}

int overrides_add(struct overrides *o, int64_t id, const char *schedule, const char *user,
                  int64_t start, int64_t end, const char *created_by)
{
    struct item it = {.id = id,
                      .schedule = strdup(schedule),
                      .user = strdup(user),
                      .created_by = strdup(created_by ? created_by : ""),
                      .start = start,
                      .end = end};
    if (!it.schedule || !it.user || !it.created_by) {
        item_clear(&it);
        return -1;
    }
    overrides_remove(o, id);
    pthread_mutex_lock(&o->lock);
    if (o->n == o->cap) {
        size_t ncap = o->cap ? o->cap * 2 : 16;
        struct item *ni = realloc(o->items, ncap * sizeof(*ni));
        if (!ni) {
            pthread_mutex_unlock(&o->lock);
            item_clear(&it);
            return -1;
        }
        o->items = ni;
        o->cap = ncap;
    }
    o->items[o->n++] = it;
    pthread_mutex_unlock(&o->lock);
    return 0;
}

int overrides_remove(struct overrides *o, int64_t id)
{
    int found = 0;
    pthread_mutex_lock(&o->lock);
    for (size_t i = 0; i < o->n; i++) {
        if (o->items[i].id != id)
            continue;
        item_clear(&o->items[i]);
        memmove(&o->items[i], &o->items[i + 1], (o->n - i - 1) * sizeof(o->items[0]));
        o->n--;
        found = 1;
        break;
    }
    pthread_mutex_unlock(&o->lock);
    return found;
}

void overrides_snapshot_free(struct overrides_snapshot *snap)
{
    for (size_t i = 0; i < snap->n; i++) {
        free((char *)snap->items[i].schedule);
        free((char *)snap->items[i].user);
        if (snap->created_by)
            free(snap->created_by[i]);
    }
    free(snap->items);
    free(snap->created_by);
    memset(snap, 0, sizeof(*snap));
}

int overrides_snapshot(struct overrides *o, const char *schedule, struct overrides_snapshot *snap)
{
    int rc = 0;
    memset(snap, 0, sizeof(*snap));
    pthread_mutex_lock(&o->lock);
    if (o->n) {
        snap->items = calloc(o->n, sizeof(*snap->items));
        snap->created_by = calloc(o->n, sizeof(*snap->created_by));
        if (!snap->items || !snap->created_by)
            rc = -1;
    }
    for (size_t i = 0; rc == 0 && i < o->n; i++) {
        const struct item *it = &o->items[i];
        if (schedule && strcmp(schedule, it->schedule) != 0)
            continue;
        struct schedule_override *so = &snap->items[snap->n];
        so->id = it->id;
        so->start = it->start;
        so->end = it->end;
        so->schedule = strdup(it->schedule);
        so->user = strdup(it->user);
        snap->created_by[snap->n] = strdup(it->created_by);
        snap->n++;
        if (!so->schedule || !so->user || !snap->created_by[snap->n - 1])
            rc = -1;
    }
    pthread_mutex_unlock(&o->lock);
    if (rc)
        overrides_snapshot_free(snap);
    return rc;
}
