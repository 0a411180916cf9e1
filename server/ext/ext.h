/* server/ext/ext.h: clients of outside services. Each client is one file here with its own
 * header (wechat.h, …); they speak the service's real wire protocol so that tests can point
 * them at a local stand-in. They never touch the database. */
#ifndef CITYD_EXT_H
#define CITYD_EXT_H

/* Once per process before threads start (libcurl global init). */
void ext_global_init(void);
void ext_global_end(void);

#endif
