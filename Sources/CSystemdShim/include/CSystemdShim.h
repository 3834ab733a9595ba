// CSystemdShim: the one D-Bus question `fleet ps` asks the user manager, through libsystemd's
// sd-bus (Debian's libsystemd-dev). sd-bus reads messages with C varargs, which Swift cannot
// call, so the call and the reading of its answer are here; Swift gets plain text back.
#ifndef CSYSTEMDSHIM_H
#define CSYSTEMDSHIM_H

#include <stddef.h>
#include <stdint.h>

/// Asks the systemd manager listening on the unix socket `socket_path` (a user manager's
/// `$XDG_RUNTIME_DIR/systemd/private`) for `ListUnitsByPatterns([], patterns)`: every loaded
/// unit matching one of the `count` glob patterns, whatever its state (`systemctl list-units
/// --all PATTERN...`). The manager must run as this user or as root (checked on the socket).
///
/// On success returns 0 and sets `*out` to a malloc'd, NUL-terminated text (the caller frees
/// it): one line per unit, `id \x1f load \x1f active \x1f sub \n`. On failure returns a
/// negative errno and writes a one-line reason into `why` (at most `why_size` bytes):
/// -ECONNREFUSED/-ENOENT and the like when no manager answers on the socket, -EPERM when the
/// peer is another user, otherwise sd-bus's error (the manager's D-Bus error name and message).
int mosaic_sd_list_units(const char *socket_path, const char *const *patterns, size_t count,
                         uint64_t timeout_usec, char **out, char *why, size_t why_size);

#endif
