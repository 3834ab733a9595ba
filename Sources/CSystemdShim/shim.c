#define _GNU_SOURCE
#include "CSystemdShim.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <systemd/sd-bus.h>

// libsystemd is opened when the first question is asked, not linked: it and what it links
// (libgcrypt, liblzma, libzstd, liblz4, libcap...) would cost every mosaic start about a
// millisecond of loading, and only `fleet ps` asks, on a thread of its own. The types come
// from <systemd/sd-bus.h>; the functions from libsystemd.so.0 (sd-bus's ABI is stable).
static struct {
  int (*error_is_set)(const sd_bus_error *);
  void (*error_free)(sd_bus_error *);
  int (*bus_new)(sd_bus **);
  int (*set_address)(sd_bus *, const char *);
  int (*start)(sd_bus *);
  int (*get_fd)(sd_bus *);
  int (*new_method_call)(sd_bus *, sd_bus_message **, const char *, const char *, const char *,
                         const char *);
  int (*append_strv)(sd_bus_message *, char **);
  int (*call)(sd_bus *, sd_bus_message *, uint64_t, sd_bus_error *, sd_bus_message **);
  int (*enter_container)(sd_bus_message *, char, const char *);
  int (*read)(sd_bus_message *, const char *, ...);
  int (*exit_container)(sd_bus_message *);
  sd_bus_message *(*message_unref)(sd_bus_message *);
  sd_bus *(*flush_close_unref)(sd_bus *);
} sd;
static pthread_once_t sd_once = PTHREAD_ONCE_INIT;
static char sd_problem[256];

static void sd_open(void) {
  void *lib = dlopen("libsystemd.so.0", RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    const char *e = dlerror();
    snprintf(sd_problem, sizeof sd_problem, "%s", e ? e : "libsystemd.so.0: cannot be opened");
    return;
  }
#define SYM(field, name)                                                                     \
  if (!(*(void **)&sd.field = dlsym(lib, name))) {                                          \
    snprintf(sd_problem, sizeof sd_problem, "libsystemd.so.0 lacks %s", name);               \
    return;                                                                                  \
  }
  SYM(error_is_set, "sd_bus_error_is_set")
  SYM(error_free, "sd_bus_error_free")
  SYM(bus_new, "sd_bus_new")
  SYM(set_address, "sd_bus_set_address")
  SYM(start, "sd_bus_start")
  SYM(get_fd, "sd_bus_get_fd")
  SYM(new_method_call, "sd_bus_message_new_method_call")
  SYM(append_strv, "sd_bus_message_append_strv")
  SYM(call, "sd_bus_call")
  SYM(enter_container, "sd_bus_message_enter_container")
  SYM(read, "sd_bus_message_read")
  SYM(exit_container, "sd_bus_message_exit_container")
  SYM(message_unref, "sd_bus_message_unref")
  SYM(flush_close_unref, "sd_bus_flush_close_unref")
#undef SYM
}

static void say(char *why, size_t size, const char *what, int r, const sd_bus_error *e) {
  if (!why || size == 0) return;
  if (e && sd.error_is_set(e)) {
    snprintf(why, size, "%s: %s (%s)", what, e->message ? e->message : "failed",
             e->name ? e->name : "?");
  } else {
    snprintf(why, size, "%s: %s", what, strerror(r < 0 ? -r : r));
  }
}

// D-Bus address escaping: every byte outside [A-Za-z0-9_/.-] becomes %xx.
static char *address_for(const char *path) {
  size_t n = strlen(path);
  char *out = malloc(strlen("unix:path=") + 3 * n + 1);
  if (!out) return NULL;
  char *p = stpcpy(out, "unix:path=");
  for (const unsigned char *s = (const unsigned char *)path; *s; s++) {
    if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
        *s == '_' || *s == '/' || *s == '.' || *s == '-') {
      *p++ = (char)*s;
    } else {
      p += sprintf(p, "%%%02x", *s);
    }
  }
  *p = 0;
  return out;
}

// A growing text buffer.
typedef struct {
  char *data;
  size_t len, cap;
} text;

static int append(text *t, const char *s, char end) {
  size_t n = strlen(s);
  if (t->len + n + 2 > t->cap) {
    size_t cap = t->cap ? t->cap * 2 : 4096;
    while (cap < t->len + n + 2) cap *= 2;
    char *d = realloc(t->data, cap);
    if (!d) return -ENOMEM;
    t->data = d;
    t->cap = cap;
  }
  memcpy(t->data + t->len, s, n);
  t->len += n;
  t->data[t->len++] = end;
  t->data[t->len] = 0;
  return 0;
}

