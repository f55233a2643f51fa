/* auth_client.c - libcurl client of auth-service's internal API (see auth_client.h). */
#include "auth_client.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "common/msgctx.h"
#include "common/util.h"

#define AUTH_RETRY_PAUSE_MS 100

struct auth_client {
    char base_url[256]; /* without a trailing '/' */
    const char *service_token;
    long timeout_ms;
    long connect_timeout_ms;
};

struct auth_client *auth_client_new(const struct auth_client_opts *opts)
{
    struct auth_client *client = calloc(1, sizeof(*client));
    size_t len;

    if (!client)
        return NULL;
    util_strlcpy(client->base_url, opts->base_url, sizeof(client->base_url));
    len = strlen(client->base_url);
    while (len > 0 && client->base_url[len - 1] == '/')
        client->base_url[--len] = '\0';
    client->service_token = opts->service_token;
    client->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : 3000;
    /* half the budget for the TCP connect, so a black-holed host leaves time for the retry */
    client->connect_timeout_ms = client->timeout_ms / 2 > 0 ? client->timeout_ms / 2 : 1;
    return client;
}

void auth_client_free(struct auth_client *client)
{
    free(client);
}

static size_t discard(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    (void)ptr;
    (void)userdata;
    return size * nmemb;
}

/* True when @cc says no connection was ever made, so the request never left this process. */
static bool never_connected(CURL *curl, CURLcode cc)
{
    curl_off_t connect_us = 0;

    if (cc == CURLE_COULDNT_CONNECT)
        return true;
    if (cc != CURLE_OPERATION_TIMEDOUT)
        return false;
    return curl_easy_getinfo(curl, CURLINFO_CONNECT_TIME_T, &connect_us) == CURLE_OK &&
           connect_us == 0;
}

/* One request with the retry rule; @body is sent as JSON. A 503's Retry-After (seconds) into
 * *@ret_retry_after_s when it is not NULL (0 without one). */
static enum auth_outcome auth_call(struct auth_client *client, const char *method, const char *url,
                                   const char *body, long want, char *detail, size_t detaillen,
                                   long *ret_retry_after_s)
{
    struct curl_slist *hdrs = NULL, *h;
    const struct msgctx *ctx = msgctx_current();
    char token_hdr[512], corr_hdr[128], trace_hdr[96];
    enum auth_outcome outcome = AUTH_UNAVAILABLE;
    CURL *curl = curl_easy_init();
    CURLcode cc = CURLE_OK;
    long status = 0;

    if (detail && detaillen)
        detail[0] = '\0';
    if (!curl) {
        if (detail)
            snprintf(detail, detaillen, "cannot create a curl handle");
        return AUTH_FAILED;
    }
    snprintf(token_hdr, sizeof(token_hdr), "X-Service-Token: %s", client->service_token);
    h = curl_slist_append(hdrs, "Content-Type: application/json");
    hdrs = h ? h : hdrs;
    h = curl_slist_append(hdrs, token_hdr);
    hdrs = h ? h : hdrs;
    if (ctx) {
        snprintf(corr_hdr, sizeof(corr_hdr), "X-Correlation-Id: %s", ctx->correlation_id);
        h = curl_slist_append(hdrs, corr_hdr);
        hdrs = h ? h : hdrs;
        if (ctx->traceparent[0]) {
            char child[56];
            util_traceparent_child(ctx->traceparent, child);
            snprintf(trace_hdr, sizeof(trace_hdr), "traceparent: %s", child);
            h = curl_slist_append(hdrs, trace_hdr);
            hdrs = h ? h : hdrs;
        }
    }
    h = curl_slist_append(hdrs, "Expect:");
    hdrs = h ? h : hdrs;

    for (int attempt = 0; attempt < 2; attempt++) {
        curl_easy_reset(curl);
        curl_easy_setopt(curl, CURLOPT_URL, url);
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, client->timeout_ms);
        curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, client->connect_timeout_ms);
        /* worker threads: no SIGALRM-based resolver timeouts */
        curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
        /* a call inside the deployment never goes through an outbound proxy */
        curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
        curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
        cc = curl_easy_perform(curl);
        if (cc == CURLE_OK || attempt == 1 || !never_connected(curl, cc))
            break;
        util_sleep_ms(AUTH_RETRY_PAUSE_MS);
    }
    if (cc != CURLE_OK) {
        if (detail)
            snprintf(detail, detaillen, "%s", curl_easy_strerror(cc));
        outcome = AUTH_UNAVAILABLE;
        goto out;
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    if (detail)
        snprintf(detail, detaillen, "auth-service answered %ld", status);
    if (status == want)
        outcome = AUTH_OK;
    else if (status == 409)
        outcome = AUTH_CONFLICT;
    else if (status == 503)
        outcome = AUTH_UNAVAILABLE;
    else
        outcome = AUTH_FAILED;
    if (status == 503 && ret_retry_after_s) {
        curl_off_t secs = 0;
        if (curl_easy_getinfo(curl, CURLINFO_RETRY_AFTER, &secs) == CURLE_OK && secs > 0)
            *ret_retry_after_s = secs > 3600 ? 3600 : (long)secs;
    }
out:
    curl_slist_free_all(hdrs);
    explicit_bzero(token_hdr, sizeof(token_hdr));
    curl_easy_cleanup(curl);
    return outcome;
}

