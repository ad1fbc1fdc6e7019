/* log.h: one line per event on stderr: "TIMESTAMP LEVEL SUBSYSTEM: message".
 *
 * Errors should say what to do next ("... : free the port or pass --listen").
 * The level is global and set once at start-up; logging is thread-safe
 * (each line is written with one write(2)). */
#ifndef KAHUNA_LOG_H
#define KAHUNA_LOG_H

enum log_level { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Parses "error", "warn", "info", "debug"; returns 0 or KAHUNA_EBADREQ. */
int log_parse_level(const char *s, enum log_level *out);

void log_msg(enum log_level level, const char *subsystem, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_error(sub, ...) log_msg(LOG_ERROR, sub, __VA_ARGS__)
#define log_warn(sub, ...) log_msg(LOG_WARN, sub, __VA_ARGS__)
#define log_info(sub, ...) log_msg(LOG_INFO, sub, __VA_ARGS__)
#define log_debug(sub, ...) do { if (log_get_level() >= LOG_DEBUG) log_msg(LOG_DEBUG, sub, __VA_ARGS__); } while (0)

#endif
