/*
 * pidio_group: who a process is, as a group key and a group name.
 *
 * GroupBy splits a block by a key read once when a process joins:
 *   comm    the process name (stat)
 *   exe     the program /proc/<pid>/exe points to, without the " (deleted)"
 *           an upgrade leaves, so a replaced binary stays one group
 *   user    the real uid's user name, or the uid in decimal when it has none
 *   cgroup  the cgroup v2 path (the "0::" line)
 *   unit    the systemd unit the cgroup path ends in: the deepest path
 *           component ending in .service, .scope, .socket, .mount or .swap
 *           (/system.slice/nginx.service -> nginx.service; a delegated
 *           sub-cgroup /system.slice/nginx.service/worker -> nginx.service);
 *           the whole path when no component is a unit (/, a slice)
 *
 * A group's name is its key made safe for every writer: it becomes part of
 * a plugin instance "<block>-<name>", a file name (csv, rrdtool), a Graphite
 * path component, an InfluxDB tag and a URL of the Graphite or InfluxDB
 * HTTP API. The escaping:
 *   A-Z a-z 0-9 - @   themselves
 *   .                 _
 *   /                 ~
 *   any other byte    %XX, two upper-case hex digits: "_" is %5F, "~" %7E,
 *                     "%" %25, a blank %20, control and non-ASCII bytes too
 * so "nginx.service" is "nginx_service", "/system.slice/nginx.service" is
 * "~system_slice~nginx_service", "Web Content" is "Web%20Content". Every
 * output character is one of A-Z a-z 0-9 - @ _ ~ %, and the code is
 * prefix-free ("_" and "~" stand alone, "%" is always followed by two hex
 * digits), so two different keys never get the same name. Three names are
 * taken apart from that code:
 *   - the empty key is "%" (a lone "%" at the end is no escape);
 *   - "other" (the block's series of every group without a slot) and
 *     "unknown" (processes whose key could not be read) are reserved: a key
 *     that would be named so has its first character escaped ("%6Fther");
 *   - a name longer than the room left in the plugin instance is cut (never
 *     inside an escape) and ends in "%%" and 8 lower-case hex digits of a
 *     hash of the whole key; "%%" never occurs in an uncut name. Two cut
 *     names can only meet through the hash; the group table (pidio_groups)
 *     then asks again with another salt, so names stay unique.
 */
#ifndef PIDIO_GROUP_H
#define PIDIO_GROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum pidio_group_key {
  PIDIO_GROUP_COMM,
  PIDIO_GROUP_EXE,
  PIDIO_GROUP_USER,
  PIDIO_GROUP_CGROUP,
  PIDIO_GROUP_UNIT,
  PIDIO_GROUP_NKEYS
};

/* "comm", "exe", "user", "cgroup", "unit", indexed by the enum. */
extern const char *const pidio_group_key_names[PIDIO_GROUP_NKEYS];

/* A key by its name, case-insensitively: 0, or -EINVAL. */
int pidio_group_key_parse(const char *s, enum pidio_group_key *out);

/* collectd's name fields hold 127 characters. */
#define PIDIO_GROUP_INSTANCE_MAX 127
/* The shortest room for a name that pidio_group_name accepts: the hash
 * suffix of a cut name and a few characters of the key. */
#define PIDIO_GROUP_NAME_MIN 16
/* The longest key pidio_group_key writes (a cgroup path, an exe path). */
#define PIDIO_GROUP_KEY_MAX 4096

#define PIDIO_GROUP_OTHER "other"
#define PIDIO_GROUP_UNKNOWN "unknown"

/* User names by uid, for the user key: a lookup (getpwuid_r) reads the
 * passwd database, far more than pidio spends on a process otherwise, and
 * a machine has few users. A name is looked up again after
 * PIDIO_GROUP_USERS_TTL seconds, so a user created or renamed while pidio
 * runs is seen by processes that join after that. One cache per thread. */
#define PIDIO_GROUP_USERS_TTL 60.0
#define PIDIO_GROUP_USERS_MAX 1024 /* more uids than that: start afresh */
typedef struct pidio_group_user_entry {
  uid_t uid;
  double at; /* when it was looked up, seconds of a monotonic clock */
  char name[64];
} pidio_group_user_entry_t;

