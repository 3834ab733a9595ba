// CLuaShim: the parts of the Lua C API that Swift cannot call directly.
//
// - Function-like macros (lua_pop, lua_pcall, lua_tostring, lua_upvalueindex, ...) do not
//   import into Swift; each has a plain function here.
// - Lua reports errors with longjmp. Jumping across Swift frames is undefined behaviour,
//   so Swift never calls a raising API function outside mosaic_pcall, and host functions
//   written in Swift never raise: they return a status to mosaic_host_trampoline (C),
//   which raises for them (see mosaic_host_dispatch).
// - The allocator enforces a byte budget, and a hook enforces a deadline and Ctrl-C.
//   Both escalate: once tripped, the hook fires on every instruction until the host
//   clears it, so `while true do pcall(f) end` cannot swallow the error.
#ifndef CLUASHIM_H
#define CLUASHIM_H

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stddef.h>

/// Why a running chunk is being stopped.
enum mosaic_abort {
  MOSAIC_ABORT_NONE = 0,
  MOSAIC_ABORT_INTERRUPT = 1,
  MOSAIC_ABORT_TIMEOUT = 2,
  MOSAIC_ABORT_MEMORY = 3,
};

/// Per-state limits and accounting; lives as long as the state (it is the allocator's ud).
typedef struct mosaic_limits {
  size_t used;           // bytes currently allocated by this state
  size_t peak;           // highest `used` seen
  size_t limit;          // 0: no budget
  int in_host;           // > 0 while a host function runs: allocations are not refused
  double deadline;       // CLOCK_MONOTONIC seconds; 0: none
  volatile int abort_reason;  // enum mosaic_abort
} mosaic_limits;

/// A new state with the budgeted allocator, a panic handler and a warning handler.
/// `limits` must outlive the state. Returns NULL if out of memory.
lua_State *mosaic_newstate(mosaic_limits *limits);
mosaic_limits *mosaic_getlimits(lua_State *L);

/// lua_pcall with a message handler that appends a traceback (when `traceback` != 0).
/// An error raised because of an abort is rewritten to a clear message.
int mosaic_pcall(lua_State *L, int nargs, int nresults, int traceback);

/// Monotonic seconds (for deadlines).
double mosaic_monotonic(void);

/// Sets (seconds > 0) or clears (0) the state's deadline and arms the count hook.
void mosaic_set_deadline(lua_State *L, double seconds_from_now);
/// Asks the running code to stop; safe from a signal handler or another thread.
void mosaic_request_abort(lua_State *L, int reason);
/// After a chunk returned: forget an abort (and keep the deadline hook if any).
void mosaic_clear_abort(lua_State *L);
/// The pending abort reason (host primitives that wait poll this to stay interruptible).
int mosaic_abort_pending(lua_State *L);
/// The message a pending abort stops code with ("interrupted", "time limit exceeded", ...);
/// may use `buf` (80 bytes are enough).
const char *mosaic_abort_message(lua_State *L, char *buf, size_t len);

/// SIGINT while Lua runs: the first Ctrl-C stops the running code (as lua.c does), a
/// second one while still running ends the process.
void mosaic_catch_sigint(lua_State *L);
void mosaic_release_sigint(void);

/// Host functions. Swift registers one dispatcher; each host function is a C closure
/// over mosaic_host_trampoline with an integer id as its upvalue.
/// The dispatcher returns: n >= 0 results; MOSAIC_HOST_ERROR to raise the value on top
/// of the stack as is; MOSAIC_HOST_ERROR_WHERE to raise it prefixed with the caller's
/// position ("file:line: "); MOSAIC_HOST_ERROR_ARG with an argument number and a reason
/// on top to raise as luaL_argerror does ("file:line: bad argument #n to 'f' (reason)",
/// `f` being the name the caller used).
#define MOSAIC_HOST_ERROR (-1)
#define MOSAIC_HOST_ERROR_WHERE (-2)
#define MOSAIC_HOST_ERROR_ARG (-3)
typedef int (*mosaic_host_dispatch)(lua_State *L, int id);
void mosaic_set_dispatch(mosaic_host_dispatch fn);
void mosaic_push_hostfunction(lua_State *L, int id);

/// Macro wrappers.
void mosaic_pop(lua_State *L, int n);
void mosaic_insert(lua_State *L, int idx);
void mosaic_remove(lua_State *L, int idx);
void mosaic_replace(lua_State *L, int idx);
void mosaic_newtable(lua_State *L);
int mosaic_upvalueindex(int i);
int mosaic_registryindex(void);
void **mosaic_extraspace(lua_State *L);
int mosaic_isnoneornil(lua_State *L, int idx);
int mosaic_loadbuffer(lua_State *L, const char *buf, size_t len, const char *name,
                      const char *mode);
/// Protected helpers for things that may raise (metamethods, memory): each runs the
/// operation under pcall and returns a lua status code.
int mosaic_pcall_openlibs(lua_State *L);
/// luaL_traceback under pcall (for the REPL); pushes the traceback string.
void mosaic_traceback(lua_State *L, lua_State *L1, const char *msg, int level);


const char *mosaic_lua_release(void);
#endif
