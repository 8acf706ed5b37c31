/*
 * A recording stand-in for the collectd daemon. See collectd_stub.h.
 */
#include "collectd_stub.h"

#include "utils/common/common.h"
#include "utils_complain.h"

#include <stdarg.h>

void module_register(void);

int (*stub_config_cb)(oconfig_item_t *);
int (*stub_init_cb)(void);
int (*stub_shutdown_cb)(void);
stub_read_t stub_reads[STUB_MAX];
size_t stub_nreads;
stub_value_t stub_values[STUB_MAX * 4];
size_t stub_nvalues;
char stub_log[STUB_MAX][512];
int stub_log_level[STUB_MAX];
size_t stub_nlog;
bool stub_has_rate_type;

#define STUB_EPOCH TIME_T_TO_CDTIME_T_STATIC(1000000000)
cdtime_t stub_now = STUB_EPOCH;

void stub_reset(void) {
  stub_config_cb = NULL;
  stub_init_cb = NULL;
  stub_shutdown_cb = NULL;
  stub_nreads = 0;
  stub_nvalues = 0;
  stub_nlog = 0;
  stub_has_rate_type = false;
  stub_now = STUB_EPOCH;
  module_register();
}

void stub_shutdown(void) {
  for (size_t i = 0; i < stub_nreads; i++)
    if (stub_reads[i].ud.free_func != NULL)
      stub_reads[i].ud.free_func(stub_reads[i].ud.data);
  stub_nreads = 0;
  if (stub_shutdown_cb != NULL)
    stub_shutdown_cb();
}

int stub_read_all(void) {
  int failed = 0;
  for (size_t i = 0; i < stub_nreads; i++)
    if (stub_reads[i].cb(&stub_reads[i].ud) != 0)
      failed++;
  return failed;
}

const stub_value_t *stub_find(const char *plugin_instance, const char *type,
                              const char *type_instance) {
  for (size_t i = stub_nvalues; i > 0; i--) {
    const stub_value_t *v = &stub_values[i - 1];
    if (strcmp(v->plugin_instance, plugin_instance) == 0 &&
        strcmp(v->type, type) == 0 &&
        strcmp(v->type_instance, type_instance ? type_instance : "") == 0)
      return v;
  }
  return NULL;
}

bool stub_logged(const char *first, ...) {
  for (size_t i = 0; i < stub_nlog; i++) {
    bool all = true;
    va_list ap;
    va_start(ap, first);
    for (const char *s = first; s != NULL; s = va_arg(ap, const char *))
      if (strstr(stub_log[i], s) == NULL)
        all = false;
    va_end(ap);
    if (all)
      return true;
  }
  return false;
}

/* --- the daemon's API, as far as pidio uses it --------------------------- */

int plugin_register_complex_config(const char *type,
                                   int (*callback)(oconfig_item_t *)) {
  (void)type;
  stub_config_cb = callback;
  return 0;
}

int plugin_register_init(const char *name, plugin_init_cb callback) {
  (void)name;
  stub_init_cb = callback;
  return 0;
}

int plugin_register_shutdown(const char *name, plugin_shutdown_cb callback) {
  (void)name;
  stub_shutdown_cb = callback;
  return 0;
}

int plugin_register_complex_read(const char *group, const char *name,
                                 plugin_read_cb callback, cdtime_t interval,
                                 user_data_t const *user_data) {
  for (size_t i = 0; i < stub_nreads; i++)
    if (strcmp(stub_reads[i].name, name) == 0) {
      /* As collectd: a duplicate name fails and the user data is freed. */
      if (user_data->free_func != NULL)
        user_data->free_func(user_data->data);
      return -1;
    }
  if (stub_nreads == STUB_MAX)
    return -1;
  stub_read_t *r = &stub_reads[stub_nreads++];
  sstrncpy(r->name, name, sizeof(r->name));
  sstrncpy(r->group, group, sizeof(r->group));
  r->cb = callback;
  r->interval = interval;
  r->ud = *user_data;
  return 0;
}

int plugin_register_data_set(const data_set_t *ds) {
  if (strcmp(ds->type, "pidio_rate") == 0 && ds->ds_num == 1 &&
      ds->ds[0].type == DS_TYPE_GAUGE)
    stub_has_rate_type = true;
  return 0;
}

