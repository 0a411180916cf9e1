/* server/core/cfg.c: the key table, the file reader and environment overrides. */
#include "cfg.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "log.h"

enum cfg_type { T_STR, T_INT, T_I64, T_BOOL };

struct cfg_key {
    const char *name;
    enum cfg_type type;
    size_t off;
    size_t size; /* strings: buffer size */
    const char *def;
    int64_t min, max;
};

#define S(name, field, def)                                                                        \
    {                                                                                              \
        name, T_STR, offsetof(struct cfg, field), sizeof(((struct cfg *)0)->field), def, 0, 0      \
    }
#define I(name, field, def, lo, hi)                                                                \
    {                                                                                              \
        name, T_INT, offsetof(struct cfg, field), sizeof(int), def, lo, hi                         \
    }
#define L(name, field, def, lo, hi)                                                                \
    {                                                                                              \
        name, T_I64, offsetof(struct cfg, field), sizeof(int64_t), def, lo, hi                     \
    }
#define B(name, field, def)                                                                        \
    {                                                                                              \
        name, T_BOOL, offsetof(struct cfg, field), sizeof(bool), def, 0, 1                         \
    }

/* clang-format off */
static const struct cfg_key keys[] = {
    S("http.listen",                 http_listen,               "127.0.0.1:8080"),
    I("http.threads",                http_threads,              "0", 0, 256),
    S("http.accept",                 http_accept,               "shared"),
    S("http.tls_listen",             http_tls_listen,           ""),
    S("http.tls_cert",               http_tls_cert,             ""),
    S("http.tls_key",                http_tls_key,              ""),
    I("http.request_timeout_ms",     http_request_timeout_ms,   "15000", 100, 600000),
    I("http.shutdown_timeout_ms",    http_shutdown_timeout_ms,  "5000", 0, 600000),
    I("http.max_inflight_per_conn",  http_max_inflight_per_conn, "64", 1, 10000),
    I("http.conn_reset_budget",      http_conn_reset_budget,    "100", 1, 1000000),
    I("http.conn_reset_window_s",    http_conn_reset_window_s,  "60", 1, 86400),
    I("http.conn_control_frame_budget", http_conn_control_frame_budget, "600", 10, 1000000),
    I("http.body_timeout_ms",        http_body_timeout_ms,      "120000", 1000, 3600000),
    I("http.body_buffer_per_conn_mb", http_body_buffer_per_conn_mb, "64", 1, 4096),
    I("http.body_buffer_per_address_mb", http_body_buffer_per_address_mb, "256", 1, 65536),
    I("http.unauthenticated_body_kb", http_unauthenticated_body_kb, "64", 1, 1048576),
    S("http.trusted_proxies",        http_trusted_proxies,      ""),
    S("db.host",                     db_host,                   "localhost"),
    I("db.port",                     db_port,                   "3306", 1, 65535),
    S("db.socket",                   db_socket,                 ""),
    B("db.tls",                      db_tls,                    "false"),
    S("db.tls_ca",                   db_tls_ca,                 ""),
    B("db.tls_verify_server",        db_tls_verify_server,      "true"),
    S("db.tls_cert",                 db_tls_cert,               ""),
    S("db.tls_key",                  db_tls_key,                ""),
    S("db.user",                     db_user,                   "cityd"),
    S("db.password",                 db_password,               ""),
    S("db.name",                     db_name,                   "cityd"),
    S("db.runtime_user",             db_runtime_user,           ""),
    I("db.pool_size",                db_pool_size,              "8", 1, 512),
    I("db.queue_limit",              db_queue_limit,            "2048", 1, 1000000),
    I("db.queue_target_ms",          db_queue_target_ms,        "10", 0, 60000),
    I("db.queue_interval_ms",        db_queue_interval_ms,      "100", 1, 60000),
    I("db.connect_timeout_s",        db_connect_timeout_s,      "2", 1, 60),
    I("db.read_timeout_s",           db_read_timeout_s,         "3", 1, 600),
    I("db.write_timeout_s",          db_write_timeout_s,        "3", 1, 600),
    I("db.task_timeout_s",           db_task_timeout_s,         "3600", 1, 86400),
    S("migrations.dir",              migrations_dir,            "migrations"),
    B("migrations.auto",             migrations_auto,           "true"),
    S("auth.jwt_secret_file",        auth_jwt_secret_file,      ""),
    S("auth.jwt_previous_secret_file", auth_jwt_previous_secret_file, ""),
    S("auth.jwt_alg",                auth_jwt_alg,              "HS256"),
    S("auth.jwt_es256_private_key",  auth_jwt_es256_private_key, ""),
    S("auth.jwt_es256_public_key",   auth_jwt_es256_public_key, ""),
    S("auth.jwt_es256_previous_public_key", auth_jwt_es256_previous_public_key, ""),
    S("auth.issuer",                 auth_issuer,               "cityd"),
    S("auth.audience",               auth_audience,             "cityd-api"),
    I("auth.access_ttl_s",           auth_access_ttl_s,         "900", 60, 900),
    I("auth.refresh_ttl_s",          auth_refresh_ttl_s,        "2592000", 3600, 31536000),
    I("auth.refresh_reuse_grace_s",  auth_refresh_reuse_grace_s, "60",    0, 3600),
    I("auth.leeway_s",               auth_leeway_s,             "30", 0, 60),
    I("auth.lockout_threshold",      auth_lockout_threshold,    "5", 1, 1000),
    I("auth.lockout_window_s",       auth_lockout_window_s,     "900", 10, 86400),
    I("auth.lockout_duration_s",     auth_lockout_duration_s,   "900", 10, 86400),
    I("auth.rejected_audit_window_s", auth_rejected_audit_window_s, "60", 1, 3600),
    I("auth.rejected_audit_burst",   auth_rejected_audit_burst, "10", 0, 100000),
    S("wechat.base_url",             wechat_base_url,           "https://api.weixin.qq.com"),
    S("wechat.appid",                wechat_appid,              ""),
    S("wechat.secret",               wechat_secret,             ""),
    I("wechat.workers",              wechat_workers,            "4", 1, 64),
    S("sms.url",                     sms_url,                   ""),
    S("sms.token",                   sms_token,                 ""),
    I("webhook.workers",             webhook_workers,           "2", 0, 16),
    I("webhook.timeout_ms",          webhook_timeout_ms,        "10000", 100, 60000),
    I("webhook.retry_base_ms",       webhook_retry_base_ms,     "1000", 10, 3600000),
    I("webhook.retry_max_ms",        webhook_retry_max_ms,      "3600000", 10, 86400000),
    I("webhook.poll_ms",             webhook_poll_ms,           "500", 10, 60000),
    S("open311.base_url",            open311_base_url,          ""),
    S("open311.contact",             open311_contact,           ""),
    I("push.ack_grace_s",            push_ack_grace_s,          "10", 0, 3600),
    I("push.batch",                  push_batch,                "64", 1, 1000),
    I("push.max_age_s",              push_max_age_s,            "86400", 60, 1296000),
    I("push.retry_max_s",            push_retry_max_s,          "300", 1, 3600),
    I("push.timeout_ms",             push_timeout_ms,           "5000", 100, 60000),
    I("push.user_rate",              push_user_rate,            "10", 0, 10000),
    I("push.user_urgent_rate",       push_user_urgent_rate,     "30", 0, 10000),
    S("push.ca_file",                push_ca_file,              ""),
    S("push.receipt_url",            push_receipt_url,          ""),
    S("push.receipt_key",            push_receipt_key,          ""),
    S("push.apns.base_url",          push_apns_base_url,        "https://api.push.apple.com"),
    S("push.apns.key_file",          push_apns_key_file,        ""),
    S("push.apns.key_id",            push_apns_key_id,          ""),
    S("push.apns.team_id",           push_apns_team_id,         ""),
    S("push.apns.topic",             push_apns_topic,           ""),
    I("push.apns.token_refresh_s",   push_apns_token_refresh_s, "2400", 1200, 3300),
    I("push.apns.rate",              push_apns_rate,            "0", 0, 1000000),
    S("push.huawei.base_url",        push_huawei_base_url,      "https://push-api.cloud.huawei.com"),
    S("push.huawei.auth_url",        push_huawei_auth_url,      "https://oauth-login.cloud.huawei.com/oauth2/v3/token"),
    S("push.huawei.app_id",          push_huawei_app_id,        ""),
    S("push.huawei.client_secret",   push_huawei_client_secret, ""),
    I("push.huawei.rate",            push_huawei_rate,          "0", 0, 1000000),
    S("push.xiaomi.base_url",        push_xiaomi_base_url,      "https://api.xmpush.xiaomi.com"),
    S("push.xiaomi.app_secret",      push_xiaomi_app_secret,    ""),
    S("push.xiaomi.package",         push_xiaomi_package,       ""),
    S("push.xiaomi.channel_id",      push_xiaomi_channel_id,    ""),
    I("push.xiaomi.rate",            push_xiaomi_rate,          "0", 0, 1000000),
    S("push.oppo.base_url",          push_oppo_base_url,        "https://api.push.oppomobile.com"),
    S("push.oppo.app_key",           push_oppo_app_key,         ""),
    S("push.oppo.master_secret",     push_oppo_master_secret,   ""),
    S("push.oppo.channel_id",        push_oppo_channel_id,      ""),
    I("push.oppo.rate",              push_oppo_rate,            "0", 0, 1000000),
    S("push.vivo.base_url",          push_vivo_base_url,        "https://api-push.vivo.com.cn"),
    S("push.vivo.app_id",            push_vivo_app_id,          ""),
    S("push.vivo.app_key",           push_vivo_app_key,         ""),
    S("push.vivo.app_secret",        push_vivo_app_secret,      ""),
    I("push.vivo.rate",              push_vivo_rate,            "0", 0, 1000000),
    S("push.honor.base_url",         push_honor_base_url,       "https://push-api.cloud.honor.com"),
    S("push.honor.auth_url",         push_honor_auth_url,       "https://iam.developer.honor.com/auth/token"),
    S("push.honor.app_id",           push_honor_app_id,         ""),
    S("push.honor.client_id",        push_honor_client_id,      ""),
    S("push.honor.client_secret",    push_honor_client_secret,  ""),
    I("push.honor.rate",             push_honor_rate,           "0", 0, 1000000),
    S("push.wechat.template_id",     push_wechat_template_id,   ""),
    S("push.wechat.page",            push_wechat_page,          ""),
    I("push.wechat.rate",            push_wechat_rate,          "0", 0, 1000000),
    I("auth.register_per_address_hour", auth_register_per_address_hour, "10", 1, 100000),
    I("auth.register_global_minute", auth_register_global_minute, "60", 1, 1000000),
    S("media.dir",                   media_dir,                 "var/media"),
    L("media.max_image_bytes",       media_max_image_bytes,     "20971520", 1024, 1073741824),
    L("media.max_voice_bytes",       media_max_voice_bytes,     "5242880", 1024, 1073741824),
    L("media.max_pixels",            media_max_pixels,          "50000000", 1, 1000000000),
    L("media.quota_bytes",           media_quota_bytes,         "10737418240", 0, 1099511627776),
    I("media.uploads_per_hour",      media_uploads_per_hour,    "600", 0, 1000000),
    I("media.workers",               media_workers,             "0", 0, 64),
    B("media.watermark",             media_watermark,           "false"),
    I("citizen.reports_per_hour",    citizen_reports_per_hour,  "10", 0, 100000),
    I("citizen.reports_per_day",     citizen_reports_per_day,   "30", 0, 100000),
    I("citizen.address_reports_per_hour", citizen_address_reports_per_hour, "60", 0, 1000000),
    I("citizen.address_reports_per_day", citizen_address_reports_per_day, "300", 0, 1000000),
    I("points.per_report",           points_per_report,         "10", 0, 100000),
    I("points.daily_cap",            points_daily_cap,          "50", 0, 10000000),
    I("gps.retention_days",          gps_retention_days,        "180", 1, 3650),
    I("gps.max_accuracy_m",          gps_max_accuracy_m,        "100", 1, 100000),
    I("gps.max_speed_kmh",           gps_max_speed_kmh,         "300", 1, 5000),
    I("gps.max_age_s",               gps_max_age_s,             "604800", 60, 31536000),
    I("gps.max_future_s",            gps_max_future_s,          "300", 0, 86400),
    I("gps.checkin_tolerance_m",     gps_checkin_tolerance_m,   "30", 0, 5000),
    I("gps.checkin_max_accuracy_m",  gps_checkin_max_accuracy_m,"100", 1, 100000),
    I("gps.stop_min",                gps_stop_min,              "5", 1, 1440),
    I("gps.vehicle_active_s",        gps_vehicle_active_s,      "600", 10, 86400),
    I("gps.latest_cache_ms",         gps_latest_cache_ms,       "1000", 0, 60000),
    I("gps.auto_checkout_after_min", gps_auto_checkout_after_min, "120", 0, 1440),
    I("gps.max_duty_hours",          gps_max_duty_hours,        "16", 0, 168),
    S("ws.listen",                   ws_listen,                 "127.0.0.1:8081"),
    S("ws.public_url",               ws_public_url,             ""),
    I("ws.max_message_bytes",        ws_max_message_bytes,      "65536", 1024, 16777216),
    I("ws.max_queued_bytes",         ws_max_queued_bytes,       "1048576", 65536, 268435456),
    I("ws.max_msgs_per_s",           ws_max_msgs_per_s,         "50", 1, 100000),
    I("ws.ping_interval_s",          ws_ping_interval_s,        "30", 1, 3600),
    I("ws.idle_timeout_s",           ws_idle_timeout_s,         "75", 2, 7200),
    I("ws.rx_buffer_bytes",          ws_rx_buffer_bytes,        "1024", 128, 65536),
    I("ws.socket_send_buffer",       ws_socket_send_buffer,     "0", 0, 16777216),
    I("ws.retention_days",           ws_retention_days,         "30", 1, 3650),
    S("log.level",                   log_level,                 "info"),
    S("docs.dir",                    docs_dir,                  ""),
    S("metrics.listen",              metrics_listen,            ""),
    S("metrics.allow",               metrics_allow,             "127.0.0.1,::1"),
    B("testing.clock_control",       testing_clock_control,     "false"),
    S("testing.crash_at",            testing_crash_at,          ""),
};
/* clang-format on */