int mosaic_sd_list_units(const char *socket_path, const char *const *patterns, size_t count,
                         uint64_t timeout_usec, char **out, char *why, size_t why_size) {
  sd_bus *bus = NULL;
  sd_bus_message *call = NULL, *reply = NULL;
  sd_bus_error error = SD_BUS_ERROR_NULL;
  text t = {0};
  char **strv = NULL;
  char *address = NULL;
  int r;

  *out = NULL;
  pthread_once(&sd_once, sd_open);
  if (sd_problem[0]) {
    if (why && why_size) snprintf(why, why_size, "%s", sd_problem);
    return -ENOENT;
  }
  address = address_for(socket_path);
  if (!address) { r = -ENOMEM; say(why, why_size, "memory", r, NULL); goto done; }
  r = sd.bus_new(&bus);
  if (r < 0) { say(why, why_size, "sd_bus_new", r, NULL); goto done; }
  r = sd.set_address(bus, address);
  if (r < 0) { say(why, why_size, socket_path, r, NULL); goto done; }
  r = sd.start(bus);
  if (r < 0) { say(why, why_size, socket_path, r, NULL); goto done; }

  // Only a manager of this user (or root's) may answer for this user's units.
  struct ucred peer;
  socklen_t len = sizeof peer;
  int fd = sd.get_fd(bus);
  if (fd < 0 || getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &len) < 0) {
    r = fd < 0 ? fd : -errno;
    say(why, why_size, socket_path, r, NULL);
    goto done;
  }
  if (peer.uid != 0 && peer.uid != geteuid()) {
    r = -EPERM;
    snprintf(why, why_size, "%s: the manager on it runs as uid %u, not as this user", socket_path,
             (unsigned)peer.uid);
    goto done;
  }

  r = sd.new_method_call(bus, &call, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                         "org.freedesktop.systemd1.Manager", "ListUnitsByPatterns");
  if (r < 0) { say(why, why_size, "ListUnitsByPatterns", r, NULL); goto done; }
  char *none[] = {NULL};
  r = sd.append_strv(call, none);
  if (r < 0) { say(why, why_size, "ListUnitsByPatterns", r, NULL); goto done; }
  strv = calloc(count + 1, sizeof(char *));
  if (!strv) { r = -ENOMEM; say(why, why_size, "memory", r, NULL); goto done; }
  for (size_t i = 0; i < count; i++) strv[i] = (char *)patterns[i];
  r = sd.append_strv(call, strv);
  if (r < 0) { say(why, why_size, "ListUnitsByPatterns", r, NULL); goto done; }

  r = sd.call(bus, call, timeout_usec, &error, &reply);
  if (r < 0) { say(why, why_size, "ListUnitsByPatterns", r, &error); goto done; }

  r = sd.enter_container(reply, 'a', "(ssssssouso)");
  if (r < 0) { say(why, why_size, "ListUnitsByPatterns reply", r, NULL); goto done; }
  for (;;) {
    const char *id, *description, *load, *active, *sub, *following, *job_type;
    const char *unit_path, *job_path;
    uint32_t job_id;
    r = sd.read(reply, "(ssssssouso)", &id, &description, &load, &active, &sub, &following,
                &unit_path, &job_id, &job_type, &job_path);
    if (r < 0) { say(why, why_size, "ListUnitsByPatterns reply", r, NULL); goto done; }
    if (r == 0) break;
    if ((r = append(&t, id, '\x1f')) < 0 || (r = append(&t, load, '\x1f')) < 0 ||
        (r = append(&t, active, '\x1f')) < 0 || (r = append(&t, sub, '\n')) < 0) {
      say(why, why_size, "memory", r, NULL);
      goto done;
    }
  }
  r = sd.exit_container(reply);
  if (r < 0) { say(why, why_size, "ListUnitsByPatterns reply", r, NULL); goto done; }
  if (!t.data) {
    t.data = calloc(1, 1);
    if (!t.data) { r = -ENOMEM; say(why, why_size, "memory", r, NULL); goto done; }
  }
  *out = t.data;
  t.data = NULL;
  r = 0;

done:
  free(t.data);
  free(strv);
  free(address);
  sd.error_free(&error);
  sd.message_unref(reply);
  sd.message_unref(call);
  sd.flush_close_unref(bus);
  return r;
}
