// See CLuaShim.h for why this file exists. Everything here may longjmp (lua_error) only
// inside Lua's own protected calls, never through a Swift frame.
#include "CLuaShim.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MOSAIC_HOOK_COUNT 1000

double mosaic_monotonic(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

// MARK: allocator with a byte budget

static void *budget_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  mosaic_limits *lim = (mosaic_limits *)ud;
  if (ptr == NULL) osize = 0;  // osize then encodes the object type
  if (nsize == 0) {
    free(ptr);
    lim->used -= osize;
    return NULL;
  }
  if (lim->limit != 0 && nsize > osize && lim->in_host == 0 &&
      lim->used - osize + nsize > lim->limit) {
    // Refuse, and make the refusal stick: the hook now stops the chunk even if it
    // catches "not enough memory" with pcall and tries again.
    lim->abort_reason = MOSAIC_ABORT_MEMORY;
    return NULL;
  }
  void *p = realloc(ptr, nsize);
  if (p == NULL) return NULL;
  lim->used = lim->used - osize + nsize;
  if (lim->used > lim->peak) lim->peak = lim->used;
  return p;
}

mosaic_limits *mosaic_getlimits(lua_State *L) {
  void *ud = NULL;
  lua_getallocf(L, &ud);
  return (mosaic_limits *)ud;
}

// MARK: hooks: interrupt, deadline, memory

static const char *abort_message(mosaic_limits *lim, char *buf, size_t len) {
  switch (lim->abort_reason) {
    case MOSAIC_ABORT_INTERRUPT:
      return "interrupted";
    case MOSAIC_ABORT_TIMEOUT:
      return "time limit exceeded";
    case MOSAIC_ABORT_MEMORY:
      if (lim->limit % (1 << 20) == 0)
        snprintf(buf, len, "memory limit exceeded (%zu MiB)", lim->limit >> 20);
      else
        snprintf(buf, len, "memory limit exceeded (%zu KiB)", (lim->limit + 1023) >> 10);
      return buf;
    default:
      return "aborted";
  }
}

const char *mosaic_abort_message(lua_State *L, char *buf, size_t len) {
  return abort_message(mosaic_getlimits(L), buf, len);
}

static void limit_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  mosaic_limits *lim = mosaic_getlimits(L);
  if (lim->abort_reason == MOSAIC_ABORT_NONE && lim->deadline > 0 &&
      mosaic_monotonic() >= lim->deadline) {
    lim->abort_reason = MOSAIC_ABORT_TIMEOUT;
  }
  if (lim->abort_reason == MOSAIC_ABORT_NONE) return;
  // Escalate: fire on every instruction from now on, so no pcall loop can outlast it.
  lua_sethook(L, limit_hook, LUA_MASKCOUNT, 1);
  char buf[80];
  lua_pushstring(L, abort_message(lim, buf, sizeof buf));
  lua_error(L);
}

static void arm_hook(lua_State *L) { lua_sethook(L, limit_hook, LUA_MASKCOUNT, MOSAIC_HOOK_COUNT); }

void mosaic_set_deadline(lua_State *L, double seconds) {
  mosaic_limits *lim = mosaic_getlimits(L);
  lim->deadline = seconds > 0 ? mosaic_monotonic() + seconds : 0;
}

void mosaic_request_abort(lua_State *L, int reason) {
  // Only a flag write: safe in a signal handler. The count hook, armed on every state
  // (and inherited by coroutines), notices within MOSAIC_HOOK_COUNT instructions.
  mosaic_getlimits(L)->abort_reason = reason;
}

void mosaic_clear_abort(lua_State *L) {
  mosaic_getlimits(L)->abort_reason = MOSAIC_ABORT_NONE;
  arm_hook(L);
}

int mosaic_abort_pending(lua_State *L) {
  mosaic_limits *lim = mosaic_getlimits(L);
  if (lim->abort_reason == MOSAIC_ABORT_NONE && lim->deadline > 0 &&
      mosaic_monotonic() >= lim->deadline) {
    lim->abort_reason = MOSAIC_ABORT_TIMEOUT;
  }
  return lim->abort_reason;
}

// MARK: SIGINT

static lua_State *volatile sigint_state = NULL;

static void on_sigint(int sig) {
  signal(sig, SIG_DFL);  // a second Ctrl-C ends the process
  lua_State *L = sigint_state;
  if (L != NULL) mosaic_request_abort(L, MOSAIC_ABORT_INTERRUPT);
}

// The disposition SIGINT had before mosaic_catch_sigint, restored on release (the shell
// keeps its own prompt handler between evaluations; a script had the default).
static struct sigaction sigint_before;

void mosaic_catch_sigint(lua_State *L) {
  sigint_state = L;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &sigint_before);
}

void mosaic_release_sigint(void) {
  sigaction(SIGINT, &sigint_before, NULL);
  sigint_state = NULL;
}

// MARK: state creation, panic and warnings

static int on_panic(lua_State *L) {
  const char *msg = lua_tostring(L, -1);
  fprintf(stderr, "mosaic: unprotected Lua error: %s\n", msg ? msg : "(not a string)");
  fflush(stderr);
  exit(70);
}

