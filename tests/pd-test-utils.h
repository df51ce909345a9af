/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "pd-plugin-config.h"

G_BEGIN_DECLS

/*
 * What the unit tests share (the static library pd-test-utils, tests/meson.build): registering
 * a test per row of a table, tar streams built in memory, listings of trees, temporary
 * directories, the children of the test process, the extraction helper run on its own, plugin
 * configs, and loopback sockets and servers. pd-test-registry.h, pd-test-store.h and
 * pd-test-sandbox.h hold the fixtures of the registry, store and sandbox tests. Everything
 * here asserts instead of returning errors: a failing helper fails the test that called it.
 */

/* section: registering and running tests */

/* adds the test @path: @func with the test file's own Fixture, fixture_setup () and
 * fixture_teardown () */
#define PD_TEST_ADD(path, func) \
  g_test_add ((path), Fixture, NULL, fixture_setup, (func), fixture_teardown)

/* adds the test "@prefix/<@name of the element>" for each element of the array @cases, with a
 * pointer to the element as its data: one test per row of a table */
#define PD_TEST_ADD_CASES_FULL(prefix, Fixture, cases, name, setup, func, teardown)          \
  G_STMT_START                                                                             \
  {                                                                                        \
    for (gsize i_ = 0; i_ < G_N_ELEMENTS (cases); i_++)                                    \
      {                                                                                    \
        g_autofree char *path_ = g_strdup_printf ("%s/%s", (prefix), (cases)[i_].name);   \
                                                                                           \
        g_test_add (path_, Fixture, &(cases)[i_], setup, func, teardown);                  \
      }                                                                                    \
  }                                                                                        \
  G_STMT_END
/* the same with the test file's own Fixture */
#define PD_TEST_ADD_CASES(prefix, cases, name, func) \
  PD_TEST_ADD_CASES_FULL (prefix, Fixture, cases, name, fixture_setup, func, fixture_teardown)

/* g_test_run () with assertions that fail their test without ending it: the test goes on, and
 * a bug found by one assertion does not hide what the rest would find */
int pd_test_run_nonfatal (void);

/* section: tar streams */

/* the kinds of entry (short names: they fill the tables of the tests) */
typedef enum {
  T_END = 0,
  T_FILE,
  T_DIR,
  T_SYMLINK,
  T_HARDLINK,
  T_CHR,  /* 1:3 */
  T_BLK,  /* 7:0 */
  T_FIFO,
} PdTestType;

typedef enum {
  FILTER_NONE,
  FILTER_GZIP,
  FILTER_XZ,
  FILTER_ZSTD,
  FILTER_BZIP2,
} PdTestFilter;

/* one tar entry; a table of them ends with { T_END } */
typedef struct {
  PdTestType type;
  const char *name;
  const char *target;  /* symlink or hard-link target */
  guint mode;          /* 0: 0755 for directories, 0644 otherwise */
  const char *data;    /* file content; NULL with @size: that many fill bytes */
  gsize size;
  gboolean random;     /* with @size: pseudo-random bytes that do not compress */
  guint uid;
} PdTestEntry;

/* a table of entries, with its end */
#define ENTRIES(...) ((const PdTestEntry[]) { __VA_ARGS__, { T_END } })

#define PD_TEST_MTIME 1700000000

typedef struct {
  /* compression of the whole stream */
  PdTestFilter filter;
  /* libarchive's 10240-byte blocks, as tar(1) and Docker write them; else the stream ends
   * right after the two end-of-archive blocks */
  gboolean padded;
  /* the bytes of files given by their size */
  char fill;
  /* a pax header before every entry, with the names as raw bytes (hdrcharset=BINARY); else
   * only where ustar cannot hold an entry */
  gboolean binary_names;
  /* as Docker's plugin create writes a layer (Go's archive/tar, after dockerd renamed the
   * context's rootfs/ entries): ustar headers only, the file type bits in the mode field, owner
   * names "root", the end right after the two zero blocks (@padded is ignored); with
   * FILTER_GZIP, Go's gzip header (mtime 0, OS 255). Entries are written as given: Docker's
   * begin with "." and name directories without a trailing "/"; a hard link's @mode is its
   * target's. Files, directories, symlinks and hard links only, names up to 100 bytes. */
  gboolean docker;
} PdTestTarOptions;

/* "plain", "gzip", "xz", "zstd", "bzip2": for test paths */
const char *pd_test_filter_name (PdTestFilter filter);
/* a pax (restricted) tar of @entries, every entry with mtime PD_TEST_MTIME and gid 0 */
GBytes *pd_test_build_tar (const PdTestEntry *entries, const PdTestTarOptions *options);
/* any bytes compressed as one stream (libarchive's "raw" format writes just the data), with
 * nothing after it; FILTER_NONE: @plain itself */
