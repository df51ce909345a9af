/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "ctl-common.h"

G_BEGIN_DECLS

/* How a job is shown. create draws one progress line on standard error. The registry jobs
 * follow `docker plugin install` and `push`: one line per layer on standard output, redrawn in
 * place on a terminal, and one plain line per status change anywhere else. */
typedef enum {
  CTL_FOLLOW_CREATE,
  CTL_FOLLOW_PULL,  /* pull and upgrade */
  CTL_FOLLOW_PUSH,
} CtlFollowMode;

typedef struct _CtlJobFollow CtlJobFollow;

/* @digest: pull, the manifest digest the job is bound to, for the header (NULL: none) */
CtlJobFollow *ctl_job_follow_new (CtlFollowMode mode, const char *digest);
void ctl_job_follow_free (CtlJobFollow *follow);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CtlJobFollow, ctl_job_follow_free)

/* shows the job at @path until it ends, Ctrl+C cancelling it; returns its results or NULL
 * with the job's error */
GVariant *ctl_job_follow_run (CtlJobFollow *follow, Ctl *ctl, const char *path, GError **error);

/* a GSourceFunc on the main context for a failure on our side: cancels the job at once, or as
 * soon as ctl_job_follow_run() knows it; nothing once the job ended */
gboolean ctl_job_follow_cancel_soon (gpointer follow);

/* follows the registry job at @path: the a{sv} of its results, or NULL with its error */
GVariant *ctl_follow_registry_job (Ctl *ctl,
                                   const char *path,
                                   CtlFollowMode mode,
                                   const char *digest,
                                   GError **error);

G_END_DECLS