typedef struct pidio_group_users {
  pidio_group_user_entry_t *e; /* by uid */
  size_t n, cap;
  uint64_t lookups; /* getpwuid_r calls made, for tests */
} pidio_group_users_t;

/* What pidio read of a process, from which its key is taken. A field the
 * key does not need may be left unset. */
typedef struct pidio_group_facts {
  const char *comm; /* stat's comm, NUL-terminated */
  bool have_uid;    /* uid read (status) */
  uid_t uid;
  const char *cgroup; /* the cgroup v2 path, NULL when there is none */
  size_t cgroup_len;
  const char *exe; /* the exe link's target, NULL when it may not be read */
  size_t exe_len;
} pidio_group_facts_t;

/* The key of a process into out (outsz >= PIDIO_GROUP_KEY_MAX; not
 * NUL-terminated: keys are byte strings) and its length into *len. 0, or
 * -ENODATA when the fact the key needs is missing (the process belongs to
 * the "unknown" group), or -ENAMETOOLONG. The user key looks the uid up
 * (getpwuid_r): the caller keeps a cache when that matters. */
int pidio_group_key(enum pidio_group_key key, const pidio_group_facts_t *f,
                    char *out, size_t outsz, size_t *len);
/* The same, the user name through a cache. */
int pidio_group_key_cached(enum pidio_group_key key,
                           const pidio_group_facts_t *f,
                           pidio_group_users_t *users, double now,
                           char *out, size_t outsz, size_t *len);

/* The unit part of a cgroup v2 path, as *off and *ulen within path. */
void pidio_group_unit(const char *path, size_t len, size_t *off, size_t *ulen);

/* The length of an exe link's target without a trailing " (deleted)". */
size_t pidio_group_exe_len(const char *target, size_t len);

/* The user name of uid, or the uid in decimal when it has none, into out
 * (NUL-terminated, cut to outsz - 1); returns the length. */
size_t pidio_group_user(uid_t uid, char *out, size_t outsz);

/* The uid of a user name (getpwnam_r, however long its passwd entry): 0,
 * -ENOENT when there is no such user, or another negative errno. */
int pidio_group_uid_of(const char *name, uid_t *uid);

void pidio_group_users_free(pidio_group_users_t *c);

/* pidio_group_user through the cache (c may be NULL: no cache). */
size_t pidio_group_users_name(pidio_group_users_t *c, uid_t uid, double now,
                              char *out, size_t outsz);

/* Read the key of an opened /proc/<pid> directory: comm is its stat's, the
 * uid comes from status, the cgroup from cgroup, the exe from the link.
 * 0; -ENODATA when the fact is not there (no cgroup v2 line; the exe link of
 * a process that is exiting); -EACCES when it may not be read (another
 * user's exe): the process belongs to the "unknown" group either way; or
 * the negative errno of a read (the process is gone). */
int pidio_group_read_key(enum pidio_group_key key, int pid_dirfd,
                         const char *comm, pidio_group_users_t *users,
                         double now, char *out, size_t outsz, size_t *len);

/* The name of the group whose key is key[0..len) (key NULL: the unknown
 * group) into out, at most max characters and NUL-terminated (out holds
 * max + 1 bytes; max >= PIDIO_GROUP_NAME_MIN for names that stay apart;
 * a smaller max still gives at most max characters). salt is 0 except when a cut
 * name met another group's (see above). Returns the length. */
size_t pidio_group_name(const char *key, size_t len, unsigned salt, size_t max,
                        char *out);

/* The room for a group name in "<block>-<name>". */
size_t pidio_group_name_room(const char *block);

/* "<block>-<name>" into out (outsz > PIDIO_GROUP_INSTANCE_MAX): 0, or
 * -ENAMETOOLONG when it does not fit in a collectd name field. */
int pidio_group_instance(const char *block, const char *name, char *out,
                         size_t outsz);

#endif /* PIDIO_GROUP_H */
