/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

#include "pd-plugin-record.h"
#include "pd-store.h"

G_BEGIN_DECLS

/* What the tests of the store and of the pieces around it share: a temp dir with a state dir,
 * plugin records, and the state dir's invariants. */

#define ID_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define ID_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define ID_C "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
#define ID_D "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"
#define ID_E "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"
#define ID_F "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
#define ID_9 "9999999999999999999999999999999999999999999999999999999999999999"

#define DIGEST_1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define DIGEST_2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"
#define DIGEST_3 "sha256:3333333333333333333333333333333333333333333333333333333333333333"
#define DIGEST_4 "sha256:4444444444444444444444444444444444444444444444444444444444444444"
#define DIGEST_5 "sha256:5555555555555555555555555555555555555555555555555555555555555555"
#define DIGEST_6 "sha256:6666666666666666666666666666666666666666666666666666666666666666"

/* the temp dir of a test, and its state dir (not made: the store makes it) */
typedef struct {
  char *base;
  char *state_dir;  /* base/state */
} PdTestStoreFixture;

void pd_test_store_fixture_setup (PdTestStoreFixture *fixture, gconstpointer data);
void pd_test_store_fixture_teardown (PdTestStoreFixture *fixture, gconstpointer data);

typedef void (*PdTestStoreFunc) (PdTestStoreFixture *fixture, gconstpointer data);
/* adds the test @path: @func with this fixture */
void pd_test_add_store_test (const char *path, PdTestStoreFunc func);

PdStore *pd_test_open_store (const char *state_dir);

/* a config with every kind of setting: a mount ("data", /var/lib/data), an env ("DEBUG=0")
 * and args */
PdPluginConfig *pd_test_make_config (void);
/* a small config: @description, and one env "LEVEL" whose default is @level */
PdPluginConfig *pd_test_level_config (const char *description, const char *level);
/* a record of pd_test_make_config () pulled from docker.io/test/plugin:latest */
PdPluginRecord *pd_test_make_record (const char *id, const char *name, const char *manifest,
                                     const char *config_digest, const char *const *layers);
/* stages a rootfs with one file (hello: "hello world\n") and commits the plugin */
void pd_test_install_plugin (PdStore *store, PdPluginRecord *record);

/* invariants 3, 4 and 5 of docs/design.md (section Tests) on a state dir, and every plugin dir
 * being whole */
void pd_test_assert_invariants (const char *state_dir);

/* the store warns on purpose about what it leaves in place: the tests that provoke this
 * collect the warnings of its domain (which would otherwise be fatal) into @messages */
guint pd_test_collect_store_warnings (GPtrArray *messages);
void pd_test_stop_collecting_store_warnings (guint handler_id);
/* how many of @messages hold @needle */
guint pd_test_count_messages (GPtrArray *messages, const char *needle);

G_END_DECLS
