/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One HTTP message as a consumer socket reads it (pd_http_read_message()), from a socket whose
 * peer sent the input and closed: a request when the first byte is odd, else a plugin's
 * answer. Whatever it is, the read ends with a message within the bounds or an error. */
#include "config.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz-common.h"
#include "pd-consumer-http.h"

#define MAX_BODY 4096
/* every input fits in the socket's buffer at once */
#define INPUT_MAX (96 * 1024)

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdHttpMessage) message = NULL;
  gboolean is_request;
  int sv[2];
  int sndbuf = 256 * 1024;

  if (size < 1 || size > INPUT_MAX)
    return 0;
  is_request = (data[0] & 1) != 0;
  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0)
    abort ();
  setsockopt (sv[1], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  if (size > 1 && write (sv[1], data + 1, size - 1) != (ssize_t) (size - 1))
    abort ();
  shutdown (sv[1], SHUT_WR);
  message = pd_http_read_message (sv[0], -1, is_request, MAX_BODY,
                                  g_get_monotonic_time () + 10 * G_USEC_PER_SEC, &error);
  close (sv[0]);
  close (sv[1]);
  if ((message == NULL) == (error == NULL))
    abort ();
  if (message == NULL)
    return 0;
  if (message->body->len > MAX_BODY)
    abort ();
  if (is_request && (message->method == NULL || message->target == NULL ||
                     message->target[0] != '/' || strlen (message->target) > PD_HTTP_TARGET_MAX))
    abort ();
  if (!is_request && (message->status < 200 || message->status > 599))
    abort ();
  return 0;
}