GBytes *pd_test_compress (GBytes *plain, PdTestFilter filter);
/* a layer: the tar of @entries (@options without its filter), compressed with @options' filter;
 * @diff_id (if not NULL): the digest of the uncompressed tar */
GBytes *pd_test_build_layer (const PdTestEntry *entries, const PdTestTarOptions *options,
                             char **diff_id);
/* "sha256:<hex>" of @bytes */
char *pd_test_digest (GBytes *bytes);
/* @n times @open, @middle, @n times @close */
char *pd_test_nested (guint n, const char *open, const char *middle, const char *close);

/* section: files and trees */

/* a new temporary directory named after @tmpl ("name-XXXXXX") */
char *pd_test_make_tmp_dir (const char *tmpl);
/* removes @path and everything below it, if it exists */
void pd_test_rm_rf (const char *path);
void pd_test_write_file (const char *path, const char *contents);
/* mkdir -p, 0755 */
void pd_test_make_dir (const char *path);
gboolean pd_test_path_exists (const char *path);
/* the permission bits of @path (not followed) */
mode_t pd_test_path_mode (const char *path);
/* how many entries @path holds */
guint pd_test_count_entries (const char *path);
/* "path d755", "path f644 content" ("<N bytes>" past 64 bytes), "path l ->target",
 * "path ?mode" lines below @root, depth first in name order, never following a symlink */
char *pd_test_list_tree (const char *root);

/* mounts a tmpfs of @size ("1m") on @dir, which exists; the suite runs as root (README), so
 * not being able to mount fails the test (never a skip): FALSE then */
gboolean pd_test_mount_tmpfs (const char *dir, const char *size);
void pd_test_umount (const char *dir);
/* how many mounts of this process's namespace are at @path or beneath it */
guint pd_test_count_mounts (const char *path);

/* section: processes */

/* children of this process, from /proc: no helper, registry or plugin may outlive a test */
guint pd_test_count_children (void);
/* runs plugind-extract @args @rootfs with @tar on its stdin, and asserts that it exited (a
 * seccomp kill, a syscall missing from its allow-list, shows up here); its exit status, and
 * what it printed in @err_out */
int pd_test_run_extract_helper (GBytes *tar, const char *const *args, const char *rootfs,
                                char **err_out);

/* runs the test's subprocess @path (a process of its own: for what a process does once, such as
 * its system bus connection or a mount namespace) and asserts it passed; fails the test unless
 * it runs as root, which every such test needs (to run a caller as nobody, to mount) */
void pd_test_trap_root_subprocess (const char *path);

/* section: errors and configs */

/* the message of @error, "" without one: a test whose assertions do not abort
 * (g_test_set_nonfatal_assertions ()) goes on after a failed g_assert_error () */
const char *pd_test_message_of (const GError *error);
/* @json as a config, which must parse */
PdPluginConfig *pd_test_parse_config (const char *json);

/* configs as published (tests/pd-test-configs.c): vieux/sshfs's with the lower-case keys of
 * the docs; tiborvass/sample-volume-plugin's as Docker's docs show it (Go spelling, nulls for
 * empty slices); one with every field set and every privilege condition met; one that takes
 * every branch of Docker's Set */
extern const char pd_test_sshfs_config[];
extern const char pd_test_sample_config[];
extern const char pd_test_full_config[];
extern const char pd_test_set_config[];
/* the digest pd_test_full_config's rootfs names */
#define PD_TEST_HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define PD_TEST_DIGEST "sha256:" PD_TEST_HEX64

#define STRV(...) ((const char *const[]) { __VA_ARGS__, NULL })
#define EMPTY_STRV ((const char *const[]) { NULL })

/* section: loopback sockets */

/* a TCP socket bound to 127.0.0.1 and a free port, not listening */
GSocket *pd_test_bound_loopback_socket (guint16 *port);

/* a thread that accepts connections on 127.0.0.1 and hands each to a function, which the
 * thread closes after it */
typedef void (*PdTestServerFunc) (GSocket *connection, GCancellable *cancellable,
                                  gpointer user_data);
typedef struct _PdTestServer PdTestServer;

PdTestServer *pd_test_server_new (PdTestServerFunc func, gpointer user_data);
/* the same on a unix socket it binds at @path (the port is 0) */
PdTestServer *pd_test_server_new_unix (const char *path, PdTestServerFunc func,
                                       gpointer user_data);
guint16 pd_test_server_get_port (PdTestServer *server);
/* writes @data to a server's blocking @connection until done or a write fails */
void pd_test_socket_send_all (GSocket *connection, GCancellable *cancellable, const char *data,
                              gsize len);
/* the connections it accepted so far */
guint pd_test_server_get_accepted (PdTestServer *server);
/* stops accepting, waits for the thread */
void pd_test_server_free (PdTestServer *server);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PdTestServer, pd_test_server_free)

G_END_DECLS
