/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* polkit's text agent for pluginctl's own process, so that an administrator without a
 * graphical agent (an SSH session) is asked for a password on the terminal. Started only when
 * @interactive, standard input is a terminal and the caller is not root (whom the daemon
 * never asks polkit about); registered as a fallback, so that an agent of the session, when
 * there is one, asks instead. Returns NULL when no agent runs: a failure only means that
 * polkit cannot ask, and the call then fails as it would without an agent. */
gpointer ctl_agent_start (gboolean interactive);
/* unregisters the agent started by ctl_agent_start(); NULL is allowed */
void ctl_agent_stop (gpointer agent);

G_END_DECLS
