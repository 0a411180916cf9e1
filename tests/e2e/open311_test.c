/* tests/e2e/open311_test.c: the Open311 GeoReport v2 façade (/open311/v2/, api/open311.c)
 * through the real binary.
 *
 * The main check is a client written from the GeoReport v2 specification alone
 * (tests/e2e/tools/open311_client.py): services, a service definition, requests created and
 * read in JSON and XML, every filter, and the error contract. Around it, what the client cannot
 * know: the created requests are hotline cases of the key's machine account and refused ones
 * created nothing; a closed cityd state reads as "closed" with its reason in status_notes; a
 * token (the case number) finds its request; Idempotency-Key makes a POST safe to retry; a key
 * without the cases:write scope or a revoked key is refused with 403; an unknown format is an
 * Open311 404. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include "th_api.h"
#include "th_assert.h"

#define SERVICE "gbt30428-event-0102"

static struct th_server srv;
static char key[128], key_ro[128];
static long long machine_id, key_id;

static void new_key(const char *body, char *out, size_t n, long long *user, long long *id)
{
    struct th_resp r;

    th_post(&srv, "admin", "/api/v1/admin/api-keys", NULL, body, &r);
    th_expect(&r, 201, NULL);
    snprintf(out, n, "%s", th_jstr(r.json, "api_key"));
    if (user)
        *user = th_jint(r.json, "user_id");
    if (id)
        *id = th_jint(r.json, "id");
    th_resp_free(&r);
}

static int setup(void **state)
{
    (void)state;
    th_server_start(&srv, NULL);
    th_seed(&srv);
    new_key("{\"name\":\"第三方平台\",\"scopes\":[\"cases:write\",\"cases:read\"]}", key,
            sizeof key, &machine_id, &key_id);
    new_key("{\"name\":\"只读平台\",\"scopes\":[\"cases:read\"]}", key_ro, sizeof key_ro, NULL,
            NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    assert_int_equal(th_server_stop(&srv), 0);
    return 0;
}

/* A form POST to the façade; body is already form-encoded. */
static void form_post(const char *path, const char *idem, const char *body, struct th_resp *r)
{
    char h[128];
    const char *hs[] = {"Content-Type: application/x-www-form-urlencoded; charset=utf-8", h, NULL};

    snprintf(h, sizeof h, "Idempotency-Key: %s", idem ? idem : "");
    if (!idem)
        hs[1] = NULL;
    th_request(&srv, "POST", path, hs, body, strlen(body), 0, r);
}

static long long machine_cases(void)
{
    return th_sqlf(&srv, "SELECT COUNT(*) FROM cases WHERE reporter_id = %lld", machine_id);
}

