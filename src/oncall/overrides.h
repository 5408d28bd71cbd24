/*
 * overrides.h - the live schedule overrides, shared between the engine
 * (which writes them to the store and resolves escalation targets with them)
 * and the HTTP handlers (who is on call, shifts, iCal).
 *
 * THREAD SAFETY NOTES: every function may be called from any thread; a
 * mutex guards the set, and readers work on a copy.
 */
#ifndef TOCSIN_OVERRIDES_H
#define TOCSIN_OVERRIDES_H

#include "schedule.h"

#include <stddef.h>
#include <stdint.h>

struct overrides;

/* A copy of the set at one moment. Owns its array and strings. */
struct overrides_snapshot {
    struct schedule_override *items; /* strings owned by the snapshot */
    size_t n;
    char **created_by; /* parallel to items; owned */
};

struct overrides *overrides_new(void);
void overrides_free(struct overrides *o);

/* Adds (or replaces, by id) an override; strings are copied. 0 or -1. */
int overrides_add(struct overrides *o, int64_t id, const char *schedule, const char *user,
                  int64_t start, int64_t end, const char *created_by);
/* Removes by id; 1 when removed, 0 when unknown. */
int overrides_remove(struct overrides *o, int64_t id);
/* Removes everything (before a reload from the store). */
void overrides_clear(struct overrides *o);

/* Copies the overrides of schedule (NULL = all) into snap. 0 or -1. */
int overrides_snapshot(struct overrides *o, const char *schedule, struct overrides_snapshot *snap);
void overrides_snapshot_free(struct overrides_snapshot *snap);

#endif