enum auth_outcome auth_client_create(struct auth_client *client, const char *user_id,
                                     const char *email, const char *password, const char *provider,
                                     char *detail, size_t detaillen, long *ret_retry_after_s)
{
    cJSON *json = cJSON_CreateObject(), *pw;
    char url[320], *body = NULL;
    enum auth_outcome outcome;

    if (!json)
        goto nomem;
    cJSON_AddStringToObject(json, "userId", user_id);
    cJSON_AddStringToObject(json, "email", email);
    pw = cJSON_AddStringToObject(json, "password", password);
    cJSON_AddStringToObject(json, "provider", provider);
    body = cJSON_PrintUnformatted(json);
    /* the copy of the password inside the tree is wiped before the tree is freed */
    if (pw && pw->valuestring)
        explicit_bzero(pw->valuestring, strlen(pw->valuestring));
    cJSON_Delete(json);
    if (!body)
        goto nomem;
    snprintf(url, sizeof(url), "%s/api/auth", client->base_url);
    outcome = auth_call(client, "POST", url, body, 201, detail, detaillen, ret_retry_after_s);
    explicit_bzero(body, strlen(body));
    cJSON_free(body);
    return outcome;
nomem:
    if (detail)
        snprintf(detail, detaillen, "out of memory");
    return AUTH_FAILED;
}

enum auth_outcome auth_client_set_status(struct auth_client *client, const char *user_id,
                                         const char *status, char *detail, size_t detaillen)
{
    cJSON *json = cJSON_CreateObject();
    char url[384], *body = NULL;
    enum auth_outcome outcome;

    if (json)
        cJSON_AddStringToObject(json, "status", status);
    body = json ? cJSON_PrintUnformatted(json) : NULL;
    cJSON_Delete(json);
    if (!body) {
        if (detail)
            snprintf(detail, detaillen, "out of memory");
        return AUTH_FAILED;
    }
    snprintf(url, sizeof(url), "%s/api/auth/%s/status", client->base_url, user_id);
    outcome = auth_call(client, "PATCH", url, body, 204, detail, detaillen, NULL);
    cJSON_free(body);
    return outcome;
}

enum auth_outcome auth_client_delete(struct auth_client *client, const char *user_id, char *detail,
                                     size_t detaillen)
{
    char url[384];

    snprintf(url, sizeof(url), "%s/api/auth/%s", client->base_url, user_id);
    return auth_call(client, "DELETE", url, "", 204, detail, detaillen, NULL);
}
