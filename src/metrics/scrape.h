/*
 * scrape.h - Prometheus-style scraping: the "tocsin-scrape" thread fetches
 * every configured target's metrics endpoint on its interval (spread over
 * the interval so targets do not all fire at once) with libcurl multi,
 * bounded by the job's timeout and a body size limit, and hands each result
 * to a sink. The sink (scrape_ingest.c) parses the body and appends the
 * samples plus the synthetic series up, scrape_duration_seconds and
 * scrape_samples_scraped.
 *
 * THREAD SAFETY NOTES: scraper_start/reload/stop belong to the main thread;
 * scraper_targets_json may be called from any thread. The sink runs on the
 * scrape thread. curl_global_init must have been called once by the
 * process (main does).
 */
#ifndef TOCSIN_SCRAPE_H
#define TOCSIN_SCRAPE_H

#include "../config/config.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct scraper;

/* What one scrape produced. Everything is borrowed for the duration of the sink call. */
struct scrape_result {
    const char *job;
    const char *instance; /* "host:port" as configured */
    const char *url;
    const struct labelset *target_labels; /* job, instance and the job's labels */
    int64_t start_ms;                     /* when the scrape began (wall clock) */
    double duration_s;
    bool ok;           /* HTTP 200 and a body within the size limit */
    const char *error; /* when !ok: "connection refused", "HTTP 500", "timeout after 10s" */
    const char *body;  /* when ok; not NUL-terminated */
    size_t body_len;
    const char *content_type; /* may be NULL */
    bool honor_labels;
    size_t sample_limit; /* the job's sample_limit; 0 = none. A body with more samples fails
                            the whole scrape (nothing stored), as in Prometheus */
};

/*
 * Called on the scrape thread for every finished scrape. Returns the number
 * of samples it stored, or -1 with a message in err (for example a parse
 * error), which marks the target down with that message.
 */
typedef long (*scrape_sink_fn)(void *ctx, const struct scrape_result *r, char *err, size_t errlen);

/*
 * Starts the thread with cfg's scrape jobs. cfg is borrowed and must stay
 * valid until the next scraper_reload or scraper_stop. Returns NULL with a
 * message when the thread cannot start. With no jobs the thread idles.
 */
struct scraper *scraper_start(const struct config *cfg, scrape_sink_fn sink, void *sink_ctx,
                              char *err, size_t errlen);

/*
 * Switches to a new configuration: targets that stay keep their schedule
 * and health; new ones start spread over their interval; removed ones stop.
 */
void scraper_reload(struct scraper *s, const struct config *cfg);

/* Stops the thread (an in-flight scrape is abandoned) and frees s. */
void scraper_stop(struct scraper *s);

/*
 * The data object of Prometheus's GET /api/v1/targets:
 * {"activeTargets":[{"labels":{..},"scrapeUrl":..,"health":"up|down|unknown",
 * "lastError":..,"lastScrape":RFC3339,"lastScrapeDuration":s,"scrapePool":job,
 * "scrapeInterval":"15s","scrapeTimeout":"10s"}],"droppedTargets":[]}.
 * Caller owns the reference.
 */
json_t *scraper_targets_json(struct scraper *s);

#endif
