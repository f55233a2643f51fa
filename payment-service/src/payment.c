/* payment.c - payment status machine, refund arithmetic and the gateway simulator (see
 * payment.h). No I/O: OpenSSL is used only for the SHA-256 of the simulator's ids. */
#include "payment.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

static const char *const status_names[] = {
    [PAYMENT_READY] = "READY",
    [PAYMENT_APPROVED] = "APPROVED",
    [PAYMENT_FAILED] = "FAILED",
    [PAYMENT_CANCELED] = "CANCELED",
    [PAYMENT_PARTIAL_CANCELED] = "PARTIAL_CANCELED",
};

#define NSTATUS (sizeof(status_names) / sizeof(status_names[0]))

const char *payment_status_name(enum payment_status status)
{
    if ((size_t)status >= NSTATUS)
        return "UNKNOWN";
    return status_names[status];
}

int payment_status_parse(const char *name, enum payment_status *ret_status)
{
    for (size_t i = 0; name && i < NSTATUS; i++) {
        if (strcmp(name, status_names[i]) == 0) {
            *ret_status = (enum payment_status)i;
            return 0;
        }
    }
    return -EINVAL;
}

/* Captured so far: the amount once approved, nothing before. */
static int captured(const struct payment *p)
{
    return p->status == PAYMENT_APPROVED || p->status == PAYMENT_PARTIAL_CANCELED;
}

long long payment_remaining(const struct payment *p)
{
    long long left;

    if (!captured(p))
        return 0;
    left = p->amount - p->refunded;
    return left > 0 ? left : 0;
}

enum payment_outcome payment_check_confirm(const struct payment *p, long long amount)
{
    if (p->status != PAYMENT_READY)
        return PAYMENT_NOT_READY;
    if (amount != p->amount)
        return PAYMENT_AMOUNT_MISMATCH;
    return PAYMENT_OK;
}

enum payment_outcome payment_complete(struct payment *p, int approved)
{
    if (p->status != PAYMENT_READY)
        return PAYMENT_NOT_READY;
    p->status = approved ? PAYMENT_APPROVED : PAYMENT_FAILED;
    return PAYMENT_OK;
}

enum payment_outcome payment_cancel(struct payment *p, long long *ret_refund)
{
    *ret_refund = 0;
    switch (p->status) {
    case PAYMENT_READY:
        p->status = PAYMENT_CANCELED;
        return PAYMENT_OK;
    case PAYMENT_APPROVED:
    case PAYMENT_PARTIAL_CANCELED:
        *ret_refund = payment_remaining(p);
        p->refunded += *ret_refund;
        p->status = PAYMENT_CANCELED;
        return PAYMENT_OK;
    case PAYMENT_FAILED:
    case PAYMENT_CANCELED:
        break;
    }
    return PAYMENT_NOOP;
}

enum payment_outcome payment_refund(struct payment *p, long long amount, long long *ret_refund)
{
    long long left = payment_remaining(p);

    *ret_refund = 0;
    if (amount <= 0)
        return PAYMENT_INVALID;
    if (!captured(p) || left == 0)
        return PAYMENT_NOOP;
    *ret_refund = amount < left ? amount : left;
    p->refunded += *ret_refund;
    p->status = p->refunded >= p->amount ? PAYMENT_CANCELED : PAYMENT_PARTIAL_CANCELED;
    return PAYMENT_OK;
}

void payment_pg_id(const char *seed, char *out, size_t outlen)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char digits[17];

    if (EVP_Digest(seed, strlen(seed), md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen < 8)
        memset(md, 0, 8);
    for (size_t i = 0; i < 8; i++) {
        digits[2 * i] = hex[md[i] >> 4];
        digits[2 * i + 1] = hex[md[i] & 0xf];
    }
    digits[16] = '\0';
    snprintf(out, outlen, "pg_%s", digits);
}

void payment_gateway_decide(const char *payment_key, long long timeout_ms,
                            struct payment_gateway_decision *ret)
{
    memset(ret, 0, sizeof(*ret));
    if (strncmp(payment_key, "fail_", 5) == 0) {
        const char *code = payment_key + 5;
        size_t o = strlen("DECLINED_");

        ret->result = PAYMENT_GATEWAY_DECLINED;
        memcpy(ret->reason, "DECLINED_", o);
        for (size_t i = 0; code[i] && i < 32; i++) {
            char ch = code[i];

            if (ch >= 'a' && ch <= 'z')
                ch = (char)(ch - 'a' + 'A');
            else if (!((ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9')))
                ch = '_';
            ret->reason[o++] = ch;
        }
        if (o == strlen("DECLINED_"))
            snprintf(ret->reason, sizeof(ret->reason), "DECLINED_UNKNOWN");
        else
            ret->reason[o] = '\0';
        return;
    }
    if (strncmp(payment_key, "slow_", 5) == 0) {
        ret->result = PAYMENT_GATEWAY_TIMEOUT;
        snprintf(ret->reason, sizeof(ret->reason), "GATEWAY_TIMEOUT");
        ret->delay_ms = timeout_ms + 100;
        if (ret->delay_ms > PAYMENT_SLOW_WAIT_CAP_MS)
            ret->delay_ms = PAYMENT_SLOW_WAIT_CAP_MS;
        return;
    }
    ret->result = PAYMENT_GATEWAY_APPROVED;
    payment_pg_id(payment_key, ret->pg_tx_id, sizeof(ret->pg_tx_id));
}
