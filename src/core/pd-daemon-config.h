/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * The daemon configuration file (docs/plugind.8.rst): $CONFIGURATION_DIRECTORY/plugind.conf, else
 * PLUGIND_CONFIG_DIR/plugind.conf (config.h: <sysconfdir>/plugind, /etc/plugind by default,
 * where meson installs plugind.conf), a GKeyFile. Registry certificates are read from the
 * certs.d dir next to it ($CONFIGURATION_DIRECTORY/certs.d, else PLUGIND_CONFIG_DIR/certs.d), as
 * Docker reads /etc/docker/certs.d/<host[:port]>/.
 */
/* a registry request that moves fewer than 16 KiB in 60 s of waiting on the network fails */
#define PD_DEFAULT_STALL_TIMEOUT_S 60
#define PD_DEFAULT_STALL_MIN_BYTES 16384
/* dockerd 20.10 looks for unmanaged plugins there, and nowhere else */
#define PD_DEFAULT_DOCKERD_PLUGIN_DIR "/run/docker/plugins"
/* a containers.conf drop-in of podman's, which plugind owns */
#define PD_DEFAULT_PODMAN_DROP_IN "/etc/containers/containers.conf.d/plugind.conf"

typedef struct {
  /* [Registries] */
  GStrv insecure;            /* Insecure=: host[:port] entries, lower-case; never NULL */
  GStrv mirrors;             /* Mirrors=: base URLs without a trailing '/'; never NULL */
  char *certs_dir;
  guint stall_timeout_s;     /* StallTimeout= (60): a request fails when fewer than */
  guint64 stall_min_bytes;   /* StallMinBytes= (16384) bytes move in that much waiting */

  /* [Limits] */
  guint max_jobs;            /* MaxJobs= (16) */
  guint64 max_archive_bytes; /* MaxArchiveBytes= (8 GiB) */
  guint64 max_archive_entries; /* MaxArchiveEntries= (1,000,000) */

  /* [Sandbox] */
  gboolean only_requested_capabilities; /* Capabilities=requested (default: docker) */

  /* [ContainerEngines]: where the consumer sockets of enabled plugins are published */
  char *dockerd_plugin_dir;  /* DockerdPluginDir= (/run/docker/plugins); NULL: Dockerd=false */
  char *podman_drop_in;      /* PodmanDropIn= (PD_DEFAULT_PODMAN_DROP_IN); NULL: Podman=false */
  guint answer_timeout_s;    /* AnswerTimeout= (60): how long a consumer socket waits for the
                              * plugin's answer, unless Enable's timeout option set one */
} PdDaemonConfig;

/* the defaults, as if the file were empty */
PdDaemonConfig *pd_daemon_config_new_default (void);
/* Reads @path (NULL = the default location). A missing file gives the defaults; an unreadable
 * or malformed one, or an invalid value, is an error naming the key. */
PdDaemonConfig *pd_daemon_config_load (const char *path, GError **error);
void pd_daemon_config_free (PdDaemonConfig *config);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PdDaemonConfig, pd_daemon_config_free)

/* the file and dir locations described above */
char *pd_daemon_config_get_default_path (void);

/* "host[:port]" of a registry is insecure when it is listed in Insecure= (then HTTP, or HTTPS
 * without verification, may be used) */
gboolean pd_daemon_config_is_insecure (const PdDaemonConfig *config, const char *host);

G_END_DECLS