static const struct cfg_key *find(const char *name)
{
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (strcmp(keys[i].name, name) == 0)
            return &keys[i];
    return NULL;
}

const char *cfg_key_at(size_t i)
{
    return i < sizeof keys / sizeof keys[0] ? keys[i].name : NULL;
}

static enum err set_key(struct cfg *c, const struct cfg_key *k, const char *v, char *errbuf,
                        size_t errlen)
{
    char *base = (char *)c + k->off;
    char *end;
    long long n;

    switch (k->type) {
    case T_STR:
        if (strlen(v) >= k->size) {
            snprintf(errbuf, errlen, "config: %s: longer than %zu characters", k->name,
                     k->size - 1);
            return ERR_INVALID;
        }
        memcpy(base, v, strlen(v) + 1);
        return ERR_OK;
    case T_BOOL:
        if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0 || strcmp(v, "yes") == 0) {
            *(bool *)base = true;
        } else if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0 || strcmp(v, "no") == 0) {
            *(bool *)base = false;
        } else {
            snprintf(errbuf, errlen, "config: %s: expected true or false, got \"%.40s\"", k->name,
                     v);
            return ERR_INVALID;
        }
        return ERR_OK;
    case T_INT:
    case T_I64:
        errno = 0;
        n = strtoll(v, &end, 10);
        if (errno || end == v || *end != '\0') {
            snprintf(errbuf, errlen, "config: %s: expected an integer, got \"%.40s\"", k->name, v);
            return ERR_INVALID;
        }
        if (n < k->min || n > k->max) {
            snprintf(errbuf, errlen, "config: %s: %lld is outside %lld..%lld", k->name, n,
                     (long long)k->min, (long long)k->max);
            return ERR_INVALID;
        }
        if (k->type == T_INT)
            *(int *)base = (int)n;
        else
            *(int64_t *)base = n;
        return ERR_OK;
    }
    return ERR_INVALID;
}

