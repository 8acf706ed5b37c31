/*
 * Writable copies of fixture procfs trees for the unit tests. See
 * fixture_tree.h.
 */
#include "pidio_build.h"

#include "fixture_tree.h"

#include "unit.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void tree_join(char *out, const char *a, const char *b) {
  int n = snprintf(out, TREE_PATHSZ, "%s/%s", a, b);
  ck_assert_msg(n > 0 && n < TREE_PATHSZ, "path too long: %s/%s", a, b);
}

void tree_write_all(int fd, const char *data, size_t len, const char *what) {
  while (len > 0) {
    ssize_t w = write(fd, data, len);
    if (w < 0 && errno == EINTR)
      continue;
    ck_assert_msg(w > 0, "cannot write %s: %s", what, strerror(errno));
    data += w;
    len -= (size_t)w;
  }
}

static void copy_file(const char *src, const char *dst) {
  int in = open(src, O_RDONLY | O_CLOEXEC);
  ck_assert_msg(in >= 0, "cannot open %s: %s", src, strerror(errno));
  int out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ck_assert_msg(out >= 0, "cannot create %s: %s", dst, strerror(errno));
  char buf[8192];
  for (;;) {
    ssize_t r = read(in, buf, sizeof(buf));
    if (r < 0 && errno == EINTR)
      continue;
    ck_assert_msg(r >= 0, "cannot read %s: %s", src, strerror(errno));
    if (r == 0)
      break;
    tree_write_all(out, buf, (size_t)r, dst);
  }
  close(in);
  close(out);
}

static void copy_tree(const char *src, const char *dst) {
  DIR *d = opendir(src);
  ck_assert_msg(d != NULL, "cannot open fixture tree %s: %s", src,
                strerror(errno));
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
      continue;
    char s[TREE_PATHSZ], t[TREE_PATHSZ];
    tree_join(s, src, de->d_name);
    tree_join(t, dst, de->d_name);
    struct stat st;
    ck_assert_int_eq(lstat(s, &st), 0);
    if (S_ISDIR(st.st_mode)) {
      ck_assert_msg(mkdir(t, 0755) == 0, "mkdir %s: %s", t, strerror(errno));
      copy_tree(s, t);
    } else if (S_ISREG(st.st_mode)) {
      copy_file(s, t);
    }
  }
  closedir(d);
}

void tree_remove(const char *path) {
  DIR *d = opendir(path);
  if (d != NULL) {
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
      if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
        continue;
      char p[TREE_PATHSZ];
      if (snprintf(p, sizeof(p), "%s/%s", path, de->d_name) >= TREE_PATHSZ)
        continue;
      struct stat st;
      if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
        tree_remove(p);
      else
        unlink(p);
    }
    closedir(d);
  }
  rmdir(path);
}

static char case_dir[TREE_PATHSZ];

void tree_case_dir_make(void) {
  const char *tmp = getenv("TMPDIR");
  snprintf(case_dir, sizeof(case_dir), "%s/pidio-unit-XXXXXX",
           tmp != NULL && tmp[0] == '/' ? tmp : "/tmp");
  if (mkdtemp(case_dir) == NULL)
    case_dir[0] = '\0';
}

void tree_case_dir_remove(void) {
  if (case_dir[0] != '\0')
    tree_remove(case_dir);
  case_dir[0] = '\0';
}

void tree_open(const char *fixture, char *base, char *root) {
  ck_assert_msg(case_dir[0] != '\0', "no temporary directory");
  tree_join(base, case_dir, "test-XXXXXX");
  ck_assert_msg(mkdtemp(base) != NULL, "mkdtemp: %s", strerror(errno));
  tree_join(root, base, "proc");
  ck_assert_int_eq(mkdir(root, 0755), 0);
  char src[TREE_PATHSZ];
  snprintf(src, sizeof(src), "%s", fixture_path(fixture));
  copy_tree(src, root);
}

void tree_put(const char *root, const char *rel, const char *data, size_t len) {
  char p[TREE_PATHSZ];
  tree_join(p, root, rel);
  int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ck_assert_msg(fd >= 0, "cannot write %s: %s", p, strerror(errno));
  tree_write_all(fd, data, len, p);
  close(fd);
}

void tree_io_get(const char *root, pid_t pid, pidio_io_t *io) {
  char rel[32], p[TREE_PATHSZ], buf[1024];
  snprintf(rel, sizeof(rel), "%d/io", (int)pid);
  tree_join(p, root, rel);
  int fd = open(p, O_RDONLY | O_CLOEXEC);
  ck_assert_msg(fd >= 0, "cannot open %s: %s", p, strerror(errno));
  ssize_t r = read(fd, buf, sizeof(buf));
  close(fd);
  ck_assert_msg(r >= 0, "cannot read %s", p);
  ck_assert_int_eq(pidio_parse_io(buf, (size_t)r, io), 0);
}

void tree_io_put(const char *root, pid_t pid, const pidio_io_t *io) {
  char buf[1024], rel[32];
  size_t len = 0;
  for (int f = 0; f < PIDIO_NFIELDS; f++)
    len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s: %" PRIu64 "\n",
                            pidio_field_names[f], io->v[f]);
  snprintf(rel, sizeof(rel), "%d/io", (int)pid);
  tree_put(root, rel, buf, len);
}