static void spec_client_creates_and_reads(void **state)
{
    char out[256], *dir;
    json_t *res, *created;
    int rc;
    (void)state;

    dir = th_xprintf("/tmp/cityd-open311-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(out, sizeof out, "%s/out.json", dir);
    rc = th_sh("python3 %s --base %s/open311/v2 --api-key %s --service-code " SERVICE
               " --lat 31.305 --long 120.605 --discovery %s/open311/discovery --out %s",
               th_source_path("tests/e2e/tools/open311_client.py"), srv.base, key, srv.base, out);
    assert_int_equal(rc, 0);
    res = json_load_file(out, 0, NULL);
    assert_non_null(res);
    assert_true(json_integer_value(json_object_get(res, "checks")) > 80);
    created = json_object_get(res, "created");
    assert_int_equal(json_array_size(created), 2);
    /* Two hotline cases of the key's account, urgent as the attribute said; the refused POSTs
     * (no key, bad key, unknown service, no location) created nothing. */
    assert_int_equal(machine_cases(), 2);
    for (size_t i = 0; i < 2; i++) {
        long long id = json_integer_value(json_array_get(created, i));
        assert_int_equal(th_sqlf(&srv,
                                 "SELECT COUNT(*) FROM cases WHERE id = %lld AND source = 'hotline'"
                                 " AND urgency = 'urgent' AND reporter_id = %lld",
                                 id, machine_id),
                         1);
    }
    json_decref(res);
    th_sh("rm -rf %s", dir);
    free(dir);
}

static long long create_one(const char *idem, long status)
{
    struct th_resp r;
    long long id = 0;
    char *body = th_xprintf("api_key=%s&service_code=" SERVICE
                            "&lat=31.305&long=120.605&description=%%E6%%A0%%91%%E6%%9C%%A8"
                            "%%E5%%80%%92%%E4%%BC%%8F",
                            key);

    form_post("/open311/v2/requests.json", idem, body, &r);
    free(body);
    assert_int_equal(r.status, status);
    if (status == 200)
        id = json_integer_value(json_object_get(json_array_get(r.json, 0), "service_request_id"));
    th_resp_free(&r);
    return id;
}

static void retried_post_with_idempotency_key_is_one_request(void **state)
{
    long long before = machine_cases(), a, b;
    (void)state;

    a = create_one("partner-ticket-77", 200);
    b = create_one("partner-ticket-77", 200);
    assert_true(a > 0);
    assert_int_equal(a, b);
    assert_int_equal(machine_cases(), before + 1);
}

static void closed_states_and_tokens(void **state)
{
    long long id = create_one(NULL, 200);
    struct th_resp r;
    char path[128], token[32];
    json_t *q;
    (void)state;

    /* 不予受理: closed, and the reason is the notes. */
    th_act(&srv, "operator", id, NULL, "\"action\":\"invalidate\",\"text\":\"不属于城管范围\"");
    snprintf(path, sizeof path, "/open311/v2/requests/%lld.json", id);
    th_get(&srv, path, NULL, &r);
    th_expect(&r, 200, NULL);
    q = json_array_get(r.json, 0);
    assert_string_equal(th_jstr(q, "status"), "closed");
    assert_non_null(strstr(th_jstr(q, "status_notes"), "不属于城管范围"));
    th_resp_free(&r);

    /* The token of a request is its case number. */
    snprintf(path, sizeof path, "/api/v1/cases/%lld", id);
    th_get_as(&srv, "operator", path, &r);
    th_expect(&r, 200, NULL);
    snprintf(token, sizeof token, "%s", th_jstr(r.json, "case_no"));
    th_resp_free(&r);
    snprintf(path, sizeof path, "/open311/v2/tokens/%s.json", token);
    th_get(&srv, path, NULL, &r);
    th_expect(&r, 200, NULL);
    q = json_array_get(r.json, 0);
    assert_int_equal(th_jint(q, "service_request_id"), id);
    assert_string_equal(th_jstr(q, "token"), token);
    th_resp_free(&r);
    snprintf(path, sizeof path, "/open311/v2/tokens/%s.xml", token);
    th_get(&srv, path, NULL, &r);
    th_expect(&r, 200, NULL);
    {
        char want[64];
        snprintf(want, sizeof want, "<service_request_id>%lld</service_request_id>", id);
        assert_non_null(strstr(r.body, want));
    }
    th_resp_free(&r);
    /* Another day's number with the same id is no token. */
    snprintf(path, sizeof path, "/open311/v2/tokens/19990101-%06lld.json", id);
    th_get(&srv, path, NULL, &r);
    assert_int_equal(r.status, 404);
    assert_int_equal(th_jint(json_array_get(r.json, 0), "code"), 404);
    th_resp_free(&r);
}

static void refused_keys_and_formats(void **state)
{
    long long before = machine_cases();
    struct th_resp r;
    char *body;
    (void)state;

    /* A key whose scopes lack cases:write may not create. */
    body = th_xprintf("api_key=%s&service_code=" SERVICE "&lat=31.305&long=120.605&description=x",
                      key_ro);
    form_post("/open311/v2/requests.xml", NULL, body, &r);
    free(body);
    assert_int_equal(r.status, 403);
    assert_non_null(strstr(r.body, "<errors><error><code>403</code>"));
    th_resp_free(&r);
    /* A revoked key neither. */
    {
        char p[96];
        snprintf(p, sizeof p, "/api/v1/admin/api-keys/%lld/revoke", key_id);
        th_post(&srv, "admin", p, NULL, "{\"reason\":\"测试吊销\"}", &r);
        th_expect(&r, 204, NULL);
        th_resp_free(&r);
    }
    create_one(NULL, 403);
    assert_int_equal(machine_cases(), before);
    /* An unknown format is an Open311 404, not a crash or a cityd error body. */
    th_get(&srv, "/open311/v2/requests/1.txt", NULL, &r);
    assert_int_equal(r.status, 404);
    assert_true(json_is_array(r.json));
    th_resp_free(&r);
    th_get(&srv, "/open311/v2/services/" SERVICE ".yaml", NULL, &r);
    assert_int_equal(r.status, 404);
    th_resp_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(spec_client_creates_and_reads),
        cmocka_unit_test(retried_post_with_idempotency_key_is_one_request),
        cmocka_unit_test(closed_states_and_tokens),
        cmocka_unit_test(refused_keys_and_formats),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
