/* server/http/compat/khash.h: what h2o/http2_internal.h needs of klib's khash.h, which
 * Debian's libh2o-dev includes but does not ship.
 *
 * guard.c reads h2o 2.2.5's HTTP/2 stream and connection structures (the only way to see a
 * body that is still arriving) and never touches the streams table: a pointer to an
 * incomplete type is all the structures need. The one inline lookup of the header
 * (h2o_http2_conn_get_stream) is compiled here to "not found" and must not be called. Only
 * guard.c is built with this directory on its include path. */
#ifndef CITYD_COMPAT_KHASH_H
#define CITYD_COMPAT_KHASH_H

typedef unsigned int khiter_t;
#define KHASH_MAP_INIT_INT64(name, khval_t) typedef struct kh_##name##_s kh_##name##_t;
#define khash_t(name) kh_##name##_t
#define kh_get(name, h, key) ((void)(h), (void)(key), (khiter_t)0)
#define kh_end(h) ((void)(h), (khiter_t)0)
#define kh_val(h, x) ((void)(h), (void)(x), (void *)0)

#endif
