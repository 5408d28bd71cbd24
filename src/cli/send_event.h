/*
 * send_event.h - `tocsin send-event`: a client for POST /api/v1/events so
 * shell scripts and cron jobs can raise, acknowledge and resolve alerts.
 */
#ifndef TOCSIN_SEND_EVENT_H
#define TOCSIN_SEND_EVENT_H

/* Runs the subcommand; argv[0] is "send-event". Returns the exit code:
 * 0 accepted, 1 refused (4xx or bad options), 2 unreachable or 5xx. */
int send_event_main(int argc, char **argv);

#endif
