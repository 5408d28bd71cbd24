/*
 * scrape_ingest.h - what a finished scrape becomes: the scraped samples
 * with the target's labels (job, instance and the job's labels), plus the
 * series Prometheus adds for every target: up, scrape_duration_seconds and
 * scrape_samples_scraped.
 *
 * Label clashes follow Prometheus: without honor_labels a scraped label
 * that the target also sets is kept as exported_<name>; with honor_labels
 * the scraped value wins. A scrape that does not parse stores none of its
 * samples and marks the target down with the parse error. Samples without
 * their own timestamp get the scrape's start time.
 *
 * Not done (as Prometheus does it): staleness markers when a series leaves
 * a target's output; such a series simply stops, and queries stop showing it
 * after the 5 minute lookback.
 */
#ifndef TOCSIN_SCRAPE_INGEST_H
#define TOCSIN_SCRAPE_INGEST_H

#include "scrape.h"
#include "tsdb.h"

/* The scrape_sink_fn for scraper_start; ctx is the struct tsdb. */
long scrape_ingest(void *ctx, const struct scrape_result *r, char *err, size_t errlen);

#endif
