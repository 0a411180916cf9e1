/* server/core/cfg.h: cityd's configuration.
 *
 * One table (cfg.c) lists every key with its type, default and bounds; docs/config.md documents
 * the same keys and a test checks the two agree. A file of `key = value` lines is read first,
 * then environment variables override it: CITYD_ + the key upper-cased with '.' as '_'
 * (http.listen -> CITYD_HTTP_LISTEN). Any unknown key or bad value is an error that names the
 * key; start-up stops on it. */
#ifndef CITYD_CFG_H
#define CITYD_CFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "err.h"

struct cfg {
    /* http */
    char http_listen[128];
    int http_threads;     /* 0 = number of cores */
    char http_accept[16]; /* "shared" (one listening socket for all loops) or "reuseport" */
    char http_tls_listen[128];
    char http_tls_cert[512];
    char http_tls_key[512];
    int http_request_timeout_ms;
    int http_shutdown_timeout_ms;
    int http_max_inflight_per_conn;
    int http_conn_reset_budget;
    int http_conn_reset_window_s;
    int http_conn_control_frame_budget;
    int http_body_timeout_ms;
    int http_body_buffer_per_conn_mb;
    int http_body_buffer_per_address_mb;
    int http_unauthenticated_body_kb;
    char http_trusted_proxies[512];
    /* db */
    char db_host[256];
    int db_port;
    char db_socket[512];
    bool db_tls;
    char db_tls_ca[512];
    bool db_tls_verify_server;
    char db_tls_cert[512];
    char db_tls_key[512];
    char db_user[64];
    char db_password[256];
    char db_name[64];
    char db_runtime_user[64];
    int db_pool_size;
    int db_queue_limit;
    int db_queue_target_ms;
    int db_queue_interval_ms;
    int db_connect_timeout_s;
    int db_read_timeout_s;
    int db_write_timeout_s;
    int db_task_timeout_s;
    /* migrations */
    char migrations_dir[512];
    bool migrations_auto;
    /* auth */
    char auth_jwt_secret_file[512];
    char auth_jwt_previous_secret_file[512];
    char auth_jwt_alg[8];
    char auth_jwt_es256_private_key[512];
    char auth_jwt_es256_public_key[512];
    char auth_jwt_es256_previous_public_key[512];
    char auth_issuer[128];
    char auth_audience[128];
    int auth_access_ttl_s;
    int auth_refresh_ttl_s;
    int auth_refresh_reuse_grace_s;
    int auth_leeway_s;
    int auth_lockout_threshold;
    int auth_lockout_window_s;
    int auth_lockout_duration_s;
    int auth_rejected_audit_window_s;
    int auth_rejected_audit_burst;
    /* wechat */
    char wechat_base_url[256];
    int wechat_workers;
    char wechat_appid[64];
    char wechat_secret[128];
    char sms_url[256];
    char sms_token[256];
    int webhook_workers; /* webhook deliverer threads (api/domain/webhook.h); 0 = none */
    int webhook_timeout_ms, webhook_retry_base_ms, webhook_retry_max_ms, webhook_poll_ms;
    char open311_base_url[256]; /* the façade's public URL in its discovery document */
    char open311_contact[256];
    int auth_register_per_address_hour;
    int auth_register_global_minute;
    /* media */
    char media_dir[512];
    int64_t media_max_image_bytes;
    int64_t media_max_voice_bytes;
    int64_t media_max_pixels;
    int64_t media_quota_bytes;
    int media_uploads_per_hour;
    int media_workers;
    bool media_watermark;
    /* citizen: 随手拍 limits */
    int citizen_reports_per_hour;
    int citizen_reports_per_day;
    int citizen_address_reports_per_hour;
    int citizen_address_reports_per_day;
    int points_per_report;
    int points_daily_cap;
    /* gps */
    int gps_retention_days;
    int gps_max_accuracy_m;
    int gps_max_speed_kmh;
    int gps_max_age_s;
    int gps_max_future_s;
    int gps_checkin_tolerance_m;
    int gps_checkin_max_accuracy_m;
    int gps_stop_min;
    int gps_vehicle_active_s;
    int gps_latest_cache_ms;
    int gps_auto_checkout_after_min;
    int gps_max_duty_hours;
    /* ws: the WebSocket gateway */
    char ws_listen[128];
    int ws_max_message_bytes;
    int ws_max_queued_bytes;
    int ws_max_msgs_per_s;
    int ws_ping_interval_s;
    int ws_idle_timeout_s;
    int ws_rx_buffer_bytes;
    int ws_socket_send_buffer;
    int ws_retention_days;
    char ws_public_url[256];
    /* push: offline push through vendors (docs/push.md) */
    int push_ack_grace_s;
    int push_batch;
    int push_max_age_s;
    int push_retry_max_s;
    int push_timeout_ms;
    int push_user_rate;
    int push_user_urgent_rate;
    char push_ca_file[512];
    char push_receipt_url[256];
    char push_receipt_key[128];
    char push_apns_base_url[256];
    char push_apns_key_file[512];
    char push_apns_key_id[16];
    char push_apns_team_id[16];
    char push_apns_topic[128];
    int push_apns_token_refresh_s;
    int push_apns_rate;
    char push_huawei_base_url[256];
    char push_huawei_auth_url[256];
    char push_huawei_app_id[64];
    char push_huawei_client_secret[256];
    int push_huawei_rate;
    char push_xiaomi_base_url[256];
    char push_xiaomi_app_secret[256];
    char push_xiaomi_package[128];
    char push_xiaomi_channel_id[64];
    int push_xiaomi_rate;
    char push_oppo_base_url[256];
    char push_oppo_app_key[128];
    char push_oppo_master_secret[256];
    char push_oppo_channel_id[64];
    int push_oppo_rate;
    char push_vivo_base_url[256];
    char push_vivo_app_id[64];
    char push_vivo_app_key[128];
    char push_vivo_app_secret[256];
    int push_vivo_rate;
    char push_honor_base_url[256];
    char push_honor_auth_url[256];
    char push_honor_app_id[64];
    char push_honor_client_id[128];
    char push_honor_client_secret[256];
    int push_honor_rate;
    char push_wechat_template_id[128];
    char push_wechat_page[256];
    int push_wechat_rate;
    /* log */
    char log_level[8];
    /* docs */
    char docs_dir[512];
    /* metrics */
    char metrics_listen[128];
    char metrics_allow[512];
    /* testing */
    bool testing_clock_control;
    char testing_crash_at[32];
};

/* Fill cfg with defaults. */
void cfg_defaults(struct cfg *c);
/* Read a config file (path may be NULL: no file), then the environment. On error writes one
 * line naming the key into errbuf and returns ERR_INVALID. */
enum err cfg_load(struct cfg *c, const char *path, char *errbuf, size_t errlen) MUST_CHECK;
/* Set one key from text, as the file and the environment do. */
enum err cfg_set(struct cfg *c, const char *key, const char *value, char *errbuf,
                 size_t errlen) MUST_CHECK;

/* Iterate the key table (docs check): returns the i-th key name or NULL past the end. */
const char *cfg_key_at(size_t i);

#endif