int plugin_dispatch_values(value_list_t const *vl) {
  if (stub_nvalues == sizeof(stub_values) / sizeof(stub_values[0]))
    return -1;
  stub_value_t *v = &stub_values[stub_nvalues++];
  sstrncpy(v->plugin, vl->plugin, sizeof(v->plugin));
  sstrncpy(v->plugin_instance, vl->plugin_instance, sizeof(v->plugin_instance));
  sstrncpy(v->type, vl->type, sizeof(v->type));
  sstrncpy(v->type_instance, vl->type_instance, sizeof(v->type_instance));
  v->values_len = vl->values_len;
  v->time = vl->time;
  for (size_t i = 0; i < vl->values_len && i < 4; i++)
    v->values[i] = vl->values[i];
  return 0;
}

__attribute__((format(printf, 2, 0))) static void
vlog(int level, const char *format, va_list ap) {
  if (stub_nlog == STUB_MAX)
    return;
  vsnprintf(stub_log[stub_nlog], sizeof(stub_log[0]), format, ap);
  stub_log_level[stub_nlog++] = level;
}

void plugin_log(int level, const char *format, ...) {
  va_list ap;
  va_start(ap, format);
  vlog(level, format, ap);
  va_end(ap);
}

/* Rate limiting as collectd's utils_complain.c does it, on the stand-in's
 * clock (stub_now): the first complaint is logged and sets the interval
 * to the plugin's; each one logged later doubles it, up to a day; repeats
 * within the interval are not logged. */
void c_complain(int level, c_complain_t *c, const char *format, ...) {
  cdtime_t now = cdtime();
  if (c->last != 0 && c->last + c->interval > now)
    return;
  c->last = now;
  if (c->interval < plugin_get_interval())
    c->interval = plugin_get_interval();
  else
    c->interval *= 2;
  if (c->interval > TIME_T_TO_CDTIME_T_STATIC(86400))
    c->interval = TIME_T_TO_CDTIME_T_STATIC(86400);
  va_list ap;
  va_start(ap, format);
  vlog(level, format, ap);
  va_end(ap);
}

void c_do_release(int level, c_complain_t *c, const char *format, ...) {
  if (c->interval == 0)
    return;
  c->interval = 0;
  va_list ap;
  va_start(ap, format);
  vlog(level, format, ap);
  va_end(ap);
}

char *sstrncpy(char *dest, const char *src, size_t n) {
  strncpy(dest, src, n);
  dest[n - 1] = '\0';
  return dest;
}

char *sstrerror(int errnum, char *buf, size_t buflen) {
  snprintf(buf, buflen, "%s", strerror(errnum));
  return buf;
}

cdtime_t plugin_get_interval(void) { return TIME_T_TO_CDTIME_T_STATIC(1); }

cdtime_t cdtime(void) { return stub_now; }

/* --- configuration trees ------------------------------------------------- */

oconfig_item_t *stub_ci(const char *key) {
  oconfig_item_t *ci = calloc(1, sizeof(*ci));
  ci->key = strdup(key);
  return ci;
}

static oconfig_value_t *add_value(oconfig_item_t *ci) {
  ci->values =
      realloc(ci->values, (size_t)(ci->values_num + 1) * sizeof(*ci->values));
  return &ci->values[ci->values_num++];
}

void stub_ci_str(oconfig_item_t *ci, const char *s) {
  oconfig_value_t *v = add_value(ci);
  v->type = OCONFIG_TYPE_STRING;
  v->value.string = strdup(s);
}

void stub_ci_num(oconfig_item_t *ci, double n) {
  oconfig_value_t *v = add_value(ci);
  v->type = OCONFIG_TYPE_NUMBER;
  v->value.number = n;
}

void stub_ci_bool(oconfig_item_t *ci, bool b) {
  oconfig_value_t *v = add_value(ci);
  v->type = OCONFIG_TYPE_BOOLEAN;
  v->value.boolean = b ? 1 : 0;
}

/* Children live in one array (as in liboconfig), so a pointer returned here
 * is only valid until the next stub_ci_child on the same parent. */
oconfig_item_t *stub_ci_child(oconfig_item_t *parent, const char *key) {
  parent->children =
      realloc(parent->children,
              (size_t)(parent->children_num + 1) * sizeof(*parent->children));
  oconfig_item_t *c = &parent->children[parent->children_num++];
  memset(c, 0, sizeof(*c));
  c->key = strdup(key);
  c->parent = parent;
  return c;
}

static void free_items(oconfig_item_t *ci) {
  free(ci->key);
  for (int i = 0; i < ci->values_num; i++)
    if (ci->values[i].type == OCONFIG_TYPE_STRING)
      free(ci->values[i].value.string);
  free(ci->values);
  for (int i = 0; i < ci->children_num; i++)
    free_items(&ci->children[i]);
  free(ci->children);
}

void stub_ci_free(oconfig_item_t *ci) {
  free_items(ci);
  free(ci);
}
