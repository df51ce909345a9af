/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* polkit's text agent for pluginctl's own process, so that an administrator without a
 * graphical agent (an SSH session) is asked for a password on the terminal. Started by the
 * first call that allows interaction, once, and only when standard input is a terminal and the
 * caller is not root (whom the daemon never asks polkit about); inside a login session a
 * fallback, so that the session's own agent, when there is one, asks instead. A failure only
 * means that polkit cannot ask: the call then fails as it would without an agent. */
void ctl_agent_start (void);
/* unregisters the agent, if one runs */
void ctl_agent_stop (void);

G_END_DECLS
