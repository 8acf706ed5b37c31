/*
 * A recording stand-in for the collectd daemon, linked with the adapter in
 * unit tests: it keeps what the adapter registers, every value list it
 * dispatches, and every line it logs.
 */
#ifndef PIDIO_COLLECTD_STUB_H
#define PIDIO_COLLECTD_STUB_H

#include "collectd.h"

#include "plugin.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct stub_value {
  char plugin[DATA_MAX_NAME_LEN];
  char plugin_instance[DATA_MAX_NAME_LEN];
  char type[DATA_MAX_NAME_LEN];
  char type_instance[DATA_MAX_NAME_LEN];
  size_t values_len;
  value_t values[4];
  cdtime_t time; /* as dispatched: 0 leaves it to collectd */
} stub_value_t;

typedef struct stub_read {
  char name[DATA_MAX_NAME_LEN];
  char group[DATA_MAX_NAME_LEN];
  plugin_read_cb cb;
  cdtime_t interval;
  user_data_t ud;
} stub_read_t;

#define STUB_MAX 256

extern int (*stub_config_cb)(oconfig_item_t *);
extern int (*stub_init_cb)(void);
extern int (*stub_shutdown_cb)(void);
extern stub_read_t stub_reads[STUB_MAX];
extern size_t stub_nreads;
extern stub_value_t stub_values[STUB_MAX * 4];
extern size_t stub_nvalues;
extern char stub_log[STUB_MAX][512];
extern int stub_log_level[STUB_MAX];
extern size_t stub_nlog;
extern bool stub_has_rate_type;
/* What cdtime() returns: a fixed time that stub_reset() sets and a test
 * may move on. */
extern cdtime_t stub_now;

/* Forget everything recorded; calls module_register() again. */
void stub_reset(void);
/* Free what the registered reads own (their free_func), as collectd does at
 * shutdown, then call the shutdown callback. */
void stub_shutdown(void);
/* Run every registered read once. Returns how many returned non-zero. */
int stub_read_all(void);

/* The value dispatched with this identifier; NULL when none. The last one
 * wins when it was dispatched several times. */
const stub_value_t *stub_find(const char *plugin_instance, const char *type,
                              const char *type_instance);
/* True when some logged line contains every one of the given substrings
 * (a NULL-terminated list). */
bool stub_logged(const char *first, ...);

/* Building configuration trees by hand. */
oconfig_item_t *stub_ci(const char *key);
void stub_ci_str(oconfig_item_t *ci, const char *s);
void stub_ci_num(oconfig_item_t *ci, double n);
void stub_ci_bool(oconfig_item_t *ci, bool b);
oconfig_item_t *stub_ci_child(oconfig_item_t *parent, const char *key);
void stub_ci_free(oconfig_item_t *ci);

#endif
