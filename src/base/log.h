/*
 * log.h - leveled logging to stderr.
 *
 * The level is checked before the arguments are evaluated, so a disabled
 * debug line costs one comparison. Messages are single lines in logfmt-like
 * form: "ts=... level=... msg". Thread-safe (one fprintf per line).
 */
#ifndef TOCSIN_LOG_H
#define TOCSIN_LOG_H

enum log_level { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3, LOG_OFF = 4 };

/* The current threshold; lines below it are skipped. Default LOG_INFO. */
extern enum log_level log_threshold;

void log_write(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Parses "debug", "info", "warn", "error", "off". Returns 0 on success. */
int log_level_parse(const char *name, enum log_level *out);

#define log_debug(...)                                                                             \
    do {                                                                                           \
        if (log_threshold <= LOG_DEBUG)                                                            \
            log_write(LOG_DEBUG, __VA_ARGS__);                                                     \
    } while (0)
#define log_info(...)                                                                              \
    do {                                                                                           \
        if (log_threshold <= LOG_INFO)                                                             \
            log_write(LOG_INFO, __VA_ARGS__);                                                      \
    } while (0)
#define log_warn(...)                                                                              \
    do {                                                                                           \
        if (log_threshold <= LOG_WARN)                                                             \
            log_write(LOG_WARN, __VA_ARGS__);                                                      \
    } while (0)
#define log_error(...)                                                                             \
    do {                                                                                           \
        if (log_threshold <= LOG_ERROR)                                                            \
            log_write(LOG_ERROR, __VA_ARGS__);                                                     \
    } while (0)

#endif