static void warn_off(void *ud, const char *msg, int tocont);
static void warn_on(void *ud, const char *msg, int tocont);

static int warn_control(lua_State *L, const char *msg, int tocont) {
  if (tocont || *(msg++) != '@') return 0;
  if (strcmp(msg, "off") == 0)
    lua_setwarnf(L, warn_off, L);
  else if (strcmp(msg, "on") == 0)
    lua_setwarnf(L, warn_on, L);
  return 1;
}

static void warn_off(void *ud, const char *msg, int tocont) {
  warn_control((lua_State *)ud, msg, tocont);
}

static void warn_on_cont(void *ud, const char *msg, int tocont) {
  lua_State *L = (lua_State *)ud;
  fputs(msg, stderr);
  if (tocont)
    lua_setwarnf(L, warn_on_cont, L);
  else {
    fputs("\n", stderr);
    lua_setwarnf(L, warn_on, L);
  }
}

static void warn_on(void *ud, const char *msg, int tocont) {
  if (warn_control((lua_State *)ud, msg, tocont)) return;
  fputs("mosaic: Lua warning: ", stderr);
  warn_on_cont(ud, msg, tocont);
}

lua_State *mosaic_newstate(mosaic_limits *limits) {
  lua_State *L = lua_newstate(budget_alloc, limits);
  if (L == NULL) return NULL;
  lua_atpanic(L, on_panic);
  lua_setwarnf(L, warn_off, L);
  arm_hook(L);
  return L;
}

// MARK: protected calls

static int message_handler(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return 1;
    msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}

int mosaic_pcall(lua_State *L, int nargs, int nresults, int traceback) {
  int base = 0;
  if (traceback) {
    base = lua_gettop(L) - nargs;
    lua_pushcfunction(L, message_handler);
    lua_insert(L, base);
  }
  int status = lua_pcall(L, nargs, nresults, base);
  if (traceback) lua_remove(L, base);
  mosaic_limits *lim = mosaic_getlimits(L);
  if (status == LUA_ERRMEM && lim->abort_reason == MOSAIC_ABORT_MEMORY) {
    // Lua does not call the message handler for memory errors; say what happened.
    char buf[80];
    lim->in_host++;
    lua_pop(L, 1);
    lua_pushstring(L, abort_message(lim, buf, sizeof buf));
    lim->in_host--;
  }
  return status;
}

static int openlibs(lua_State *L) {
  luaL_openlibs(L);
  return 0;
}

int mosaic_pcall_openlibs(lua_State *L) {
  lua_pushcfunction(L, openlibs);
  return lua_pcall(L, 0, 0, 0);
}

void mosaic_traceback(lua_State *L, lua_State *L1, const char *msg, int level) {
  luaL_traceback(L, L1, msg, level);
}

// MARK: host functions

static mosaic_host_dispatch host_dispatch = NULL;

void mosaic_set_dispatch(mosaic_host_dispatch fn) { host_dispatch = fn; }

static int host_trampoline(lua_State *L) {
  int id = (int)lua_tointeger(L, lua_upvalueindex(1));
  mosaic_limits *lim = mosaic_getlimits(L);
  lim->in_host++;
  int n = host_dispatch(L, id);
  lim->in_host--;
  // A host function that gave up because of an abort (sleep, exec) raised it, maybe into a
  // pcall: escalate now, so the very next instruction raises it again.
  if (lim->abort_reason != MOSAIC_ABORT_NONE) lua_sethook(L, limit_hook, LUA_MASKCOUNT, 1);
  if (n >= 0) return n;
  if (n == MOSAIC_HOST_ERROR_ARG) {
    // The reason stays on the stack (anchored) while luaL_argerror formats it.
    return luaL_argerror(L, (int)lua_tointeger(L, -2), lua_tostring(L, -1));
  }
  if (n == MOSAIC_HOST_ERROR_WHERE) {
    luaL_where(L, 1);
    lua_insert(L, -2);
    lua_concat(L, 2);
  }
  return lua_error(L);
}

void mosaic_push_hostfunction(lua_State *L, int id) {
  lua_pushinteger(L, id);
  lua_pushcclosure(L, host_trampoline, 1);
}

// MARK: macro wrappers

void mosaic_pop(lua_State *L, int n) { lua_pop(L, n); }
void mosaic_insert(lua_State *L, int idx) { lua_insert(L, idx); }
void mosaic_remove(lua_State *L, int idx) { lua_remove(L, idx); }
void mosaic_replace(lua_State *L, int idx) { lua_replace(L, idx); }
void mosaic_newtable(lua_State *L) { lua_newtable(L); }
int mosaic_upvalueindex(int i) { return lua_upvalueindex(i); }
int mosaic_registryindex(void) { return LUA_REGISTRYINDEX; }
void **mosaic_extraspace(lua_State *L) { return (void **)lua_getextraspace(L); }
int mosaic_isnoneornil(lua_State *L, int idx) { return lua_isnoneornil(L, idx); }

int mosaic_loadbuffer(lua_State *L, const char *buf, size_t len, const char *name,
                      const char *mode) {
  return luaL_loadbufferx(L, buf, len, name, mode);
}
const char *mosaic_lua_release(void) { return LUA_RELEASE; }