void cfg_defaults(struct cfg *c)
{
    char err[256];
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        enum err res = set_key(c, &keys[i], keys[i].def, err, sizeof err);
        (void)res; /* defaults are valid by construction; test_cfg checks it */
    }
}

enum err cfg_set(struct cfg *c, const char *key, const char *value, char *errbuf, size_t errlen)
{
    const struct cfg_key *k = find(key);
    if (!k) {
        snprintf(errbuf, errlen, "config: %.80s: unknown key", key);
        return ERR_INVALID;
    }
    return set_key(c, k, value, errbuf, errlen);
}

static char *trim(char *s)
{
    char *e;
    while (isspace((unsigned char)*s))
        s++;
    e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

static enum err load_file(struct cfg *c, const char *path, char *errbuf, size_t errlen)
{
    FILE *f = fopen(path, "r");
    char line[2048];
    int lineno = 0;
    enum err res = ERR_OK;

    if (!f) {
        snprintf(errbuf, errlen, "config: cannot open %s: %s", path, strerror(errno));
        return ERR_INVALID;
    }
    while (fgets(line, sizeof line, f)) {
        char *s, *eq, *key, *val;
        size_t vl;
        char sub[256];

        lineno++;
        if (!strchr(line, '\n') && !feof(f)) {
            /* Longer than the buffer: a comment may be, a setting may not. */
            int ch;
            bool comment = *trim(line) == '#';
            while ((ch = fgetc(f)) != EOF && ch != '\n')
                ;
            if (comment)
                continue;
            snprintf(errbuf, errlen, "config: %s:%d: line longer than %zu bytes", path, lineno,
                     sizeof line - 2);
            res = ERR_INVALID;
            break;
        }
        s = trim(line);
        if (*s == '\0' || *s == '#')
            continue;
        eq = strchr(s, '=');
        if (!eq) {
            snprintf(errbuf, errlen, "config: %s:%d: expected key = value", path, lineno);
            res = ERR_INVALID;
            break;
        }
        *eq = '\0';
        key = trim(s);
        val = trim(eq + 1);
        vl = strlen(val);
        if (vl >= 2 && val[0] == '"' && val[vl - 1] == '"') {
            val[vl - 1] = '\0';
            val++;
        }
        res = cfg_set(c, key, val, sub, sizeof sub);
        if (res) {
            snprintf(errbuf, errlen, "%s (%s:%d)", sub, path, lineno);
            break;
        }
    }
    fclose(f);
    return res;
}

enum err cfg_load(struct cfg *c, const char *path, char *errbuf, size_t errlen)
{
    enum err res;

    if (path) {
        res = load_file(c, path, errbuf, errlen);
        if (res)
            return res;
    }
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        char env[96];
        const char *v;
        size_t j = 0;

        j = (size_t)snprintf(env, sizeof env, "CITYD_");
        for (const char *p = keys[i].name; *p && j + 1 < sizeof env; p++)
            env[j++] = *p == '.' ? '_' : (char)toupper((unsigned char)*p);
        env[j] = '\0';
        v = getenv(env);
        if (!v)
            continue;
        res = set_key(c, &keys[i], v, errbuf, errlen);
        if (res) {
            size_t l = strlen(errbuf);
            snprintf(errbuf + l, errlen - l, " (from %s)", env);
            return res;
        }
    }
    if (log_level_parse(c->log_level) < 0) {
        snprintf(errbuf, errlen, "config: log.level: expected error, warn, info or debug");
        return ERR_INVALID;
    }
    if (strcmp(c->http_accept, "shared") != 0 && strcmp(c->http_accept, "reuseport") != 0) {
        snprintf(errbuf, errlen, "config: http.accept: expected shared or reuseport");
        return ERR_INVALID;
    }
    if (strcmp(c->auth_jwt_alg, "HS256") != 0 && strcmp(c->auth_jwt_alg, "ES256") != 0) {
        snprintf(errbuf, errlen, "config: auth.jwt_alg: expected HS256 or ES256");
        return ERR_INVALID;
    }
    if ((c->db_tls || c->db_tls_ca[0] || c->db_tls_cert[0]) && c->db_socket[0]) {
        snprintf(errbuf, errlen,
                 "config: db.tls: TLS is for MariaDB over TCP (db.host, db.port); a local "
                 "db.socket needs none: unset one of them");
        return ERR_INVALID;
    }
    if ((c->db_tls_cert[0] != '\0') != (c->db_tls_key[0] != '\0')) {
        snprintf(errbuf, errlen, "config: db.tls_key: tls_cert and tls_key go together");
        return ERR_INVALID;
    }
    if (c->db_tls && !c->db_tls_ca[0] && c->db_tls_verify_server) {
        snprintf(errbuf, errlen,
                 "config: db.tls_ca: verifying the server certificate needs the CA that "
                 "signed it (or db.tls_verify_server = false, which an attacker in the path "
                 "can exploit)");
        return ERR_INVALID;
    }
    if ((c->http_tls_cert[0] != '\0') != (c->http_tls_key[0] != '\0')) {
        snprintf(errbuf, errlen, "config: http.tls_key: tls_cert and tls_key go together");
        return ERR_INVALID;
    }
    return ERR_OK;
}
