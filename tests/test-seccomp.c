/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The sandbox's seccomp filter (pd-seccomp.c) as bwrap reads it: a sealed, close-on-exec fd
 * holding a BPF program within the kernel's bound; an unknown capability is refused. What
 * the filter allows and refuses is seen from inside real sandboxes (test-sandbox-start.c).
 */
#include "config.h"

#define G_LOG_DOMAIN "test-seccomp"

/* F_GET_SEALS */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <fcntl.h>
#include <linux/filter.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>

#include "pd-error.h"
#include "pd-seccomp.h"

static void
test_seccomp_fd (void)
{
  g_autoptr(GError) error = NULL;
  const char *caps[] = { "CAP_SYS_ADMIN", NULL };
  const char *bad[] = { "CAP_NOPE", NULL };
  struct stat st;
  int seals;
  int fd;

  fd = pd_sandbox_compile_seccomp (caps, PD_SECCOMP_FLAGS_NONE, &error);
  g_assert_no_error (error);
  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (fcntl (fd, F_GETFD), ==, FD_CLOEXEC);
  g_assert_cmpint (lseek (fd, 0, SEEK_CUR), ==, 0);
  g_assert_no_errno (fstat (fd, &st));
  g_assert_cmpint (st.st_size, >, 0);
  g_assert_cmpint (st.st_size % sizeof (struct sock_filter), ==, 0);
  g_assert_cmpint (st.st_size / sizeof (struct sock_filter), <=, BPF_MAXINSNS);
  seals = fcntl (fd, F_GET_SEALS);
  g_assert_cmpint (seals & (F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL), ==,
                   F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
  /* nobody can change it any more */
  g_assert_cmpint (write (fd, "x", 1), ==, -1);
  close (fd);

  fd = pd_sandbox_compile_seccomp (NULL, PD_SECCOMP_FLAGS_ALLOW_DEVICE_NODES, &error);
  g_assert_no_error (error);
  g_assert_cmpint (fd, >=, 0);
  close (fd);

  fd = pd_sandbox_compile_seccomp (bad, PD_SECCOMP_FLAGS_NONE, &error);
  g_assert_error (error, PD_ERROR, PD_ERROR_SANDBOX_FAILED);
  g_assert_cmpint (fd, ==, -1);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/seccomp/fd", test_seccomp_fd);

  return g_test_run ();
}
