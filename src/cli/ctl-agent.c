/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "pluginctl"

#define POLKIT_AGENT_I_KNOW_API_IS_SUBJECT_TO_CHANGE
#include <polkitagent/polkitagent.h>

#include <fcntl.h>
#include <signal.h>
#include <termios.h>
#include <unistd.h>

#include "ctl-agent.h"

/* the terminal as it was before the agent hid the password, for a signal that ends pluginctl
 * while the echo is off */
static int tty_fd = -1;
static struct termios tty_saved;
static struct sigaction saved_actions[3];
static const int restore_signals[3] = { SIGINT, SIGTERM, SIGHUP };

static void
restore_tty_and_reraise (int signo)
{
  for (guint i = 0; i < G_N_ELEMENTS (restore_signals); i++)
    if (restore_signals[i] == signo)
      sigaction (signo, &saved_actions[i], NULL);
  tcsetattr (tty_fd, TCSADRAIN, &tty_saved);
  raise (signo);
}

/* in the agent's thread: the listener turned the echo off (@changed) or back on */
static void
on_tty_attrs_changed (PolkitAgentListener *listener, gboolean changed, gpointer user_data)
{
  static gboolean hidden;
  struct sigaction action = { .sa_handler = restore_tty_and_reraise };

  /* only on a change, so that the actions saved are never our own */
  if (tty_fd < 0 || (changed != FALSE) == hidden)
    return;
  hidden = changed != FALSE;
  for (guint i = 0; i < G_N_ELEMENTS (restore_signals); i++)
    {
      if (changed)
        sigaction (restore_signals[i], &action, &saved_actions[i]);
      else
        sigaction (restore_signals[i], &saved_actions[i], NULL);
    }
}

/* whether logind counts this process in a session: only then does polkitd (122) look for the
 * session's agent, and outside a session it ignores an agent registered as a fallback */
static gboolean
in_logind_session (void)
{
  g_autoptr(GDBusConnection) bus = g_bus_get_sync (G_BUS_TYPE_SYSTEM, NULL, NULL);
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) error = NULL;

  if (bus == NULL)
    return FALSE;
  /* no auto-start: a logind that does not run has no sessions */
  reply = g_dbus_connection_call_sync (bus, "org.freedesktop.login1", "/org/freedesktop/login1",
                                       "org.freedesktop.login1.Manager", "GetSessionByPID",
                                       g_variant_new ("(u)", (guint32) getpid ()),
                                       G_VARIANT_TYPE ("(o)"), G_DBUS_CALL_FLAGS_NO_AUTO_START,
                                       5000, NULL, &error);
  if (reply == NULL)
    g_debug ("no logind session: %s", error->message);
  return reply != NULL;
}

/* the registration, while the agent runs */
static gpointer agent_handle;

static gpointer
register_agent (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PolkitAgentListener) listener = NULL;
  g_autoptr(PolkitSubject) subject = NULL;
  GVariantBuilder options;
  gpointer handle;

  /* fails when there is no controlling terminal to ask on */
  listener = polkit_agent_text_listener_new (NULL, &error);
  if (listener == NULL)
    {
      g_debug ("no polkit text agent: %s", error->message);
      return NULL;
    }
  tty_fd = open ("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (tty_fd >= 0 && tcgetattr (tty_fd, &tty_saved) != 0)
    {
      close (tty_fd);
      tty_fd = -1;
    }
  g_signal_connect (listener, "tty-attrs-changed", G_CALLBACK (on_tty_attrs_changed), NULL);

  /* this process only (the session may have other users of the terminal), with its start
   * time, so that polkitd never confuses it with a later process of the same pid */
  subject = polkit_unix_process_new_for_owner (getpid (), 0, getuid ());
  /* in a session, a fallback as systemctl's agent: an agent registered for the session (a
   * desktop's dialog) goes first; outside any session there is no such agent to defer to */
  g_variant_builder_init (&options, G_VARIANT_TYPE_VARDICT);
  if (in_logind_session ())
    g_variant_builder_add (&options, "{sv}", "fallback", g_variant_new_boolean (TRUE));
  /* in a thread of its own: pluginctl's calls block the main thread while polkitd asks */
  handle = polkit_agent_listener_register_with_options (listener,
                                                        POLKIT_AGENT_REGISTER_FLAGS_RUN_IN_THREAD,
                                                        subject, NULL,
                                                        g_variant_builder_end (&options),
                                                        NULL, &error);
  if (handle == NULL)
    g_debug ("polkit text agent not registered: %s", error->message);
  return handle;
}

void
ctl_agent_start (void)
{
  static gboolean tried;

  if (tried)
    return;
  tried = TRUE;
  if (!isatty (STDIN_FILENO) || getuid () == 0)
    return;
  agent_handle = register_agent ();
}

void
ctl_agent_stop (void)
{
  g_clear_pointer (&agent_handle, polkit_agent_listener_unregister);
}
